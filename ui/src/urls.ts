// Which URLs the dashboard may load: its Content-Security-Policy (server/headers.py)
// allows images from this server and `data:` only.

/** Whether an `<img>` may load `src` under the dashboard's policy. */
export function loadableImage(src: string): boolean {
  if (src.startsWith("data:image/")) return true;
  try {
    return new URL(src, window.location.href).origin === window.location.origin;
  } catch {
    return false;
  }
}

/** An asset's page. Keys are URIs with slashes, so the key travels in the query string (as
 * the API takes it): the server answers any path under `/assets/` from the build's hashed
 * files (server/ui.py), so `/assets/<key>` could not be reloaded or shared. */
export function assetPath(key: string): string {
  return `/assets?key=${encodeURIComponent(key)}`;
}

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

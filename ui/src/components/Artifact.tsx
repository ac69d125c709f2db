// One artifact as people read it, by its type: markdown and links rendered (no raw HTML),
// tables sortable, progress as a bar, images inline, files as downloads, HTML in an
// iframe with an empty sandbox (no scripts, no same origin); anything else as JSON text.
import { memo, type MouseEvent, useEffect, useState } from "react";
import { type Artifact, requestBlob, storedApiKey } from "../api";
import { formatBytes, formatTime, relative } from "../format";
import { Link } from "../router";
import { loadableImage } from "../urls";
import { ArtifactTable } from "./ArtifactTable";
import { JsonView } from "./common";
import { Markdown } from "./Markdown";

export function contentPath(artifact: Artifact): string {
  return `/artifacts/${artifact.id}/content`;
}

function asText(data: unknown): string {
  if (typeof data === "string") return data;
  return data === null || data === undefined ? "" : JSON.stringify(data);
}

export function ArtifactBody(props: { artifact: Artifact }) {
  const { artifact } = props;
  switch (artifact.type) {
    case "markdown": return <Markdown text={asText(artifact.data)} testId="artifact-markdown" />;
    case "table": return <ArtifactTable data={artifact.data} />;
    case "link": return <LinkView data={artifact.data} />;
    case "progress": return <ProgressBar data={artifact.data} />;
    case "image": return <ImageView artifact={artifact} />;
    case "file": return <FileView artifact={artifact} />;
    case "html": return <HtmlView data={artifact.data} />;
    default: return <JsonView value={artifact.data} />;
  }
}

/** Prefect stores `[text](url)`, or the bare URL when there is no text. */
function LinkView(props: { data: unknown }) {
  const text = asText(props.data).trim();
  const bare = /^[a-z][a-z0-9+.-]*:[^\s<>]+$/i.test(text);
  return <Markdown text={bare ? `<${text}>` : text} testId="artifact-link" />;
}

function ProgressBar(props: { data: unknown }) {
  const value = typeof props.data === "string" ? Number(props.data) : props.data;
  if (typeof value !== "number" || !Number.isFinite(value)) return <JsonView value={props.data} />;
  const shown = Math.min(100, Math.max(0, value));
  const label = `${Number.isInteger(shown) ? shown : shown.toFixed(1)}%`;
  return (
    <div className="artifact-progress">
      <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={shown}
        aria-label="Progress" data-testid="artifact-progress">
        <div className={shown >= 100 ? "done" : undefined} style={{ width: `${shown}%` }} />
      </div>
      <span data-testid="progress-value">{label}</span>
    </div>
  );
}

/** The artifact's stored content as a URL `<img>` may load: the API path itself, or
 * (with an API key, which `<img>` cannot send) a `data:` URL of the fetched bytes. */
function useContentUrl(artifact: Artifact): { url: string | null; error: string | null } {
  const path = contentPath(artifact);
  const keyed = storedApiKey() !== null;
  const [url, setUrl] = useState<string | null>(keyed ? null : `/api${path}`);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!keyed) return;
    let cancelled = false;
    requestBlob(path)
      .then((blob) => new Promise<string>((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(String(reader.result));
        reader.onerror = () => reject(reader.error ?? new Error("could not read the image"));
        reader.readAsDataURL(blob);
      }))
      .then((dataUrl) => { if (!cancelled) setUrl(dataUrl); })
      .catch((caught: unknown) => { if (!cancelled) setError(caught instanceof Error ? caught.message : String(caught)); });
    return () => {
      cancelled = true;
    };
  }, [path, keyed]);
  return { url, error };
}

function StoredImage(props: { artifact: Artifact }) {
  const { url, error } = useContentUrl(props.artifact);
  const alt = props.artifact.description ?? props.artifact.metadata_?.filename ?? "image";
  if (error) return <div className="error" role="alert">Could not load the image: {error}</div>;
  if (!url) return <div className="empty">Loading…</div>;
  return <img className="artifact-image" src={url} alt={alt} data-testid="artifact-image" />;
}

function ImageView(props: { artifact: Artifact }) {
  const { artifact } = props;
  if (artifact.metadata_?.storage_key) return <StoredImage artifact={artifact} />;
  const url = asText(artifact.data).trim();
  if (!url) return <div className="empty">No image.</div>;
  if (loadableImage(url)) {
    return <img className="artifact-image" src={url} alt={artifact.description ?? "image"} data-testid="artifact-image" />;
  }
  // the dashboard's Content-Security-Policy loads images from this server only
  return (
    <div data-testid="artifact-image-link">
      <a href={url} target="_blank" rel="noopener noreferrer">{url}</a>
      <div className="muted">An image on another site: opened in a new tab, not loaded here.</div>
    </div>
  );
}

function FileView(props: { artifact: Artifact }) {
  const { artifact } = props;
  const meta = artifact.metadata_ ?? {};
  const path = contentPath(artifact);
  const filename = meta.filename || meta.storage_key?.split("/").pop() || "download";
  const size = meta.size !== undefined ? Number(meta.size) : NaN;
  const [error, setError] = useState<string | null>(null);
  if (!meta.storage_key) return <JsonView value={artifact.data} />;
  // a link cannot send the API key: with one set, fetch the file and save that
  const download = async (event: MouseEvent<HTMLAnchorElement>) => {
    if (storedApiKey() === null || event.button !== 0) return;
    event.preventDefault();
    setError(null);
    try {
      const blob = await requestBlob(path);
      const url = URL.createObjectURL(blob);
      const anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = filename;
      anchor.click();
      window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  };
  return (
    <div className="artifact-file">
      <a href={`/api${path}`} download={filename} onClick={download} data-testid="artifact-download">
        ⤓ {filename}
      </a>
      {Number.isFinite(size) ? <span className="muted">{formatBytes(size)}</span> : null}
      {meta.content_type ? <span className="muted">{meta.content_type}</span> : null}
      {error ? <div className="error" role="alert">Could not download: {error}</div> : null}
    </div>
  );
}

/** HTML in an iframe with an empty `sandbox`: an opaque origin, no scripts, no forms, no
 * popups; the page's Content-Security-Policy applies inside it too. */
function HtmlView(props: { data: unknown }) {
  return (
    <iframe className="artifact-html" sandbox="" srcDoc={asText(props.data)} title="HTML artifact"
      referrerPolicy="no-referrer" data-testid="artifact-html" />
  );
}

/** An artifact with its header: type, key (its page), when, which task; then its body. */
export const ArtifactCard = memo(function ArtifactCard(props: {
  artifact: Artifact;
  taskName?: string;
  showKey?: boolean;
  runLink?: boolean;
}) {
  const { artifact } = props;
  return (
    <article className="artifact" data-testid="artifact" data-artifact-id={artifact.id}
      data-artifact-type={artifact.type ?? ""} data-artifact-key={artifact.key ?? ""}>
      <header className="artifact-head">
        <span className="tag">{artifact.type ?? "unknown"}</span>
        {props.showKey !== false ? (artifact.key
          ? <Link to={artifactKeyPath(artifact.key)} className="artifact-key">{artifact.key}</Link>
          : <span className="muted">no key</span>) : null}
        {props.taskName ? <span className="muted">task {props.taskName}</span> : null}
        {props.runLink && artifact.flow_run_id ? <Link to={`/runs/${artifact.flow_run_id}`}>flow run</Link> : null}
        <span className="muted" title={formatTime(artifact.created)}>{relative(artifact.created)}</span>
      </header>
      {artifact.description ? <div className="artifact-description"><Markdown text={artifact.description} /></div> : null}
      <ArtifactBody artifact={artifact} />
    </article>
  );
}, (before, after) => before.taskName === after.taskName && before.showKey === after.showKey
  && before.runLink === after.runLink && sameArtifact(before.artifact, after.artifact));

/** Whether a polled artifact shows the same as before (data compared by value only when
 * it is text or a number: a table's JSON value re-renders). */
function sameArtifact(a: Artifact, b: Artifact): boolean {
  return a.id === b.id && a.updated === b.updated && a.data === b.data && a.description === b.description
    && a.key === b.key && a.type === b.type;
}

export function artifactKeyPath(key: string): string {
  return `/artifacts/key/${encodeURIComponent(key)}`;
}

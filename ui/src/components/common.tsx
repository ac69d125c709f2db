// Small building blocks every page uses.
import type { ReactNode } from "react";
import type { StateType } from "../api";
import { stateColor } from "../format";

export function StateBadge(props: { type: StateType | null; name?: string | null }) {
  const label = props.name ?? props.type ?? "No state";
  return (
    <span className="badge" data-state={props.type ?? "NONE"} style={{ background: stateColor(props.type) }}>
      {label}
    </span>
  );
}

export function ErrorNote(props: { error: Error | undefined | null }) {
  if (!props.error) return null;
  return <div className="error" role="alert">{props.error.message}</div>;
}

export function Empty(props: { children: ReactNode }) {
  return <div className="empty">{props.children}</div>;
}

/** What stands in for data the API has not answered: "Loading…", or "Could not load."
 * when the request failed (the page's ErrorNote says why). Never an empty list. */
export function Pending(props: { error: Error | undefined | null }) {
  return props.error
    ? <div className="empty" data-testid="load-failed">Could not load.</div>
    : <div className="empty" data-testid="loading">Loading…</div>;
}

/** A count as shown: "…" until it is known, "—" if loading it failed; never a made-up 0. */
export function countText(value: number | undefined, error?: Error | null): string {
  if (value !== undefined) return value.toLocaleString();
  return error ? "—" : "…";
}

export function Card(props: { title: ReactNode; children: ReactNode; actions?: ReactNode; testId?: string }) {
  return (
    <section className="card" data-testid={props.testId}>
      <header>
        <h2>{props.title}</h2>
        {props.actions ? <div className="actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}

/** JSON shown as text (React escapes it; never injected as HTML). */
export function JsonView(props: { value: unknown }) {
  return <pre className="json">{JSON.stringify(props.value, null, 2)}</pre>;
}

export function Tags(props: { tags: string[] }) {
  return (
    <span className="tags">
      {props.tags.map((tag) => (
        <span key={tag} className="tag">{tag}</span>
      ))}
    </span>
  );
}

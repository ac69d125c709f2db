// Artifacts: the latest version of each key (artifacts without a key are on their run's
// page only), and a key's page: its latest version rendered and its version history
// (each version shown on demand), with delete.
import { useState } from "react";
import { type Artifact, type ArtifactCollection, type ArtifactQuery, api, ApiError, type FlowRun } from "../api";
import { ArtifactBody, ArtifactCard, artifactKeyPath } from "../components/Artifact";
import { Card, countText, Empty, ErrorNote, Pending } from "../components/common";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate } from "../router";

const POLL_MS = 2000;
const RUN_NAMES_MS = 10_000;
const LIST_LIMIT = 200;
const VERSIONS_LIMIT = 100;
const TYPES = ["markdown", "table", "link", "progress", "image", "file", "html", "result"];

function firstLine(text: string | null): string {
  const line = (text ?? "").trim().split("\n")[0] ?? "";
  return line.length > 120 ? `${line.slice(0, 117)}…` : line;
}

/** The names of these flow runs, in one request (not one per row). */
export function useRunNames(ids: (string | null)[]): Map<string, string> {
  const unique = [...new Set(ids.filter((id): id is string => id !== null))].sort();
  const runs = usePoll(
    () => unique.length ? api.post<FlowRun[]>("/flow_runs/filter", { id: unique, limit: unique.length }) : Promise.resolve([]),
    [unique.join(",")], RUN_NAMES_MS,
  );
  return new Map((runs.data ?? []).map((run) => [run.id, run.name]));
}

export function RunLink(props: { id: string | null; names: Map<string, string> }) {
  if (!props.id) return <span className="muted">none</span>;
  return <Link to={`/runs/${props.id}`} className="artifact-run">{props.names.get(props.id) ?? props.id.slice(0, 8)}</Link>;
}

function noApi(error: Error | undefined): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}

export function ArtifactsPage() {
  const [search, setSearch] = useState("");
  const [type, setType] = useState("");
  const filter: ArtifactQuery = {
    artifacts: {
      ...(search.trim() ? { key: { like_: search.trim() } } : {}),
      ...(type ? { type: { any_: [type] } } : {}),
    },
  };
  const latest = usePoll(() => api.post<ArtifactCollection[]>("/artifacts/latest/filter", {
    ...filter, sort: "KEY_ASC", limit: LIST_LIMIT,
  }), [search, type], POLL_MS);
  const total = usePoll(() => api.post<number>("/artifacts/latest/count", filter), [search, type], POLL_MS);
  const runNames = useRunNames((latest.data ?? []).map((item) => item.flow_run_id));
  if (noApi(latest.error)) {
    return <div className="page"><h1>Artifacts</h1><Empty>This server has no artifacts API.</Empty></div>;
  }
  return (
    <div className="page">
      <h1>Artifacts</h1>
      <ErrorNote error={latest.error ?? total.error} />
      <Card title={<>Keys ({countText(total.data, total.error)})</>} testId="artifacts">
        <div className="filters">
          <input type="search" placeholder="Search by key" aria-label="Search artifact keys" value={search}
            onChange={(event) => setSearch(event.target.value)} />
          <select aria-label="Artifact type" value={type} onChange={(event) => setType(event.target.value)}>
            <option value="">all types</option>
            {TYPES.map((name) => <option key={name} value={name}>{name}</option>)}
          </select>
        </div>
        {latest.data === undefined ? <Pending error={latest.error} />
          : latest.data.length === 0 ? (
            <Empty>{search.trim() || type ? "No key matches." : <>No artifacts with a key yet: <code>create_markdown_artifact(..., key="my-report")</code> publishes one (artifacts without a key are on their run's page).</>}</Empty>
          ) : (
            <table data-testid="artifacts-table">
              <thead><tr><th>Key</th><th>Type</th><th>Description</th><th>Updated</th><th>Flow run</th></tr></thead>
              <tbody>
                {latest.data.map((item) => (
                  <tr key={item.key ?? item.latest_id} data-artifact-key={item.key ?? ""}>
                    <td>{item.key ? <Link to={artifactKeyPath(item.key)} className="artifact-key">{item.key}</Link> : null}</td>
                    <td><span className="tag">{item.type ?? "unknown"}</span></td>
                    <td className="artifact-summary" title={item.description ?? ""}>{firstLine(item.description)}</td>
                    <td className="nowrap" title={formatTime(item.updated)}>{relative(item.updated)}</td>
                    <td><RunLink id={item.flow_run_id} names={runNames} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        {latest.data && total.data !== undefined && total.data > latest.data.length
          ? <div className="muted">Showing the first {latest.data.length}: search by key to find the others.</div> : null}
      </Card>
    </div>
  );
}

export function ArtifactKeyPage(props: { artifactKey: string }) {
  const key = props.artifactKey;
  const versions = usePoll(
    () => api.get<Artifact[]>(`/artifacts/key/${encodeURIComponent(key)}/versions?limit=${VERSIONS_LIMIT}`), [key], POLL_MS,
  );
  const total = usePoll(() => api.post<number>("/artifacts/count", { artifacts: { key: { any_: [key] } } }), [key], POLL_MS);
  const runNames = useRunNames((versions.data ?? []).map((version) => version.flow_run_id));
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [confirming, setConfirming] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const crumbs = <div className="crumbs"><Link to="/artifacts">Artifacts</Link> / {key}</div>;
  const missing = versions.error instanceof ApiError && versions.error.status === 404;
  if ((versions.data !== undefined && versions.data.length === 0) || missing) {
    return <div className="page">{crumbs}<h1>{key}</h1><Empty>No artifact has the key {key}.</Empty></div>;
  }
  if (!versions.data) {
    return <div className="page">{crumbs}<h1>{key}</h1><ErrorNote error={versions.error} /><Pending error={versions.error} /></div>;
  }
  const [latest] = versions.data;
  const toggle = (id: string) => setOpen((current) => {
    const next = new Set(current);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  });
  const remove = async () => {
    setActionError(null);
    try {
      await api.delete(`/artifacts/key/${encodeURIComponent(key)}`);
      navigate("/artifacts");
    } catch (caught) {
      setActionError(caught instanceof Error ? caught.message : String(caught));
      setConfirming(false);
    }
  };
  return (
    <div className="page">
      <div className="run-header">
        <div>
          {crumbs}
          <h1 data-testid="artifact-key">{key}</h1>
        </div>
        <div className="run-actions">
          {confirming ? (
            <span className="confirm" role="group" aria-label="Confirm delete">
              Delete every version of {key}?
              <button className="danger" onClick={remove}>Yes, delete</button>
              <button onClick={() => setConfirming(false)}>No</button>
            </span>
          ) : <button className="danger" onClick={() => setConfirming(true)}>Delete</button>}
        </div>
      </div>
      <ErrorNote error={versions.error ?? total.error} />
      {actionError ? <div className="error" role="alert">{actionError}</div> : null}
      <Card title="Latest" testId="artifact-latest">
        <ArtifactCard artifact={latest} showKey={false} runLink />
      </Card>
      <Card title={<>Versions ({countText(total.data, total.error)})</>} testId="artifact-versions">
        <table className="artifact-versions">
          <thead><tr><th>Created</th><th>Type</th><th>Description</th><th>Flow run</th><th></th></tr></thead>
          <tbody>
            {versions.data.map((version, index) => {
              const shown = open.has(version.id);
              return [
                <tr key={version.id} data-testid="artifact-version" data-artifact-id={version.id}>
                  <td className="nowrap" title={formatTime(version.created)}>
                    {formatTime(version.created)}{index === 0 ? <> <span className="pill">latest</span></> : null}
                  </td>
                  <td><span className="tag">{version.type ?? "unknown"}</span></td>
                  <td className="artifact-summary">{firstLine(version.description)}</td>
                  <td><RunLink id={version.flow_run_id} names={runNames} /></td>
                  <td><div className="row-actions">
                    <button onClick={() => toggle(version.id)} aria-expanded={shown}>{shown ? "Hide" : "Show"}</button>
                  </div></td>
                </tr>,
                shown ? (
                  <tr key={`${version.id}-body`} className="version-body" data-testid="artifact-version-body">
                    <td colSpan={5}><ArtifactBody artifact={version} /></td>
                  </tr>
                ) : null,
              ];
            })}
          </tbody>
        </table>
        {total.data !== undefined && total.data > versions.data.length
          ? <div className="muted">Showing the newest {versions.data.length}.</div> : null}
      </Card>
    </div>
  );
}

// An asset's page: its properties, health and freshness, the latest materialization's
// metadata, its upstream and downstream assets, its materialization and check history
// with links to the runs, and Materialize (run the deployment whose flow last
// materialized it) and Delete.
import { useState } from "react";
import {
  api, ApiError, type AssetCheckResult, type AssetDetail, type AssetMaterialization,
  type AssetMaterializeRun, type FreshnessPolicy, type TaskRun,
} from "../api";
import { HealthBadge } from "../components/AssetHealth";
import { Card, Empty, ErrorNote, JsonView, Pending } from "../components/common";
import { Markdown } from "../components/Markdown";
import { formatDuration, formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate } from "../router";
import { assetPath } from "../urls";
import { RunLink, useRunNames } from "./Artifacts";
import { CheckCounts, FreshnessText, lineagePath, MaterializationStatus } from "./Assets";

const POLL_MS = 2000;
const NAMES_MS = 10_000;
/** What the detail answers: the latest 20 materializations and 50 check results. */
const DETAIL_MATERIALIZATIONS = 20;
const DETAIL_CHECKS = 50;
const MORE = 100;
const MOST = 1000; // the API's largest page

/** The asset's latest `limit` rows of a history: the detail's own when it holds that many,
 * else from the history's endpoint (`/assets/materializations` or `/assets/checks`). */
function useHistory<T>(key: string, path: string, limit: number, inDetail: number, fromDetail: T[] | undefined): T[] | undefined {
  const more = usePoll(
    () => limit > inDetail
      ? api.get<T[]>(`/assets/${path}?key=${encodeURIComponent(key)}&limit=${limit}`)
      : Promise.resolve(undefined),
    [key, path, limit], POLL_MS,
  );
  return limit > inDetail ? more.data ?? fromDetail : fromDetail;
}

function ShowMore(props: { shown: number; limit: number; onMore: () => void }) {
  if (props.shown < props.limit || props.limit >= MOST) return null; // all of them are shown
  return <div className="more"><button onClick={props.onMore}>Show more</button></div>;
}

/** A URL a link may open: http(s) only (never `javascript:` a user wrote). */
function safeHref(url: string): string | null {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

function describePolicy(policy: FreshnessPolicy): string {
  const parts: string[] = [];
  if (policy.within_seconds !== null) parts.push(`materialized within ${formatDuration(policy.within_seconds)}`);
  if (policy.warn_within_seconds !== null) parts.push(`a warning after ${formatDuration(policy.warn_within_seconds)}`);
  if (policy.cron) parts.push(`on the schedule ${policy.cron}${policy.timezone ? ` (${policy.timezone})` : ""}`);
  return parts.length ? `Expected ${parts.join(", ")}.` : "A policy with no limit.";
}

/** The names of these task runs, in one request. */
function useTaskRunNames(ids: (string | null)[]): Map<string, string> {
  const unique = [...new Set(ids.filter((id): id is string => id !== null))].sort();
  const runs = usePoll(
    () => unique.length ? api.post<TaskRun[]>("/task_runs/filter", { id: unique, limit: unique.length }) : Promise.resolve([]),
    [unique.join(",")], NAMES_MS,
  );
  return new Map((runs.data ?? []).map((run) => [run.id, run.name]));
}

function KeyList(props: { keys: string[]; testId: string; none: string }) {
  if (props.keys.length === 0) return <Empty>{props.none}</Empty>;
  return (
    <ul className="plain asset-links" data-testid={props.testId}>
      {props.keys.map((key) => <li key={key}><Link to={assetPath(key)}>{key}</Link></li>)}
    </ul>
  );
}

export function AssetPage(props: { assetKey: string }) {
  const key = props.assetKey;
  const detail = usePoll(() => api.get<AssetDetail>(`/assets/detail?key=${encodeURIComponent(key)}`), [key], POLL_MS);
  const history = detail.data;
  const [materializationLimit, setMaterializationLimit] = useState(DETAIL_MATERIALIZATIONS);
  const [checkLimit, setCheckLimit] = useState(DETAIL_CHECKS);
  const materializations = useHistory<AssetMaterialization>(
    key, "materializations", materializationLimit, DETAIL_MATERIALIZATIONS, history?.materializations,
  );
  const checks = useHistory<AssetCheckResult>(key, "checks", checkLimit, DETAIL_CHECKS, history?.checks);
  const runNames = useRunNames([
    ...(materializations ?? []).map((row) => row.flow_run_id),
    ...(checks ?? []).map((row) => row.flow_run_id),
  ]);
  const taskNames = useTaskRunNames((materializations ?? []).map((row) => row.task_run_id));
  const [confirming, setConfirming] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const [started, setStarted] = useState<AssetMaterializeRun | null>(null);
  const [busy, setBusy] = useState(false);
  const crumbs = <div className="crumbs"><Link to="/assets">Assets</Link> / {key}</div>;
  if (detail.error instanceof ApiError && detail.error.status === 404 && !history) {
    return <div className="page">{crumbs}<h1>{key}</h1><Empty>No asset has the key {key}.</Empty></div>;
  }
  if (!history) {
    return <div className="page">{crumbs}<h1>{key}</h1><ErrorNote error={detail.error} /><Pending error={detail.error} /></div>;
  }
  const asset = history.asset;
  const href = asset.url ? safeHref(asset.url) : null;
  const materialize = async () => {
    setActionError(null);
    setStarted(null);
    setBusy(true);
    try {
      setStarted(await api.post<AssetMaterializeRun>(`/assets/materialize?key=${encodeURIComponent(key)}`));
    } catch (caught) {
      setActionError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setActionError(null);
    try {
      await api.delete(`/assets?key=${encodeURIComponent(key)}`);
      navigate("/assets");
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
          <h1 data-testid="asset-name">{asset.name || key}</h1>
          <div className="meta">
            <span data-testid="asset-health"><HealthBadge health={asset.health} /></span>
            {asset.name ? <code data-testid="asset-key">{key}</code> : null}
            <span>last materialized {relative(asset.last_materialized)}</span>
            <Link to={lineagePath(key)}>Show in lineage</Link>
          </div>
        </div>
        <div className="run-actions">
          <button onClick={materialize} disabled={busy}>Materialize</button>
          {confirming ? (
            <span className="confirm" role="group" aria-label="Confirm delete">
              Delete {key} and its history?
              <button className="danger" onClick={remove}>Yes, delete</button>
              <button onClick={() => setConfirming(false)}>No</button>
            </span>
          ) : <button className="danger" onClick={() => setConfirming(true)}>Delete</button>}
          {started ? (
            <div className="notice" role="status" data-testid="materialize-started">
              Started <Link to={`/runs/${started.flow_run_id}`}>a run</Link> of its <Link to={`/deployments/${started.deployment_id}`}>deployment</Link>.
            </div>
          ) : null}
          {actionError ? <div className="error" role="alert" data-testid="asset-action-error">{actionError}</div> : null}
        </div>
      </div>
      <ErrorNote error={detail.error} />
      <div className="grid two">
        <Card title="Properties" testId="asset-properties">
          <table className="labels">
            <tbody>
              <tr><th>Key</th><td>{key}</td></tr>
              <tr><th>Name</th><td>{asset.name ?? <span className="muted">—</span>}</td></tr>
              <tr>
                <th>URL</th>
                <td data-testid="asset-url">
                  {!asset.url ? <span className="muted">—</span>
                    : href ? <a href={href} target="_blank" rel="noopener noreferrer">{asset.url}</a> : asset.url}
                </td>
              </tr>
              <tr><th>Owners</th><td data-testid="asset-owners">{asset.owners.length ? asset.owners.join(", ") : <span className="muted">—</span>}</td></tr>
              <tr><th>Materialized by</th><td>{asset.materialized_by ?? <span className="muted">—</span>}</td></tr>
            </tbody>
          </table>
          {asset.description ? <Markdown text={asset.description} testId="asset-description" /> : null}
        </Card>
        <Card title="Health" testId="asset-status">
          <table className="labels">
            <tbody>
              <tr><th>Health</th><td><HealthBadge health={asset.health} /></td></tr>
              <tr>
                <th>Last materialization</th>
                <td>
                  {asset.last_materialized ? <>{formatTime(asset.last_materialized)} <MaterializationStatus status={asset.last_status} /></>
                    : <span className="muted">never</span>}
                </td>
              </tr>
              <tr><th>Its checks</th><td><CheckCounts checks={asset.checks} /></td></tr>
              <tr><th>Freshness</th><td data-testid="asset-freshness"><FreshnessText asset={asset} /></td></tr>
            </tbody>
          </table>
          <p className="muted" data-testid="freshness-policy">
            {!asset.freshness ? "No freshness policy: Asset(..., freshness=Freshness(within=...)) sets one."
              : <>{describePolicy(asset.freshness)}{" "}
                {asset.freshness_status ? null
                  : "No server has evaluated it yet: freshness is evaluated by a running server (vibepiper server start, or serve())."}
              </>}
          </p>
        </Card>
      </div>
      <div className="grid two">
        <Card title={`Upstream (${history.upstream.length})`} testId="asset-upstream">
          <KeyList keys={history.upstream} testId="upstream-assets" none="Nothing upstream." />
        </Card>
        <Card title={`Downstream (${history.downstream.length})`} testId="asset-downstream">
          <KeyList keys={history.downstream} testId="downstream-assets" none="Nothing downstream." />
        </Card>
      </div>
      <Card title="Latest metadata" testId="asset-metadata">
        {Object.keys(asset.metadata ?? {}).length ? <JsonView value={asset.metadata} />
          : <Empty>No metadata: add_asset_metadata(asset, {"{...}"}) in the task records some.</Empty>}
      </Card>
      <Card title="Materializations" testId="asset-materializations">
        <Materializations rows={materializations ?? []} runNames={runNames} taskNames={taskNames} />
        <ShowMore shown={(materializations ?? []).length} limit={materializationLimit}
          onMore={() => setMaterializationLimit((limit) => Math.min(limit + MORE, MOST))} />
      </Card>
      <Card title="Checks" testId="asset-checks">
        <Checks rows={checks ?? []} runNames={runNames} />
        <ShowMore shown={(checks ?? []).length} limit={checkLimit} onMore={() => setCheckLimit((limit) => Math.min(limit + MORE, MOST))} />
      </Card>
    </div>
  );
}

function Materializations(props: {
  rows: AssetMaterialization[]; runNames: Map<string, string>; taskNames: Map<string, string>;
}) {
  if (props.rows.length === 0) return <Empty>Never materialized.</Empty>;
  return (
    <table data-testid="materializations-table">
      <thead><tr><th>Time</th><th>Status</th><th>Flow run</th><th>Task run</th><th>By</th><th>Error</th></tr></thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={row.id} data-testid="materialization" data-status={row.status}>
            <td className="nowrap" title={relative(row.occurred)}>{formatTime(row.occurred)}</td>
            <td><MaterializationStatus status={row.status} /></td>
            <td><RunLink id={row.flow_run_id} names={props.runNames} />{row.flow_name ? <span className="muted"> {row.flow_name}</span> : null}</td>
            <td>
              {row.task_run_id
                ? <span title={row.task_run_id}>{props.taskNames.get(row.task_run_id) ?? row.task_run_id.slice(0, 8)}</span>
                : <span className="muted">—</span>}
            </td>
            <td>{row.by ?? <span className="muted">—</span>}</td>
            <td className="asset-error">{row.error ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Checks(props: { rows: AssetCheckResult[]; runNames: Map<string, string> }) {
  if (props.rows.length === 0) return <Empty>No check results: @check(asset) adds a data-quality check.</Empty>;
  return (
    <table data-testid="checks-table">
      <thead><tr><th>Time</th><th>Check</th><th>Result</th><th>Severity</th><th>Blocking</th><th>Description</th><th>Flow run</th></tr></thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={row.id} data-testid="check-result" data-check={row.check} data-passed={String(row.passed)}>
            <td className="nowrap" title={relative(row.occurred)}>{formatTime(row.occurred)}</td>
            <td>{row.check}</td>
            <td>{row.passed ? <span className="pill">passed</span> : <span className={row.severity === "warn" ? "pill warned" : "pill failed"}>failed</span>}</td>
            <td>{row.severity}</td>
            <td>{row.blocking ? "yes" : "no"}</td>
            <td>{row.description ?? ""}</td>
            <td><RunLink id={row.flow_run_id} names={props.runNames} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

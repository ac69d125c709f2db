// Assets: the catalogue (every asset with its health, latest materialization, check results
// and freshness; searched and paged on the server) and the global lineage graph. The
// URL's query string holds the view, the search and the page.
import { lazy, Suspense, useEffect, useState } from "react";
import { api, ApiError, type Asset, type AssetLineage, type AssetQuery } from "../api";
import { HEALTH_COLORS, HealthBadge } from "../components/AssetHealth";
import { Card, countText, Empty, ErrorNote, Pending } from "../components/common";
import { Pager } from "../components/Pager";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { assetPath } from "../urls";

const loadLineageGraph = () => import("../components/LineageGraph");
const LineageGraph = lazy(loadLineageGraph);

export const ASSETS_PAGE_SIZE = 50;
const POLL_MS = 2000;
const LINEAGE_POLL_MS = 15_000;
const LINEAGE_LIMIT = 5000;

export function noAssetsApi(error: Error | undefined): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}

/** "3 ✓ 1 ✗ 0 !" as words a screen reader says too. */
export function CheckCounts(props: { checks: Asset["checks"] }) {
  const { passed, failed, warned } = props.checks;
  if (passed + failed + warned === 0) return <span className="muted">none</span>;
  return (
    <span className="check-counts" data-testid="check-counts">
      <span className="check-passed" title="passed">{passed} passed</span>
      {failed ? <span className="check-failed" title="failed">{failed} failed</span> : null}
      {warned ? <span className="check-warned" title="warned">{warned} warned</span> : null}
    </span>
  );
}

export function FreshnessText(props: { asset: Asset }) {
  const { freshness, freshness_status: status } = props.asset;
  if (!freshness) return <span className="muted">no policy</span>;
  if (!status) return <span className="muted" title="Freshness is evaluated by a running server">not evaluated</span>;
  return <span className={`freshness freshness-${status}`} data-freshness={status}>{status}</span>;
}

export function MaterializationStatus(props: { status: string | null }) {
  if (!props.status) return null;
  return <span className={props.status === "failed" ? "pill failed" : "pill"}>{props.status}</span>;
}

export function AssetsPage() {
  const { query } = useLocation();
  const view = query.get("view") === "lineage" ? "lineage" : "catalogue";
  const setView = (next: string) => navigate(next === "lineage" ? "/assets?view=lineage" : "/assets", true);
  return (
    <div className="page">
      <h1>Assets</h1>
      <div className="tabs" role="tablist" aria-label="Asset views">
        <button role="tab" aria-selected={view === "catalogue"} onClick={() => setView("catalogue")}>Catalogue</button>
        <button role="tab" aria-selected={view === "lineage"} data-testid="lineage-tab" onClick={() => setView("lineage")}>
          Lineage
        </button>
      </div>
      {view === "lineage" ? <Lineage focus={query.get("focus")} /> : <Catalogue query={query} />}
    </div>
  );
}

function Catalogue(props: { query: URLSearchParams }) {
  const search = props.query.get("q") ?? "";
  const page = Math.max(1, Number(props.query.get("page") ?? "1") || 1);
  const [text, setText] = useState(search);
  useEffect(() => setText(search), [search]); // back and forward restore the search
  const filter: AssetQuery = { search: search.trim() || null };
  const assets = usePoll(() => api.post<Asset[]>("/assets/filter", {
    ...filter, limit: ASSETS_PAGE_SIZE, offset: (page - 1) * ASSETS_PAGE_SIZE,
  }), [search, page], POLL_MS);
  const total = usePoll(() => api.post<number>("/assets/count", filter), [search], POLL_MS);
  const go = (nextSearch: string, nextPage: number) => {
    const next = new URLSearchParams();
    if (nextSearch) next.set("q", nextSearch);
    if (nextPage > 1) next.set("page", String(nextPage));
    const qs = next.toString();
    navigate(`/assets${qs ? `?${qs}` : ""}`, true);
  };
  if (noAssetsApi(assets.error)) return <Empty>This server has no assets API.</Empty>;
  return (
    <>
      <ErrorNote error={assets.error ?? total.error} />
      <Card title={<>Catalogue ({countText(total.data, total.error)})</>} testId="assets">
        <div className="filters">
          <input type="search" placeholder="Search by key or name" aria-label="Search assets" value={text}
            onChange={(event) => {
              setText(event.target.value);
              go(event.target.value, 1);
            }} />
        </div>
        {assets.data === undefined ? <Pending error={assets.error} />
          : assets.data.length === 0 ? (
            <Empty>{page > 1 ? "Nothing on this page." : search.trim() ? "No asset matches." : <>No assets yet: a task decorated with <code>@materialize("s3://bucket/key.csv")</code> records one when it runs.</>}</Empty>
          ) : (
            <table data-testid="assets-table">
              <thead>
                <tr><th>Key</th><th>Name</th><th>Health</th><th>Last materialization</th><th>Checks</th><th>Freshness</th><th>Last flow</th></tr>
              </thead>
              <tbody>
                {assets.data.map((asset) => (
                  <tr key={asset.key} data-asset-key={asset.key}>
                    <td className="asset-key"><Link to={assetPath(asset.key)}>{asset.key}</Link></td>
                    <td>{asset.name ?? <span className="muted">—</span>}</td>
                    <td><HealthBadge health={asset.health} /></td>
                    <td className="nowrap" title={formatTime(asset.last_materialized)}>
                      {asset.last_materialized ? <>{relative(asset.last_materialized)} <MaterializationStatus status={asset.last_status} /></>
                        : <span className="muted">never</span>}
                    </td>
                    <td><CheckCounts checks={asset.checks} /></td>
                    <td><FreshnessText asset={asset} /></td>
                    <td>
                      {asset.last_flow_run_id
                        ? <Link to={`/runs/${asset.last_flow_run_id}`}>{asset.last_flow_name ?? asset.last_flow_run_id.slice(0, 8)}</Link>
                        : <span className="muted">{asset.last_flow_name ?? "—"}</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        <Pager page={page} pageSize={ASSETS_PAGE_SIZE} total={total.data} noun="assets" onPage={(next) => go(search, next)} />
      </Card>
    </>
  );
}

/** The lineage view, centred on `focus` (an asset key) when given. */
export function lineagePath(focus?: string): string {
  return `/assets?view=lineage${focus ? `&focus=${encodeURIComponent(focus)}` : ""}`;
}

function Lineage(props: { focus: string | null }) {
  // fetch the graph's code (and dagre) while the data loads, not after
  useEffect(() => void loadLineageGraph(), []);
  const lineage = usePoll(() => api.get<AssetLineage>(`/assets/lineage?limit=${LINEAGE_LIMIT}`), [], LINEAGE_POLL_MS);
  if (noAssetsApi(lineage.error)) return <Empty>This server has no assets API.</Empty>;
  return (
    <>
      <ErrorNote error={lineage.error} />
      <Card title="Lineage" testId="lineage">
        {lineage.data === undefined ? <Pending error={lineage.error} />
          : lineage.data.nodes.length === 0 ? <Empty>No assets yet.</Empty> : (
            <Suspense fallback={<div className="empty" data-testid="loading">Loading…</div>}>
              <LineageGraph lineage={lineage.data} focus={props.focus}
                onFind={(key) => navigate(lineagePath(key), true)} />
            </Suspense>
          )}
        {lineage.data && lineage.data.nodes.length >= LINEAGE_LIMIT
          ? <div className="muted">Showing the first {LINEAGE_LIMIT.toLocaleString()} assets.</div> : null}
        <div className="legend lineage-legend">
          <span>Upstream on the left, downstream on the right.</span>
          {Object.entries(HEALTH_COLORS).map(([health, color]) => (
            <span key={health}><i style={{ background: color }} />{health}</span>
          ))}
        </div>
      </Card>
    </>
  );
}

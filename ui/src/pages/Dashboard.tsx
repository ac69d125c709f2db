// The Dashboard: runs by state over time, recent failures, late runs.
import { useState } from "react";
import { api, type FlowRun, type HistoryBucket } from "../api";
import { Card, Empty, ErrorNote } from "../components/common";
import { HistoryChart } from "../components/HistoryChart";
import { RunTable } from "../components/RunTable";
import { usePoll } from "../hooks";
import { Link } from "../router";

const WINDOWS: Record<string, [number, number]> = {
  "1h": [3600, 30], "24h": [86400, 48], "7d": [7 * 86400, 56],
};

export function DashboardPage() {
  const [window_, setWindow] = useState("24h");
  const [span, buckets] = WINDOWS[window_];
  const history = usePoll(() => {
    const until = new Date(Date.now() + 1000);
    const since = new Date(until.getTime() - span * 1000);
    return api.post<HistoryBucket[]>("/ui/flow_runs/history", {
      since: since.toISOString(), until: until.toISOString(), buckets, root_only: true,
    });
  }, [window_], 2000);
  const failures = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", {
    state_type: ["FAILED", "CRASHED"], sort: "CREATED_DESC", limit: 10,
  }), [], 2000);
  const late = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", {
    state_name: ["Late"], sort: "CREATED_DESC", limit: 10,
  }), [], 2000);
  const totals: Record<string, number> = {};
  for (const bucket of history.data ?? []) {
    for (const [state, count] of Object.entries(bucket.counts)) totals[state] = (totals[state] ?? 0) + count;
  }
  const all = Object.values(totals).reduce((sum, n) => sum + n, 0);
  return (
    <div className="page">
      <h1>Dashboard</h1>
      <ErrorNote error={history.error ?? failures.error ?? late.error} />
      <div className="stats">
        <Stat label={`Runs (${window_})`} value={all} to="/runs" />
        <Stat label="Completed" value={totals.COMPLETED ?? 0} to="/runs?state=COMPLETED" />
        <Stat label="Failed" value={(totals.FAILED ?? 0) + (totals.CRASHED ?? 0)} to="/runs?state=FAILED,CRASHED" />
        <Stat label="Running" value={totals.RUNNING ?? 0} to="/runs?state=RUNNING" />
        <Stat label="Scheduled" value={totals.SCHEDULED ?? 0} to="/runs?state=SCHEDULED" />
      </div>
      <Card title="Flow runs by state" testId="history"
        actions={Object.keys(WINDOWS).map((key) => (
          <button key={key} className={key === window_ ? "chip on" : "chip"} onClick={() => setWindow(key)}>{key}</button>
        ))}>
        {history.data ? <HistoryChart buckets={history.data} /> : <Empty>Loading…</Empty>}
      </Card>
      <div className="grid two">
        <Card title="Recent failures" testId="recent-failures">
          {failures.data === undefined ? <Empty>Loading…</Empty>
            : failures.data.length === 0 ? <Empty>No failed runs.</Empty>
            : <RunTable runs={failures.data} testId="failures-table" />}
        </Card>
        <Card title="Late runs" testId="late-runs">
          {late.data === undefined ? <Empty>Loading…</Empty>
            : late.data.length === 0 ? <Empty>No late runs.</Empty>
            : <RunTable runs={late.data} showExpected testId="late-table" />}
        </Card>
      </div>
    </div>
  );
}

function Stat(props: { label: string; value: number; to: string }) {
  return (
    <Link to={props.to} className="stat">
      <span className="stat-value">{props.value.toLocaleString()}</span>
      <span className="stat-label">{props.label}</span>
    </Link>
  );
}

// The Dashboard: runs by state over time, recent failures, late runs; reloaded on each
// flow run state change (see live.ts).
import { useState } from "react";
import { api, type FlowRun, type HistoryBucket } from "../api";
import { Card, countText, Empty, ErrorNote, Pending } from "../components/common";
import { HistoryChart } from "../components/HistoryChart";
import { RunTable } from "../components/RunTable";
import { usePoll } from "../hooks";
import { FLOW_RUN_EVENTS } from "../live";
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
  }, [window_], 2000, FLOW_RUN_EVENTS);
  const failures = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", {
    state_type: ["FAILED", "CRASHED"], sort: "CREATED_DESC", limit: 10,
  }), [], 2000, FLOW_RUN_EVENTS);
  const late = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", {
    state_name: ["Late"], sort: "CREATED_DESC", limit: 10,
  }), [], 2000, FLOW_RUN_EVENTS);
  // The counts exist only once the history has answered: until then each shows "…".
  const totals = history.data === undefined ? undefined : totalsByState(history.data);
  const count = (...states: string[]) =>
    totals === undefined ? undefined : states.reduce((sum, state) => sum + (totals[state] ?? 0), 0);
  const all = totals === undefined ? undefined : Object.values(totals).reduce((sum, n) => sum + n, 0);
  return (
    <div className="page">
      <h1>Dashboard</h1>
      <ErrorNote error={history.error ?? failures.error ?? late.error} />
      <div className="stats" data-testid="stats">
        <Stat label={`Runs (${window_})`} value={countText(all, history.error)} to="/runs" />
        <Stat label="Completed" value={countText(count("COMPLETED"), history.error)} to="/runs?state=COMPLETED" />
        <Stat label="Failed" value={countText(count("FAILED", "CRASHED"), history.error)} to="/runs?state=FAILED,CRASHED" />
        <Stat label="Running" value={countText(count("RUNNING"), history.error)} to="/runs?state=RUNNING" />
        <Stat label="Scheduled" value={countText(count("SCHEDULED"), history.error)} to="/runs?state=SCHEDULED" />
      </div>
      <Card title="Flow runs by state" testId="history"
        actions={Object.keys(WINDOWS).map((key) => (
          <button key={key} className={key === window_ ? "chip on" : "chip"} onClick={() => setWindow(key)}>{key}</button>
        ))}>
        {history.data ? <HistoryChart buckets={history.data} /> : <Pending error={history.error} />}
      </Card>
      <div className="grid two">
        <Card title="Recent failures" testId="recent-failures">
          {failures.data === undefined ? <Pending error={failures.error} />
            : failures.data.length === 0 ? <Empty>No failed runs.</Empty>
            : <RunTable runs={failures.data} testId="failures-table" />}
        </Card>
        <Card title="Late runs" testId="late-runs">
          {late.data === undefined ? <Pending error={late.error} />
            : late.data.length === 0 ? <Empty>No late runs.</Empty>
            : <RunTable runs={late.data} showExpected testId="late-table" />}
        </Card>
      </div>
    </div>
  );
}

function totalsByState(buckets: HistoryBucket[]): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const bucket of buckets) {
    for (const [state, count] of Object.entries(bucket.counts)) totals[state] = (totals[state] ?? 0) + count;
  }
  return totals;
}

function Stat(props: { label: string; value: string; to: string }) {
  return (
    <Link to={props.to} className="stat">
      <span className="stat-value">{props.value}</span>
      <span className="stat-label">{props.label}</span>
    </Link>
  );
}

// One flow run: state and duration, parameters, task graph, timeline, live logs, state
// history, and the Retry / Cancel buttons; when paused, what it waits for and the Resume
// form; its artifacts on a second tab (`?tab=artifacts`).
// Live from the event stream: each state change of the run or its task runs reloads what
// it touches (see live.ts); while the stream is down it polls every second instead.
import { useEffect, useMemo, useRef, useState } from "react";
import {
  api, ApiError, type FlowRun, type FlowRunGraph, type LogLine, type StateRead, type TaskRun,
} from "../api";
import { Card, countText, Empty, ErrorNote, JsonView, Pending, StateBadge, Tags } from "../components/common";
import { PausedRun } from "../components/ResumeForm";
import { RunArtifacts, useRunArtifactCount } from "../components/RunArtifacts";
import { TaskGraph } from "../components/TaskGraph";
import { Timeline } from "../components/Timeline";
import { durationOf, formatDuration, formatTime, LEVEL_NAMES } from "../format";
import { eventsOfResource } from "../events";
import { COALESCE_MS, useClock, usePoll } from "../hooks";
import { flowRunEvents, type StreamStatus, useLive } from "../live";
import { Link, navigate, useLocation } from "../router";

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]);

/** A deployment run's own job variables (laid over its deployment's), read once: they
 * are fixed when the run is created. */
function RunJobVariables(props: { runId: string }) {
  const own = usePoll(
    () => api.get<Record<string, unknown>>(`/flow_runs/${props.runId}/job_variables`), [props.runId], null,
  );
  if (own.data === undefined) return <Pending error={own.error} />;
  const text = Object.keys(own.data).length ? JSON.stringify(own.data) : "none (the deployment's)";
  return <code data-testid="run-job-variables">{text}</code>;
}

export function FlowRunPage(props: { id: string }) {
  const { id } = props;
  const [live, setLive] = useState(true);
  const interval = live ? 1000 : 5000;
  const stream = useMemo(() => flowRunEvents(id), [id]);
  const run = usePoll(() => api.get<FlowRun>(`/flow_runs/${id}`), [id], interval, stream);
  const graph = usePoll(() => api.get<FlowRunGraph>(`/flow_runs/${id}/graph`), [id], interval, stream);
  const states = usePoll(() => api.get<StateRead[]>(`/flow_runs/${id}/states`), [id], interval, stream);
  const artifactCount = useRunArtifactCount(id, interval);
  const streamStatus = useLive(stream, () => undefined);
  const tab = useLocation().query.get("tab") === "artifacts" ? "artifacts" : "overview";
  const state = run.data?.state_type;
  useEffect(() => setLive(!state || !FINAL.has(state)), [state]);
  useClock(live ? 1000 : null); // the duration and the timeline's running bars grow

  if (run.error && !run.data) {
    return <div className="page"><h1>Flow run</h1><ErrorNote error={run.error} /></div>;
  }
  if (!run.data) return <div className="page"><Pending error={run.error} /></div>;
  const flowRun = run.data;
  const taskNames = new Map((graph.data?.nodes ?? []).map((node) => [node.id, node.name]));
  return (
    <div className="page">
      <div className="run-header">
        <div>
          <div className="crumbs"><Link to="/runs">Runs</Link> / {flowRun.flow_name ?? "flow"}</div>
          <h1 data-testid="run-name">{flowRun.name}</h1>
          <div className="meta">
            <StateBadge type={flowRun.state_type} name={flowRun.state_name} />
            <span data-testid="run-duration">
              {formatDuration(durationOf(flowRun.start_time, flowRun.end_time, flowRun.state_type === "RUNNING"))}
            </span>
            <span>started {formatTime(flowRun.start_time)}</span>
            {flowRun.end_time ? <span>ended {formatTime(flowRun.end_time)}</span> : null}
            <Tags tags={flowRun.tags} />
            {live ? <LiveMark status={streamStatus} /> : null}
          </div>
          {flowRun.state?.message ? <div className="state-message">{flowRun.state.message}</div> : null}
          <ParentLink run={flowRun} />
        </div>
        <RunActions run={flowRun} onChange={run.refresh} />
      </div>
      <ErrorNote error={run.error ?? graph.error ?? states.error} />
      {flowRun.state_type === "PAUSED" ? <PausedRun run={flowRun} history={states.data} onResumed={() => { run.refresh(); states.refresh(); }} /> : null}
      <div className="tabs" role="tablist" aria-label="Run views">
        <button role="tab" aria-selected={tab === "overview"} onClick={() => navigate(`/runs/${id}`, true)}>
          Overview
        </button>
        <button role="tab" aria-selected={tab === "artifacts"} data-testid="artifacts-tab"
          onClick={() => navigate(`/runs/${id}?tab=artifacts`, true)}>
          Artifacts{artifactCount.data !== undefined ? ` (${countText(artifactCount.data)})` : ""}
        </button>
      </div>
      {tab === "artifacts" ? (
        <RunArtifacts runId={id} interval={interval} taskNames={taskNames} total={artifactCount} />
      ) : (
        <>
          <div className="grid two">
            <Card title="Parameters"><JsonView value={flowRun.parameters} /></Card>
            <Card title="Details">
              <dl className="details">
                <dt>Run id</dt><dd><code>{flowRun.id}</code></dd>
                <dt>Flow</dt><dd>{flowRun.flow_name}</dd>
                <dt>Deployment</dt>
                <dd>{flowRun.deployment_id ? <Link to={`/deployments/${flowRun.deployment_id}`}>{flowRun.deployment_id}</Link> : "—"}</dd>
                {flowRun.deployment_id ? (
                  <><dt>Job variables</dt><dd><RunJobVariables runId={flowRun.id} /></dd></>
                ) : null}
                <dt>Work pool</dt><dd>{flowRun.work_pool_name ?? "—"}</dd>
                <dt>Worker</dt><dd>{flowRun.worker_name ?? "—"}</dd>
                <dt>Run count</dt><dd>{flowRun.run_count}</dd>
                <dt>Entrypoint</dt><dd>{flowRun.entrypoint ?? "—"}</dd>
                <dt>Created</dt><dd>{formatTime(flowRun.created)}</dd>
                <dt>Events</dt>
                <dd>
                  <Link to={eventsOfResource(`vibepiper.flow-run.${flowRun.id}`, flowRun.created)} className="run-events-link">
                    this run's events
                  </Link>
                </dd>
              </dl>
            </Card>
          </div>
          <Card title={`Task graph (${countText(graph.data?.nodes.length, graph.error)} task runs)`} testId="graph-card">
            {graph.data ? <TaskGraph graph={graph.data} /> : <Pending error={graph.error} />}
          </Card>
          <Card title="Timeline">
            {graph.data ? <Timeline nodes={graph.data.nodes} now={Date.now()} /> : <Pending error={graph.error} />}
          </Card>
          <Card title="Logs" testId="logs-card">
            <Logs runId={id} live={live} taskNames={taskNames} />
          </Card>
          <Card title="State history">
            {states.data === undefined ? <Pending error={states.error} /> : (
              <table className="states" data-testid="state-history">
                <thead><tr><th>Time</th><th>State</th><th>Message</th></tr></thead>
                <tbody>
                  {states.data.map((item) => (
                    <tr key={item.id}>
                      <td>{formatTime(item.timestamp)}</td>
                      <td><StateBadge type={item.type} name={item.name} /></td>
                      <td>{item.message ?? ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Card>
        </>
      )}
    </div>
  );
}

const LIVE_TITLES: Record<StreamStatus, string> = {
  open: "updates as the run's events arrive",
  busy: "many events: updates as they arrive and every second",
  connecting: "updates every second until the event stream is up",
  down: "the event stream is unavailable: updates every second",
};

function LiveMark(props: { status: StreamStatus }) {
  return (
    <span className="live" data-testid="live-mark" data-stream={props.status} title={LIVE_TITLES[props.status]}>
      ● live{props.status === "open" ? "" : " (polling)"}
    </span>
  );
}

function ParentLink(props: { run: FlowRun }) {
  const parent = props.run.parent_task_run_id;
  const task = usePoll(
    () => (parent ? api.get<TaskRun>(`/task_runs/${parent}`) : Promise.resolve(null)), [parent], null,
  );
  if (!parent || !task.data?.flow_run_id) return null;
  return <div className="crumbs">subflow of <Link to={`/runs/${task.data.flow_run_id}`}>parent run</Link></div>;
}

function RunActions(props: { run: FlowRun; onChange: () => void }) {
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const final = props.run.state_type !== null && FINAL.has(props.run.state_type);
  const act = async (action: "cancel" | "retry") => {
    setBusy(true);
    setMessage(null);
    try {
      if (action === "cancel") {
        const result = await api.post<{ status: string }>(`/flow_runs/${props.run.id}/cancel`);
        setMessage(result?.status === "ALREADY_FINAL" ? "The run had finished already." : null);
      } else {
        await api.post(`/ui/flow_runs/${props.run.id}/retry`);
      }
      props.onChange();
    } catch (caught) {
      if (caught instanceof ApiError && action === "cancel" && (caught.status === 404 || caught.status === 405)
        && typeof caught.detail === "string" && !caught.detail.includes("flow run")) {
        setMessage("This server cannot cancel runs (no /cancel endpoint).");
      } else {
        setMessage(caught instanceof Error ? caught.message : String(caught));
      }
    } finally {
      setBusy(false);
    }
  };
  const command = message?.match(/vibepiper flow-run retry \S+/)?.[0];
  return (
    <div className="run-actions">
      <button onClick={() => act("retry")} disabled={busy || !final} title="Run it again">Retry</button>
      <button className="danger" onClick={() => act("cancel")} disabled={busy || final}>Cancel</button>
      {message ? (
        <div className="action-message" role="status">
          {message}
          {command ? (
            <div className="copy">
              <code data-testid="retry-command">{command}</code>
              <button onClick={() => void navigator.clipboard?.writeText(command)}>Copy</button>
            </div>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

/** The run's log lines, fetched incrementally: each poll asks for lines from a little
 * before the newest one seen (lines can arrive late, in batches) and merges by id. Log
 * lines are not events, so while the run goes this polls every second even with the
 * stream up; the run's events fetch too (at most one fetch per COALESCE_MS). */
function Logs(props: { runId: string; live: boolean; taskNames: Map<string, string> }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const seen = useRef(new Map<number, LogLine>());
  const newest = useRef<string | null>(null);
  const box = useRef<HTMLDivElement>(null);
  const wake = useRef<() => void>(() => undefined);
  useLive(useMemo(() => flowRunEvents(props.runId), [props.runId]), () => wake.current());

  useEffect(() => {
    seen.current = new Map();
    newest.current = null;
    setLines([]);
    setLoaded(false);
  }, [props.runId]);

  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    let busy = false;
    let again = false;
    let lastStart = 0;
    const poll = async () => {
      timer = undefined;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      lastStart = Date.now();
      try {
        const after = newest.current
          ? new Date(Date.parse(newest.current) - 10_000).toISOString() : undefined;
        const batch = await api.post<LogLine[]>("/logs/filter", {
          flow_run_id: [props.runId], timestamp_after: after, sort: "TIMESTAMP_ASC", limit: 1000,
        });
        if (cancelled) return;
        let added = false;
        for (const line of batch) {
          if (!seen.current.has(line.id)) {
            seen.current.set(line.id, line);
            added = true;
          }
          if (!newest.current || line.timestamp > newest.current) newest.current = line.timestamp;
        }
        if (added) {
          const sorted = [...seen.current.values()].sort(
            (a, b) => a.timestamp.localeCompare(b.timestamp) || a.id - b.id);
          setLines(sorted);
        }
        setLoaded(true);
        setError(null);
      } catch (caught) {
        if (!cancelled) setError(caught instanceof Error ? caught : new Error(String(caught)));
      } finally {
        busy = false;
      }
      if (cancelled) return;
      const delay = again ? Math.max(0, COALESCE_MS - (Date.now() - lastStart)) : props.live ? 1000 : 5000;
      again = false;
      timer = window.setTimeout(poll, delay);
    };
    wake.current = () => {
      if (cancelled) return;
      if (busy) {
        again = true;
        return;
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(poll, Math.max(0, COALESCE_MS - (Date.now() - lastStart)));
    };
    void poll();
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
      wake.current = () => undefined;
    };
  }, [props.runId, props.live]);

  useEffect(() => {
    const element = box.current;
    if (element && element.scrollHeight - element.scrollTop - element.clientHeight < 80) {
      element.scrollTop = element.scrollHeight;
    }
  }, [lines]);

  return (
    <div className="logs" ref={box} data-testid="logs">
      <ErrorNote error={error} />
      {!loaded ? <Pending error={error} /> : lines.length === 0 ? <Empty>No log lines yet.</Empty> : null}
      {lines.map((line) => (
        <div key={line.id} className={`log-line level-${line.level}`} data-testid="log-line">
          <span className="log-time">{new Date(line.timestamp).toLocaleTimeString()}</span>
          <span className="log-level">{LEVEL_NAMES[line.level] ?? line.level}</span>
          <span className="log-source">{line.task_run_id ? props.taskNames.get(line.task_run_id) ?? "task" : "flow"}</span>
          <span className="log-message">{line.message}</span>
        </div>
      ))}
    </div>
  );
}

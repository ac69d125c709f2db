// Deployments: schedules, next runs, pause/resume and the Run form.
import { useState } from "react";
import { api, ApiError, type Deployment, type DeploymentSchedule, type FlowRun } from "../api";
import { Card, Empty, ErrorNote, Pending, Tags } from "../components/common";
import { RunForm } from "../components/RunForm";
import { RunTable } from "../components/RunTable";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link } from "../router";

function unavailable(error: Error | undefined): boolean {
  return error instanceof ApiError && (error.status === 404 || error.status === 405);
}

export function describeSchedule(item: DeploymentSchedule): string {
  const s = item.schedule;
  const zone = s.timezone && s.timezone !== "UTC" ? ` (${s.timezone})` : "";
  if (s.cron) return `cron ${s.cron}${zone}`;
  if (s.interval) return `every ${s.interval >= 60 ? `${s.interval / 60} min` : `${s.interval} s`}`;
  if (s.rrule) return `rrule ${s.rrule}`;
  return JSON.stringify(s);
}

export function DeploymentsPage() {
  const deployments = usePoll(() => api.post<Deployment[]>("/deployments/filter", { limit: 200 }), [], 2000);
  if (unavailable(deployments.error)) {
    return <div className="page"><h1>Deployments</h1><Empty>This server has no deployments API.</Empty></div>;
  }
  return (
    <div className="page">
      <h1>Deployments</h1>
      <ErrorNote error={deployments.error} />
      {deployments.data === undefined ? <Pending error={deployments.error} />
        : deployments.data.length === 0 ? <Empty>No deployments yet: <code>flow.serve()</code> or <code>vibepiper deploy</code>.</Empty>
        : (
          <table data-testid="deployments-table">
            <thead><tr><th>Deployment</th><th>Flow</th><th>Schedules</th><th>Work pool</th><th>Status</th><th>Tags</th></tr></thead>
            <tbody>
              {deployments.data.map((deployment) => (
                <tr key={deployment.id}>
                  <td><Link to={`/deployments/${deployment.id}`}>{deployment.name}</Link></td>
                  <td>{deployment.flow_name}</td>
                  <td>{deployment.schedules.map((s) => <div key={s.id}>{describeSchedule(s)}{s.active ? "" : " (inactive)"}</div>)}</td>
                  <td>{deployment.work_pool_name ?? "serve"}</td>
                  <td>{deployment.paused ? <span className="pill paused">paused</span> : <span className="pill">{deployment.status.toLowerCase()}</span>}</td>
                  <td><Tags tags={deployment.tags} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
    </div>
  );
}

export function DeploymentPage(props: { id: string }) {
  const deployment = usePoll(() => api.get<Deployment>(`/deployments/${props.id}`), [props.id], 2000);
  const next = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", {
    deployment_id: [props.id], state_type: ["SCHEDULED"], sort: "EXPECTED_START_TIME_ASC", limit: 10,
  }), [props.id], 2000);
  const recent = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", {
    deployment_id: [props.id], sort: "CREATED_DESC", limit: 10,
  }), [props.id], 2000);
  const [formOpen, setFormOpen] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  if (!deployment.data) {
    return <div className="page"><h1>Deployment</h1><ErrorNote error={deployment.error} /><Pending error={deployment.error} /></div>;
  }
  const d = deployment.data;
  const toggle = async () => {
    setActionError(null);
    try {
      await api.post(`/deployments/${d.id}/${d.paused ? "resume" : "pause"}`);
      deployment.refresh();
      next.refresh();
    } catch (caught) {
      setActionError(caught instanceof Error ? caught.message : String(caught));
    }
  };
  return (
    <div className="page">
      <div className="run-header">
        <div>
          <div className="crumbs"><Link to="/deployments">Deployments</Link> / {d.flow_name}</div>
          <h1 data-testid="deployment-name">{d.name}</h1>
          <div className="meta">
            {d.paused ? <span className="pill paused" data-testid="deployment-status">paused</span>
              : <span className="pill" data-testid="deployment-status">active</span>}
            <span>pool {d.work_pool_name ?? "— (serve)"}</span>
            <span>last polled {relative(d.last_polled)}</span>
            <Tags tags={d.tags} />
          </div>
          {d.description ? <p>{d.description}</p> : null}
        </div>
        <div className="run-actions">
          <button onClick={() => setFormOpen(true)}>Run</button>
          <button onClick={toggle}>{d.paused ? "Resume" : "Pause"}</button>
          {actionError ? <div className="error" role="alert">{actionError}</div> : null}
        </div>
      </div>
      <ErrorNote error={next.error ?? recent.error} />
      {formOpen ? <Card title="Run with parameters"><RunForm deployment={d} onClose={() => setFormOpen(false)} /></Card> : null}
      <div className="grid two">
        <Card title="Schedules">
          {d.schedules.length === 0 ? <Empty>No schedule: runs only when triggered.</Empty> : (
            <ul className="plain" data-testid="schedules">
              {d.schedules.map((s) => <li key={s.id}>{describeSchedule(s)} {s.active ? "" : <span className="pill paused">inactive</span>}</li>)}
            </ul>
          )}
        </Card>
        <Card title="Next runs">
          {next.data === undefined ? <Pending error={next.error} />
            : next.data.length === 0 ? <Empty>Nothing scheduled.</Empty> : (
            <ul className="plain" data-testid="next-runs">
              {next.data.map((run) => (
                <li key={run.id}><Link to={`/runs/${run.id}`}>{run.name}</Link> · {formatTime(run.expected_start_time)} ({relative(run.expected_start_time)})</li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <Card title="Recent runs" actions={<Link to={`/runs?deployment=${d.id}`}>all runs</Link>}>
        {recent.data === undefined ? <Pending error={recent.error} />
          : recent.data.length === 0 ? <Empty>No runs yet.</Empty> : <RunTable runs={recent.data} />}
      </Card>
      <div className="grid two">
        <Card title="Default parameters"><pre className="json" data-testid="deployment-parameters">{JSON.stringify(d.parameters, null, 2)}</pre></Card>
        {/* as stored: a {{ vibepiper.blocks... }} placeholder is resolved when a run starts, never here */}
        <Card title="Job variables"><pre className="json" data-testid="deployment-job-variables">{JSON.stringify(d.job_variables ?? {}, null, 2)}</pre></Card>
      </div>
    </div>
  );
}

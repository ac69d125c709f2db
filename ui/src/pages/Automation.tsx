// One automation: its fields, trigger and actions (as YAML-like text), Edit, Enable or
// Disable, Delete; its evaluation log (newest first, linking the events it took in) and
// its action runs. Also the pages of its create and edit forms.
import { useState } from "react";
import { api, ApiError, type Automation, type AutomationAction, type AutomationActionRun, type AutomationLogEntry } from "../api";
import { ACTION_LABELS, ACTION_STATUS_COLORS, LOG_KIND_COLORS, toYaml, triggerSummary } from "../automations";
import { AutomationForm } from "../components/AutomationForm";
import { Card, Empty, ErrorNote, Pending, Tags } from "../components/common";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate } from "../router";

const POLL_MS = 2000;
const LOG_LIMIT = 100;
const ACTION_RUNS_LIMIT = 50;

function crumbs(automation?: { id: string; name: string }) {
  return (
    <div className="crumbs">
      <Link to="/automations">Automations</Link>
      {automation ? <> / <Link to={`/automations/${automation.id}`}>{automation.name}</Link></> : null}
    </div>
  );
}

function Missing(props: { id: string; error: Error | undefined }) {
  const gone = props.error instanceof ApiError && props.error.status === 404;
  return (
    <div className="page">
      {crumbs()}
      <h1>Automation</h1>
      {gone ? <Empty>No automation {props.id}: it may have been deleted.</Empty>
        : <><ErrorNote error={props.error} /><Pending error={props.error} /></>}
    </div>
  );
}

function Badge(props: { label: string; color: string | undefined }) {
  return <span className="badge" data-kind={props.label} style={{ background: props.color ?? "#8e8e9a" }}>{props.label}</span>;
}

export function AutomationPage(props: { id: string }) {
  const { id } = props;
  const found = usePoll(() => api.get<Automation>(`/automations/${id}`), [id], POLL_MS);
  const log = usePoll(() => api.get<AutomationLogEntry[]>(`/automations/${id}/log?limit=${LOG_LIMIT}`), [id], POLL_MS);
  const runs = usePoll(() => api.get<AutomationActionRun[]>(`/automations/${id}/actions?limit=${ACTION_RUNS_LIMIT}`), [id], POLL_MS);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  if (!found.data) return <Missing id={id} error={found.error} />;
  const a = found.data;
  const toggle = async () => {
    setActionError(null);
    setBusy(true);
    try {
      await api.patch(`/automations/${a.id}`, { enabled: !a.enabled });
      found.refresh();
    } catch (caught) {
      setActionError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setActionError(null);
    try {
      await api.delete(`/automations/${a.id}`);
      navigate("/automations");
    } catch (caught) {
      setConfirming(false);
      setActionError(caught instanceof Error ? caught.message : String(caught));
    }
  };
  return (
    <div className="page">
      <div className="run-header">
        <div>
          {crumbs()}
          <h1 data-testid="automation-name">{a.name}</h1>
          <div className="meta">
            {a.enabled ? <span className="pill" data-testid="automation-status">enabled</span>
              : <span className="pill paused" data-testid="automation-status">disabled</span>}
            <span title={formatTime(a.updated)}>updated {relative(a.updated)}</span>
            <Tags tags={a.tags} />
          </div>
          {a.description ? <p className="description">{a.description}</p> : null}
        </div>
        <div className="run-actions">
          <button onClick={() => navigate(`/automations/${a.id}/edit`)}>Edit</button>
          <button onClick={toggle} disabled={busy}>{a.enabled ? "Disable" : "Enable"}</button>
          {confirming ? (
            <span className="confirm" role="group" aria-label="Confirm delete">
              Delete {a.name}?
              <button className="danger" onClick={remove}>Yes, delete</button>
              <button onClick={() => setConfirming(false)}>No</button>
            </span>
          ) : <button className="danger" onClick={() => setConfirming(true)}>Delete</button>}
          {actionError ? <div className="error" role="alert">{actionError}</div> : null}
        </div>
      </div>
      <ErrorNote error={found.error ?? log.error ?? runs.error} />
      <div className="grid two">
        <Card title="Trigger" testId="automation-trigger">
          <div className="trigger-summary" data-testid="trigger-summary">{triggerSummary(a.trigger)}</div>
          <pre className="json">{toYaml(a.trigger)}</pre>
        </Card>
        <Card title="Details" testId="automation-details">
          <dl className="details">
            <dt>Id</dt><dd><code>{a.id}</code></dd>
            <dt>Enabled</dt><dd>{a.enabled ? "yes" : "no"}</dd>
            <dt>Created</dt><dd>{formatTime(a.created)}</dd>
            <dt>Updated</dt><dd>{formatTime(a.updated)}</dd>
            <dt>Owner</dt><dd>{a.owner_resource ? <OwnerLink resource={a.owner_resource} /> : "—"}</dd>
          </dl>
        </Card>
      </div>
      <Card title="Actions" testId="automation-actions">
        <ActionList title="When it fires" actions={[...a.actions, ...a.actions_on_trigger]} />
        {a.actions_on_resolve.length ? <ActionList title="When it resolves" actions={a.actions_on_resolve} /> : null}
      </Card>
      <Card title="Evaluation log" testId="automation-log"
        actions={<span className="muted">newest first, the last {LOG_LIMIT}</span>}>
        {log.data === undefined ? <Pending error={log.error} />
          : log.data.length === 0 ? <Empty>Nothing yet: no event has matched its trigger.</Empty> : (
            <table data-testid="automation-log-table">
              <thead><tr><th>Occurred</th><th>Kind</th><th>Message</th><th>Bucket</th><th>Event</th></tr></thead>
              <tbody>
                {log.data.map((entry) => (
                  <tr key={entry.id} data-log-kind={entry.kind}>
                    <td className="nowrap" title={entry.occurred}>{formatTime(entry.occurred)}</td>
                    <td><Badge label={entry.kind} color={LOG_KIND_COLORS[entry.kind]} /></td>
                    <td className="log-message">{entry.message}</td>
                    <td><code className="value">{entry.bucket ?? ""}</code></td>
                    <td>{entry.event_id ? <Link to={`/events/${entry.event_id}`} className="event-link">event</Link> : null}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </Card>
      <Card title="Action runs" testId="automation-action-runs"
        actions={<span className="muted">newest first, the last {ACTION_RUNS_LIMIT}</span>}>
        {runs.data === undefined ? <Pending error={runs.error} />
          : runs.data.length === 0 ? <Empty>No action has run yet.</Empty> : (
            <table data-testid="action-runs-table">
              <thead><tr><th>Time</th><th>Action</th><th>Status</th><th>Attempts</th><th>Outcome</th></tr></thead>
              <tbody>
                {runs.data.map((run) => (
                  <tr key={run.id} data-action-type={run.action.type} data-status={run.status}>
                    <td className="nowrap" title={`created ${formatTime(run.created)}`}>{formatTime(run.updated)}</td>
                    <td>{ACTION_LABELS[run.action.type] ?? run.action.type} <div className="muted">{run.action.type} · #{run.position + 1}</div></td>
                    <td><Badge label={run.status} color={ACTION_STATUS_COLORS[run.status]} /></td>
                    <td>{run.attempts}</td>
                    <td><Outcome run={run} /></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
      </Card>
    </div>
  );
}

function Outcome(props: { run: AutomationActionRun }) {
  const { run } = props;
  if (run.error) return <span className="field-error">{run.error}</span>;
  if (run.status === "pending" || run.status === "running") {
    return <span className="muted">next attempt {relative(run.next_attempt)}</span>;
  }
  const flowRun = run.result?.flow_run_id;
  return (
    <>
      {typeof flowRun === "string" ? <div><Link to={`/runs/${flowRun}`}>flow run {String(run.result?.flow_run_name ?? flowRun)}</Link></div> : null}
      {run.result && Object.keys(run.result).length ? <code className="value">{JSON.stringify(run.result)}</code> : <span className="muted">—</span>}
    </>
  );
}

/** The pages of objects an action names, by its target field. */
const TARGET_PAGES: Record<string, (id: string) => string> = {
  deployment_id: (id) => `/deployments/${id}`,
  block_document_id: (id) => `/blocks/document/${id}`,
  automation_id: (id) => `/automations/${id}`,
  work_pool_id: () => "/work-pools",
  work_queue_id: () => "/work-pools",
};

function ActionList(props: { title: string; actions: AutomationAction[] }) {
  return (
    <>
      <h3>{props.title}</h3>
      {props.actions.length === 0 ? <Empty>No actions.</Empty> : (
        <ol className="action-list">
          {props.actions.map((action, index) => {
            const rest: Record<string, unknown> = { ...action };
            delete rest.type;
            const targets = Object.keys(TARGET_PAGES).filter((field) => typeof action[field] === "string");
            return (
              <li key={index} data-action-type={action.type}>
                <strong>{ACTION_LABELS[action.type] ?? action.type}</strong> <code className="muted">{action.type}</code>
                {targets.map((field) => (
                  <span key={field}> · <Link to={TARGET_PAGES[field](String(action[field]))}>{field.replace(/_id$/, "").replace(/_/g, " ")}</Link></span>
                ))}
                {Object.keys(rest).length ? <pre className="json">{toYaml(rest)}</pre> : null}
              </li>
            );
          })}
        </ol>
      )}
    </>
  );
}

function OwnerLink(props: { resource: string }) {
  const deployment = props.resource.match(/^vibepiper\.deployment\.([0-9a-f-]{36})$/);
  return deployment ? <Link to={`/deployments/${deployment[1]}`}>{props.resource}</Link> : <code>{props.resource}</code>;
}

export function AutomationCreatePage() {
  return (
    <div className="page">
      {crumbs()}
      <h1>New automation</h1>
      <Card title="Automation">
        <AutomationForm onSaved={(id) => navigate(`/automations/${id}`)} onCancel={() => navigate("/automations")} />
      </Card>
    </div>
  );
}

export function AutomationEditPage(props: { id: string }) {
  const found = usePoll(() => api.get<Automation>(`/automations/${props.id}`), [props.id], null);
  if (!found.data) return <Missing id={props.id} error={found.error} />;
  return (
    <div className="page">
      {crumbs(found.data)}
      <h1>Edit {found.data.name}</h1>
      <Card title="Automation">
        <AutomationForm automation={found.data} onSaved={(id) => navigate(`/automations/${id}`)}
          onCancel={() => navigate(`/automations/${props.id}`)} />
      </Card>
    </div>
  );
}

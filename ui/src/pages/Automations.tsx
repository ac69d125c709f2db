// Automations: each automation's trigger in one line, its actions, when it last fired,
// an enabled switch (optimistic: flipped at once, put back with the server's reason if
// it refuses), and delete with a confirmation.
import { useEffect, useState } from "react";
import { api, ApiError, type Automation, type LastFiring } from "../api";
import { actionTypes, triggerSummary } from "../automations";
import { Card, countText, Empty, ErrorNote, Pending, Tags } from "../components/common";
import { formatTime, relative } from "../format";
import { usePoll } from "../hooks";
import { Link, navigate } from "../router";

const LAST_FIRINGS_INTERVAL_MS = 5000;

export function AutomationsPage() {
  const automations = usePoll(() => api.post<Automation[]>("/automations/filter", { sort: "NAME_ASC", limit: 200 }), [], 2000);
  const total = usePoll(() => api.post<number>("/automations/count", {}), [], 2000);
  const ids = (automations.data ?? []).map((automation) => automation.id);
  // one request for every row's last firing (not one per automation)
  const firings = usePoll(
    () => ids.length ? api.post<LastFiring[]>("/automations/last-firings", { ids }) : Promise.resolve([]),
    [ids.join(",")], LAST_FIRINGS_INTERVAL_MS,
  );
  const lastFired = new Map((firings.data ?? []).map((firing) => [firing.automation_id, firing.occurred]));
  const [actionError, setActionError] = useState<string | null>(null);
  if (automations.error instanceof ApiError && (automations.error.status === 404 || automations.error.status === 405)) {
    return <div className="page"><h1>Automations</h1><Empty>This server has no automations API.</Empty></div>;
  }
  const changed = () => {
    automations.refresh();
    total.refresh();
  };
  return (
    <div className="page">
      <h1>Automations</h1>
      <ErrorNote error={automations.error ?? total.error} />
      {actionError ? <div className="error" role="alert">{actionError}</div> : null}
      <Card title={<>Automations ({countText(total.data, total.error)})</>} testId="automations"
        actions={<button onClick={() => navigate("/automations/new")}>New automation</button>}>
        {automations.data === undefined ? <Pending error={automations.error} />
          : automations.data.length === 0 ? (
            <Empty>No automations yet: <b>New automation</b>, <code>vibepiper automation create -f FILE</code> or <code>Automation(...).create()</code>.</Empty>
          ) : (
            <table data-testid="automations-table">
              <thead><tr><th>Name</th><th>Enabled</th><th>Trigger</th><th>Actions</th><th>Last firing</th><th></th></tr></thead>
              <tbody>
                {automations.data.map((automation) => (
                  <AutomationRow key={automation.id} automation={automation} onChanged={changed} onError={setActionError}
                    lastFired={firings.data === undefined ? undefined : lastFired.get(automation.id) ?? null} />
                ))}
              </tbody>
            </table>
          )}
        {automations.data && total.data !== undefined && total.data > automations.data.length
          ? <div className="muted">Showing the first {automations.data.length}.</div> : null}
      </Card>
    </div>
  );
}

function AutomationRow(props: {
  automation: Automation;
  onChanged: () => void;
  onError: (message: string | null) => void;
  lastFired: string | null | undefined; // undefined: not known yet; null: never
}) {
  const { automation } = props;
  // what was asked, and the automation's `updated` when it was asked
  const [wanted, setWanted] = useState<{ enabled: boolean; since: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [gone, setGone] = useState(false);
  // the switch shows what was asked until the server's list says the same, or newer
  useEffect(() => {
    if (!busy && wanted && (wanted.enabled === automation.enabled || wanted.since !== automation.updated)) setWanted(null);
  }, [automation.enabled, automation.updated, busy, wanted]);
  const enabled = wanted?.enabled ?? automation.enabled;
  const toggle = async () => {
    const next = !enabled;
    props.onError(null);
    setWanted({ enabled: next, since: automation.updated });
    setBusy(true);
    try {
      await api.patch(`/automations/${automation.id}`, { enabled: next });
    } catch (caught) {
      setWanted(null);
      props.onError(`Could not ${next ? "enable" : "disable"} ${automation.name}: ${caught instanceof Error ? caught.message : String(caught)}`);
    } finally {
      setBusy(false);
      props.onChanged();
    }
  };
  const remove = async () => {
    props.onError(null);
    setGone(true); // hidden at once: its log is not asked for again
    try {
      await api.delete(`/automations/${automation.id}`);
    } catch (caught) {
      setGone(false);
      props.onError(caught instanceof Error ? caught.message : String(caught));
    }
    setConfirming(false);
    props.onChanged();
  };
  if (gone) return null;
  const page = `/automations/${automation.id}`;
  return (
    <tr data-automation={automation.name}>
      <td>
        <Link to={page} className="automation-link">{automation.name}</Link>
        {automation.description ? <div className="muted">{automation.description}</div> : null}
        <Tags tags={automation.tags} />
      </td>
      <td>
        <label className="switch">
          <input type="checkbox" role="switch" aria-label={`Enabled: ${automation.name}`} checked={enabled}
            disabled={busy} onChange={toggle} />
          <span>{enabled ? "on" : "off"}</span>
        </label>
      </td>
      <td className="trigger-summary" title={JSON.stringify(automation.trigger)}>{triggerSummary(automation.trigger)}</td>
      <td>{actionTypes(automation.actions) || <span className="muted">none</span>}</td>
      <td><LastFired at={props.lastFired} /></td>
      <td><div className="row-actions">
        <Link to={page}>Details</Link>
        {confirming ? (
          <span className="confirm" role="group" aria-label="Confirm delete">
            Delete {automation.name}?
            <button className="danger" onClick={remove}>Yes, delete</button>
            <button onClick={() => setConfirming(false)}>No</button>
          </span>
        ) : <button className="danger" onClick={() => setConfirming(true)}>Delete</button>}
      </div></td>
    </tr>
  );
}

/** When the automation last fired, or "never". */
function LastFired(props: { at: string | null | undefined }) {
  if (props.at === undefined) return <span className="muted" data-testid="last-firing">…</span>;
  return props.at
    ? <span data-testid="last-firing" title={formatTime(props.at)}>{relative(props.at)}</span>
    : <span data-testid="last-firing" className="muted">never</span>;
}

// The create and edit form of an automation: name, description, tags, enabled; the
// trigger from a template (or its JSON, which every template shows and which can be
// edited: "Advanced"); the actions. The server checks the whole automation again, and
// its refusal (a 422 naming the field) is shown next to the form, the input kept.
import { type FormEvent, useState } from "react";
import { api, type Automation, type AutomationAction, type AutomationBody, type AutomationTrigger } from "../api";
import { ActionsEditor, actionRow, type ActionRow, rowAction } from "./ActionsEditor";
import { Picker } from "./Picker";
import {
  buildTrigger, DEFAULT_FIELDS, detectTemplate, FLOW_RUN_STATES, type TemplateFields, type TemplateKind,
  TEMPLATES, withoutId,
} from "./triggerTemplates";

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function AutomationForm(props: {
  automation?: Automation;
  onSaved: (id: string) => void;
  onCancel: () => void;
}) {
  const { automation } = props;
  const [name, setName] = useState(automation?.name ?? "");
  const [description, setDescription] = useState(automation?.description ?? "");
  const [tags, setTags] = useState((automation?.tags ?? []).join(", "));
  const [enabled, setEnabled] = useState(automation?.enabled ?? true);
  const [initial] = useState(() => automation
    ? detectTemplate(automation.trigger) : { kind: "flow-run-state" as TemplateKind, fields: DEFAULT_FIELDS });
  const [kind, setKind] = useState<TemplateKind>(initial.kind);
  const [fields, setFields] = useState<TemplateFields>(initial.fields);
  const [advanced, setAdvanced] = useState(automation ? json(withoutId(automation.trigger)) : "");
  const [actions, setActions] = useState<ActionRow[]>(() => (automation?.actions ?? []).map(actionRow));
  const [onResolve, setOnResolve] = useState<ActionRow[]>(() => (automation?.actions_on_resolve ?? []).map(actionRow));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const built = kind === "advanced" ? null : buildTrigger(kind, fields);
  const shownJson = built ? json(built.trigger) : advanced;
  const set = (change: Partial<TemplateFields>) => setFields((current) => ({ ...current, ...change }));
  const pickTemplate = (next: TemplateKind) => {
    if (next === "advanced") setAdvanced(shownJson); // start from what the template built
    setKind(next);
  };
  const editJson = (value: string) => {
    setAdvanced(value);
    setKind("advanced");
  };

  const collect = (rows: ActionRow[], where: string): AutomationAction[] | string => {
    const collected: AutomationAction[] = [];
    for (const [index, row] of rows.entries()) {
      const found = rowAction(row, `${where} ${index + 1}`);
      if ("problem" in found) return found.problem;
      collected.push(found.action);
    }
    return collected;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    let trigger: AutomationTrigger;
    if (built) {
      if (built.problem) {
        setError(built.problem);
        return;
      }
      trigger = built.trigger;
    } else {
      try {
        trigger = JSON.parse(advanced) as AutomationTrigger;
      } catch (caught) {
        setError(`The trigger is not valid JSON: ${caught instanceof Error ? caught.message : String(caught)}`);
        return;
      }
    }
    const main = collect(actions, "Action");
    if (typeof main === "string") return setError(main);
    const resolve = collect(onResolve, "Action on resolve");
    if (typeof resolve === "string") return setError(resolve);
    const body: AutomationBody = {
      name: name.trim(),
      description,
      enabled,
      tags: tags.split(",").map((tag) => tag.trim()).filter(Boolean),
      trigger,
      actions: main,
      actions_on_trigger: automation?.actions_on_trigger ?? [],
      actions_on_resolve: resolve,
      owner_resource: automation?.owner_resource ?? null,
    };
    setBusy(true);
    try {
      if (automation) {
        await api.put(`/automations/${automation.id}`, body);
        props.onSaved(automation.id);
      } else {
        props.onSaved((await api.post<Automation>("/automations/", body)).id);
      }
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="run-form automation-form" onSubmit={submit} aria-label={automation ? "Edit automation" : "Create automation"} noValidate>
      <div className="field">
        <label htmlFor="automation-name">Name *</label>
        <input id="automation-name" name="name" value={name} onChange={(event) => setName(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="automation-description">Description</label>
        <textarea id="automation-description" name="description" rows={2} value={description}
          onChange={(event) => setDescription(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="automation-tags">Tags <span className="muted">comma-separated</span></label>
        <input id="automation-tags" name="tags" value={tags} onChange={(event) => setTags(event.target.value)} />
      </div>
      <label className="inline">
        <input type="checkbox" id="automation-enabled" checked={enabled} onChange={(event) => setEnabled(event.target.checked)} />
        Enabled
      </label>

      <fieldset className="group" data-testid="trigger-fields">
        <legend>Trigger</legend>
        <div className="field">
          <label htmlFor="trigger-template">When</label>
          <select id="trigger-template" value={kind} onChange={(event) => pickTemplate(event.target.value as TemplateKind)}>
            {TEMPLATES.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
          </select>
        </div>
        {kind === "flow-run-state" ? (
          <>
            <div className="field" role="group" aria-label="States">
              <span>States</span>
              <div className="state-choices">
                {FLOW_RUN_STATES.map((state) => (
                  <label key={state} className="inline">
                    <input type="checkbox" checked={fields.states.includes(state)}
                      onChange={(event) => set({
                        states: event.target.checked ? [...fields.states, state] : fields.states.filter((s) => s !== state),
                      })} />
                    {state}
                  </label>
                ))}
              </div>
            </div>
            <div className="field">
              <label htmlFor="trigger-flow-name">Flow name <span className="muted">empty: any flow</span></label>
              <input id="trigger-flow-name" value={fields.flowName} onChange={(event) => set({ flowName: event.target.value })} />
            </div>
          </>
        ) : null}
        {kind === "deployment-no-completed" ? (
          <>
            <div className="field">
              <label htmlFor="trigger-deployment">Deployment</label>
              <Picker kind="deployment" id="trigger-deployment" label="Deployment" value={fields.deploymentId}
                onChange={(deploymentId) => set({ deploymentId })} />
            </div>
            <div className="field">
              <label htmlFor="trigger-minutes">Minutes</label>
              <input id="trigger-minutes" type="number" min={1} value={fields.minutes} onChange={(event) => set({ minutes: event.target.value })} />
            </div>
          </>
        ) : null}
        {kind === "work-pool-not-ready" ? (
          <div className="field">
            <label htmlFor="trigger-work-pool">Work pool</label>
            <Picker kind="work_pool" id="trigger-work-pool" label="Work pool" value={fields.workPoolId}
              onChange={(workPoolId) => set({ workPoolId })} />
          </div>
        ) : null}
        {kind === "custom-event" ? (
          <>
            <div className="field">
              <label htmlFor="trigger-events">Event names <span className="muted">comma-separated; a trailing * is a prefix; empty: any event</span></label>
              <input id="trigger-events" value={fields.eventNames} placeholder="orders.loaded, vibepiper.flow-run.*"
                onChange={(event) => set({ eventNames: event.target.value })} />
            </div>
            <div className="field">
              <label htmlFor="trigger-resource">Resource id <span className="muted">optional; a trailing * is a prefix</span></label>
              <input id="trigger-resource" value={fields.resourcePattern} placeholder="warehouse.*"
                onChange={(event) => set({ resourcePattern: event.target.value })} />
            </div>
            <div className="field">
              <label htmlFor="trigger-posture">Posture</label>
              <select id="trigger-posture" value={fields.posture} onChange={(event) => set({ posture: event.target.value as TemplateFields["posture"] })}>
                <option value="Reactive">Reactive: when the events arrive</option>
                <option value="Proactive">Proactive: when they do not arrive in time</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="trigger-threshold">Threshold <span className="muted">events</span></label>
              <input id="trigger-threshold" type="number" min={1} value={fields.threshold} onChange={(event) => set({ threshold: event.target.value })} />
            </div>
            <div className="field">
              <label htmlFor="trigger-within">Within <span className="muted">seconds; 0: no limit (Proactive: at least 10)</span></label>
              <input id="trigger-within" type="number" min={0} value={fields.within} onChange={(event) => set({ within: event.target.value })} />
            </div>
          </>
        ) : null}
        <div className="field">
          <label htmlFor="trigger-json">Trigger JSON <span className="muted">{kind === "advanced" ? "as sent" : "what the template builds; edit it to switch to Advanced"}</span></label>
          <textarea id="trigger-json" className="code" rows={kind === "advanced" ? 14 : 8} value={shownJson}
            onChange={(event) => editJson(event.target.value)} spellCheck={false} />
        </div>
      </fieldset>

      <fieldset className="group" data-testid="actions-fields">
        <legend>Actions <span className="muted">when it fires</span></legend>
        <ActionsEditor name="Action" rows={actions} onChange={setActions} />
      </fieldset>
      <fieldset className="group" data-testid="resolve-actions-fields">
        <legend>Actions on resolve <span className="muted">when a proactive trigger's events arrive after all</span></legend>
        <ActionsEditor name="Action on resolve" rows={onResolve} onChange={setOnResolve} />
      </fieldset>
      {automation && automation.actions_on_trigger.length
        ? <div className="muted">Its {automation.actions_on_trigger.length} actions on trigger are kept as they are.</div> : null}

      {error ? <div className="error" role="alert" data-testid="form-error">{error}</div> : null}
      <div className="form-actions">
        <button type="submit" disabled={busy}>{automation ? "Save" : "Create"}</button>
        <button type="button" onClick={props.onCancel}>Cancel</button>
      </div>
    </form>
  );
}

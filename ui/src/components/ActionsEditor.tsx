// The automation form's actions: rows of a type and the fields that type needs (a target
// picked from the server, run parameters as JSON, a notification's subject and body, a
// state). Fields the form does not show (job variables, a delay) are kept as they were.
import { type AutomationAction, STATE_TYPES } from "../api";
import { ACTION_LABELS } from "../automations";
import { INFERRED, Picker, type PickerKind, PICKER_NOUNS } from "./Picker";

type TextField = "parameters" | "subject" | "body" | "payload" | "state" | "name" | "message";

interface ActionSpec {
  target?: { kind: PickerKind; field: string };
  block?: PickerKind;
  fields?: TextField[];
}

const deployment = { kind: "deployment" as const, field: "deployment_id" };
const workPool = { kind: "work_pool" as const, field: "work_pool_id" };
const workQueue = { kind: "work_queue" as const, field: "work_queue_id" };
const automation = { kind: "automation" as const, field: "automation_id" };

export const ACTION_SPECS: Record<string, ActionSpec> = {
  "do-nothing": {},
  "run-deployment": { target: deployment, fields: ["parameters"] },
  "pause-deployment": { target: deployment },
  "resume-deployment": { target: deployment },
  "cancel-flow-run": {},
  "suspend-flow-run": {},
  "resume-flow-run": {},
  "change-flow-run-state": { fields: ["state", "name", "message"] },
  "delete-flow-run": {},
  "send-notification": { block: "notify_block", fields: ["subject", "body"] },
  "call-webhook": { block: "webhook_block", fields: ["payload"] },
  "pause-work-pool": { target: workPool },
  "resume-work-pool": { target: workPool },
  "pause-work-queue": { target: workQueue },
  "resume-work-queue": { target: workQueue },
  "pause-automation": { target: automation },
  "resume-automation": { target: automation },
};

/** One row: the action it started from (kept for the fields not shown) and the inputs. */
export interface ActionRow {
  key: number;
  type: string;
  base: AutomationAction;
  target: string;
  text: Partial<Record<TextField, string>>;
}

let nextKey = 0;

export function actionRow(action: AutomationAction): ActionRow {
  const spec = ACTION_SPECS[action.type] ?? {};
  const field = spec.target?.field ?? (spec.block ? "block_document_id" : null);
  const target = action.source === "inferred" ? INFERRED : field && typeof action[field] === "string" ? String(action[field]) : "";
  const text: ActionRow["text"] = {};
  for (const name of spec.fields ?? []) {
    const value = action[name];
    if (name === "parameters") text.parameters = value === null || value === undefined ? "" : JSON.stringify(value, null, 2);
    else text[name] = typeof value === "string" ? value : "";
  }
  return { key: nextKey++, type: action.type, base: action, target, text };
}

/** The action a row stands for, or what is wrong with it. */
export function rowAction(row: ActionRow, where: string): { action: AutomationAction } | { problem: string } {
  const spec = ACTION_SPECS[row.type] ?? {};
  const action: AutomationAction = { ...row.base, type: row.type };
  const what = `${where} (${ACTION_LABELS[row.type] ?? row.type})`;
  if (spec.target) {
    delete action[spec.target.field];
    if (row.target === INFERRED) action.source = "inferred";
    else if (row.target) Object.assign(action, { source: "selected", [spec.target.field]: row.target });
    else return { problem: `${what}: choose a ${PICKER_NOUNS[spec.target.kind]}.` };
  }
  if (spec.block) {
    if (!row.target) return { problem: `${what}: choose a ${PICKER_NOUNS[spec.block]}.` };
    action.block_document_id = row.target;
  }
  for (const name of spec.fields ?? []) {
    const value = row.text[name] ?? "";
    if (name === "parameters") {
      if (!value.trim()) {
        action.parameters = null;
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch (caught) {
        return { problem: `${what}: the parameters are not valid JSON: ${caught instanceof Error ? caught.message : String(caught)}` };
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return { problem: `${what}: the parameters must be a JSON object, e.g. {"rows": 10}.` };
      }
      action.parameters = parsed;
    } else if (value.trim() || name === "state") {
      action[name] = value;
    } else {
      delete action[name]; // the server's default
    }
  }
  return { action };
}

export function ActionsEditor(props: { name: string; rows: ActionRow[]; onChange: (rows: ActionRow[]) => void }) {
  const { rows, onChange } = props;
  const update = (key: number, change: Partial<ActionRow>) =>
    onChange(rows.map((row) => (row.key === key ? { ...row, ...change } : row)));
  const retype = (row: ActionRow, type: string) =>
    onChange(rows.map((other) => (other.key === row.key ? { ...actionRow({ type }), key: row.key } : other)));
  return (
    <div className="action-rows">
      {rows.length === 0 ? <div className="muted">No actions.</div> : null}
      {rows.map((row, index) => {
        const spec = ACTION_SPECS[row.type] ?? {};
        const label = `${props.name} ${index + 1}`;
        const id = (field: string) => `${props.name.replace(/\W+/g, "-").toLowerCase()}-${index + 1}-${field}`;
        const setText = (field: TextField, value: string) => update(row.key, { text: { ...row.text, [field]: value } });
        return (
          <div key={row.key} className="action-row" data-testid="action-row" data-action-type={row.type} role="group" aria-label={label}>
            <div className="action-head">
              <select aria-label={`${label} type`} value={row.type} onChange={(event) => retype(row, event.target.value)}>
                {Object.entries(ACTION_LABELS).map(([type, text]) => <option key={type} value={type}>{text} ({type})</option>)}
                {ACTION_SPECS[row.type] ? null : <option value={row.type}>{row.type}</option>}
              </select>
              <button type="button" className="danger" onClick={() => onChange(rows.filter((other) => other.key !== row.key))}>Remove</button>
            </div>
            {spec.target ? (
              <label className="field">{capitalized(PICKER_NOUNS[spec.target.kind])}
                <Picker kind={spec.target.kind} label={`${label} ${PICKER_NOUNS[spec.target.kind]}`} inferable
                  value={row.target} onChange={(target) => update(row.key, { target })} />
              </label>
            ) : null}
            {spec.block ? (
              <label className="field">{capitalized(PICKER_NOUNS[spec.block])}
                <Picker kind={spec.block} label={`${label} ${PICKER_NOUNS[spec.block]}`}
                  value={row.target} onChange={(target) => update(row.key, { target })} />
              </label>
            ) : null}
            {(spec.fields ?? []).map((field) => (
              <div className="field" key={field}>
                <label htmlFor={id(field)}>{FIELD_LABELS[field]}</label>
                {field === "state" ? (
                  <select id={id(field)} value={row.text.state ?? ""} onChange={(event) => setText("state", event.target.value)}>
                    <option value="">choose a state type</option>
                    {STATE_TYPES.map((type) => <option key={type} value={type}>{type}</option>)}
                  </select>
                ) : field === "parameters" || field === "body" || field === "payload" ? (
                  <textarea id={id(field)} rows={field === "parameters" ? 4 : 3} value={row.text[field] ?? ""}
                    placeholder={PLACEHOLDERS[field]} onChange={(event) => setText(field, event.target.value)} />
                ) : (
                  <input id={id(field)} value={row.text[field] ?? ""} placeholder={PLACEHOLDERS[field]}
                    onChange={(event) => setText(field, event.target.value)} />
                )}
              </div>
            ))}
          </div>
        );
      })}
      <div>
        <button type="button" onClick={() => onChange([...rows, actionRow({ type: "do-nothing" })])}>Add action</button>
      </div>
    </div>
  );
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

const FIELD_LABELS: Record<TextField, string> = {
  parameters: "Parameters (JSON object; empty: the deployment's defaults)",
  subject: "Subject",
  body: "Body",
  payload: "Payload",
  state: "State type",
  name: "State name",
  message: "Message",
};

const PLACEHOLDERS: Partial<Record<TextField, string>> = {
  parameters: '{"rows": "{{ event.payload.rows }}"}',
  subject: "default: VibePiper automated notification",
  body: "default: which automation fired, on what event",
  payload: "a Jinja template, e.g. {{ event.resource.id }}",
  name: "default: the type's name",
};

// How the Automations pages describe an automation: its trigger in one line, its actions
// by name, any JSON value as readable YAML-like text, and the colours of log kinds and
// action statuses.
import type { AutomationAction, AutomationTrigger } from "./api";

/** What each action type does, in words; the form offers them in this order. */
export const ACTION_LABELS: Record<string, string> = {
  "do-nothing": "Do nothing",
  "run-deployment": "Run a deployment",
  "pause-deployment": "Pause a deployment",
  "resume-deployment": "Resume a deployment",
  "cancel-flow-run": "Cancel the flow run",
  "suspend-flow-run": "Suspend the flow run",
  "resume-flow-run": "Resume the flow run",
  "change-flow-run-state": "Change the flow run's state",
  "delete-flow-run": "Delete the flow run",
  "send-notification": "Send a notification",
  "call-webhook": "Call a webhook",
  "pause-work-pool": "Pause a work pool",
  "resume-work-pool": "Resume a work pool",
  "pause-work-queue": "Pause a work queue",
  "resume-work-queue": "Resume a work queue",
  "pause-automation": "Pause an automation",
  "resume-automation": "Resume an automation",
};

/** Seconds as written in a summary: `600s`, `0.5s`. */
export function seconds(value: unknown): string {
  const number = Number(value ?? 0);
  return `${Number.isFinite(number) ? +number.toFixed(3) : "?"}s`;
}

const either = (names: string[] | undefined, none: string) =>
  names && names.length ? names.join(" or ") : none;

/** The trigger in one line: "Reactive: vibepiper.flow-run.Failed", "Proactive: no
 * vibepiper.flow-run.Completed within 600s after vibepiper.flow-run.Running". */
export function triggerSummary(trigger: AutomationTrigger): string {
  if (trigger.type === "event") {
    const expected = either(trigger.expect, "any event");
    const after = trigger.after?.length ? ` after ${either(trigger.after, "")}` : "";
    const threshold = trigger.threshold ?? 1;
    const within = Number(trigger.within ?? 0);
    if (trigger.posture === "Proactive") {
      const count = threshold > 1 ? `fewer than ${threshold} ` : "no ";
      return `Proactive: ${count}${expected} within ${seconds(within)}${after}`;
    }
    const count = threshold > 1 ? `${threshold} of ` : "";
    const window = within > 0 ? ` within ${seconds(within)}` : "";
    return `Reactive: ${count}${expected}${window}${after}`;
  }
  const children = Array.isArray(trigger.triggers) ? trigger.triggers.length : 0;
  if (trigger.type === "compound") return `Compound: ${String(trigger.require)} of ${children} triggers`;
  if (trigger.type === "sequence") return `Sequence of ${children} triggers`;
  const metric = (trigger.metric ?? {}) as Record<string, unknown>;
  return `Metric: ${String(metric.name)} ${String(metric.operator)} ${String(metric.threshold)} over ${seconds(metric.range)}`;
}

/** The types of the actions, in order: "do-nothing, run-deployment". */
export function actionTypes(actions: AutomationAction[]): string {
  return actions.map((action) => action.type).join(", ");
}

export const LOG_KIND_COLORS: Record<string, string> = {
  evaluated: "#8e8e9a",
  triggered: "#d6453d",
  resolved: "#2e9e5b",
  "action-executed": "#2f7de1",
  "action-retry": "#d4a017",
  "action-failed": "#b32b22",
};

export const ACTION_STATUS_COLORS: Record<string, string> = {
  pending: "#8e8e9a",
  running: "#2f7de1",
  done: "#2e9e5b",
  failed: "#d6453d",
};

// --- YAML-like text -------------------------------------------------------------------
const PLAIN = /^[A-Za-z_/$][\w.\-/*$@ ]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~)$/i;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") {
    return PLAIN.test(value) && !RESERVED.test(value) && !value.endsWith(" ") ? value : JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[]";
  if (typeof value === "object") return "{}";
  return String(value);
}

const isComposite = (value: unknown): value is object =>
  typeof value === "object" && value !== null && Object.keys(value).length > 0;

function block(value: unknown, indent: string): string[] {
  if (Array.isArray(value) && value.length > 0) {
    return value.flatMap((item) => {
      const inner = isComposite(item) ? block(item, `${indent}  `) : [`${indent}  ${scalar(item)}`];
      inner[0] = `${indent}- ${inner[0].slice(indent.length + 2)}`;
      return inner;
    });
  }
  if (isComposite(value) && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, item]) => {
      const head = `${indent}${scalar(key)}:`;
      if (isComposite(item)) return [head, ...block(item, `${indent}  `)];
      if (typeof item === "string" && item.includes("\n")) {
        return [`${head} |`, ...item.split("\n").map((line) => `${indent}  ${line}`)];
      }
      return [`${head} ${scalar(item)}`];
    });
  }
  return [`${indent}${scalar(value)}`];
}

/** A JSON value as YAML-like text (for reading, not parsing back). */
export function toYaml(value: unknown): string {
  return block(value, "").join("\n");
}

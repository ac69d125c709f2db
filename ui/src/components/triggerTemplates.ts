// The automation form's trigger templates: the common cases as a few fields, each
// building an event trigger. An existing trigger is read back into the template that
// builds exactly it (else it is edited as JSON).
import { type AutomationTrigger, type EventTrigger, type Posture, RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE } from "../api";

export type TemplateKind = "flow-run-state" | "deployment-no-completed" | "work-pool-not-ready" | "custom-event" | "advanced";

export const TEMPLATES: [TemplateKind, string][] = [
  ["flow-run-state", "A flow run enters a state"],
  ["deployment-no-completed", "A deployment has no completed run within N minutes"],
  ["work-pool-not-ready", "A work pool is not ready"],
  ["custom-event", "A custom event"],
  ["advanced", "Advanced (JSON)"],
];

/** State names whose `vibepiper.flow-run.<Name>` events a flow run emits. */
export const FLOW_RUN_STATES = [
  "Failed", "Crashed", "Completed", "Cancelled", "TimedOut", "Running", "Pending", "Scheduled",
  "Late", "Paused", "Suspended", "AwaitingRetry", "Retrying", "Cancelling",
];

/** What the templates' inputs hold (numbers as typed). */
export interface TemplateFields {
  states: string[];
  flowName: string;
  deploymentId: string;
  minutes: string;
  workPoolId: string;
  eventNames: string;
  resourcePattern: string;
  threshold: string;
  within: string;
  posture: Posture;
}

export const DEFAULT_FIELDS: TemplateFields = {
  states: ["Failed"],
  flowName: "",
  deploymentId: "",
  minutes: "60",
  workPoolId: "",
  eventNames: "",
  resourcePattern: "",
  threshold: "1",
  within: "0",
  posture: "Reactive",
};

const FLOW_RUN_EVENT = "vibepiper.flow-run.";
const DEPLOYMENT = "vibepiper.deployment.";
const WORK_POOL = "vibepiper.work-pool.";

function eventTrigger(parts: Partial<EventTrigger>): EventTrigger {
  return {
    type: "event", match: {}, match_related: {}, after: [], expect: [], for_each: [],
    posture: "Reactive", threshold: 1, within: 0, ...parts,
  };
}

const list = (text: string) => text.split(",").map((item) => item.trim()).filter(Boolean);

/** The template's trigger, and what is missing or wrong in its fields (null: nothing). */
export function buildTrigger(kind: Exclude<TemplateKind, "advanced">, fields: TemplateFields): { trigger: EventTrigger; problem: string | null } {
  switch (kind) {
    case "flow-run-state":
      return {
        trigger: eventTrigger({
          match: { [RESOURCE_ID]: `${FLOW_RUN_EVENT}*` },
          match_related: fields.flowName.trim()
            ? { [RESOURCE_ROLE]: "flow", [RESOURCE_NAME]: fields.flowName.trim() } : {},
          expect: fields.states.map((state) => FLOW_RUN_EVENT + state),
          for_each: [RESOURCE_ID],
        }),
        problem: fields.states.length ? null : "Trigger: choose at least one state.",
      };
    case "deployment-no-completed": {
      const minutes = Number(fields.minutes);
      const problem = !fields.deploymentId ? "Trigger: choose a deployment."
        : !fields.minutes.trim() || !(minutes > 0) ? "Trigger: the minutes must be a number above 0." : null;
      return {
        trigger: eventTrigger({
          match: { [RESOURCE_ID]: `${FLOW_RUN_EVENT}*` },
          match_related: { [RESOURCE_ID]: DEPLOYMENT + fields.deploymentId },
          expect: [`${FLOW_RUN_EVENT}Completed`],
          posture: "Proactive",
          within: Number.isFinite(minutes) ? +(minutes * 60).toFixed(3) : 0,
        }),
        problem,
      };
    }
    case "work-pool-not-ready":
      return {
        trigger: eventTrigger({
          match: { [RESOURCE_ID]: WORK_POOL + fields.workPoolId },
          expect: ["vibepiper.work-pool.not-ready"],
        }),
        problem: fields.workPoolId ? null : "Trigger: choose a work pool.",
      };
    case "custom-event": {
      const threshold = Number(fields.threshold);
      const within = Number(fields.within);
      const problem = !Number.isInteger(threshold) || threshold < 1 ? "Trigger: the threshold must be a whole number, at least 1."
        : !fields.within.trim() || !(within >= 0) ? "Trigger: within must be a number of seconds, at least 0." : null;
      return {
        trigger: eventTrigger({
          match: fields.resourcePattern.trim() ? { [RESOURCE_ID]: fields.resourcePattern.trim() } : {},
          expect: list(fields.eventNames),
          posture: fields.posture,
          threshold: Number.isFinite(threshold) ? threshold : 1,
          within: Number.isFinite(within) ? within : 0,
        }),
        problem,
      };
    }
  }
}

/** JSON with object keys sorted and the name lists sorted: equal triggers, equal text. */
function canonicalText(value: unknown): string {
  const sort = (item: unknown, key?: string): unknown => {
    if (Array.isArray(item)) {
      const items = item.map((child) => sort(child));
      return key && ["after", "expect", "for_each"].includes(key) ? [...items].sort() : items;
    }
    if (item && typeof item === "object") {
      return Object.fromEntries(Object.keys(item).sort().map((k) => [k, sort((item as Record<string, unknown>)[k], k)]));
    }
    return item;
  };
  return JSON.stringify(sort(value));
}

/** The trigger without its id (the server gives a replaced trigger a new one anyway). */
export function withoutId(trigger: AutomationTrigger): AutomationTrigger {
  const copy: Record<string, unknown> = { ...trigger };
  delete copy.id;
  return copy as AutomationTrigger;
}

const text = (value: unknown) => (typeof value === "string" ? value : "");

/** The template (and its fields) that builds exactly `trigger`, else "advanced". */
export function detectTemplate(trigger: AutomationTrigger): { kind: TemplateKind; fields: TemplateFields } {
  const advanced = { kind: "advanced" as const, fields: DEFAULT_FIELDS };
  if (trigger.type !== "event") return advanced;
  const related = Array.isArray(trigger.match_related) ? {} : trigger.match_related ?? {};
  const within = Number(trigger.within ?? 0);
  const candidates: [Exclude<TemplateKind, "advanced">, TemplateFields][] = [
    ["flow-run-state", {
      ...DEFAULT_FIELDS,
      states: (trigger.expect ?? []).filter((name) => name.startsWith(FLOW_RUN_EVENT)).map((name) => name.slice(FLOW_RUN_EVENT.length)),
      flowName: text(related[RESOURCE_NAME]),
    }],
    ["deployment-no-completed", {
      ...DEFAULT_FIELDS,
      deploymentId: text(related[RESOURCE_ID]).slice(DEPLOYMENT.length),
      minutes: String(within / 60),
    }],
    ["work-pool-not-ready", { ...DEFAULT_FIELDS, workPoolId: text(trigger.match?.[RESOURCE_ID]).slice(WORK_POOL.length) }],
    ["custom-event", {
      ...DEFAULT_FIELDS,
      eventNames: (trigger.expect ?? []).join(", "),
      resourcePattern: text(trigger.match?.[RESOURCE_ID]),
      threshold: String(trigger.threshold ?? 1),
      within: String(within),
      posture: trigger.posture,
    }],
  ];
  const wanted = canonicalText(withoutId(trigger));
  for (const [kind, fields] of candidates) {
    const built = buildTrigger(kind, fields);
    if (built.problem === null && canonicalText(built.trigger) === wanted) return { kind, fields };
  }
  return advanced;
}

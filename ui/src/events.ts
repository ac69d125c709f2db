// The Events pages' URL state and resource helpers. The query string is the filter
// (`event` name prefixes, `resource` id, `own`, `range` or `since`/`until`), so a filtered
// feed can be bookmarked, and a flow run's page can link to its events.
import {
  type EventCount, type EventFilter, type EventResource, RESOURCE_ID, RESOURCE_NAME, RESOURCE_ROLE,
} from "./api";

/** Preset ranges: their length and the histogram bucket that gives ~50 bars. */
export const RANGES: Record<string, { label: string; seconds: number; unit: TimeUnit; interval: number }> = {
  "1h": { label: "Last hour", seconds: 3600, unit: "minute", interval: 1 },
  "24h": { label: "Last 24 hours", seconds: 86400, unit: "minute", interval: 30 },
  "7d": { label: "Last 7 days", seconds: 7 * 86400, unit: "hour", interval: 4 },
  "30d": { label: "Last 30 days", seconds: 30 * 86400, unit: "day", interval: 1 },
};
export const DEFAULT_RANGE = "24h";
const CUSTOM_BUCKETS = 48;

export type TimeUnit = "week" | "day" | "hour" | "minute" | "second";

/** The time range a URL stands for; `until` is null for "up to now" (the server's now). */
export interface EventRange {
  since: Date;
  until: Date | null;
  unit: TimeUnit;
  interval: number;
}

export function rangeFromQuery(query: URLSearchParams, now = Date.now()): EventRange {
  const since = parseDate(query.get("since"));
  if (since) {
    const until = parseDate(query.get("until"));
    const span = Math.max(1, ((until?.getTime() ?? now) - since.getTime()) / 1000);
    // buckets of whole seconds unless the range is shorter than the bucket count
    const interval = span >= CUSTOM_BUCKETS ? Math.ceil(span / CUSTOM_BUCKETS) : Math.max(0.01, span / CUSTOM_BUCKETS);
    return { since, until, unit: "second", interval };
  }
  const preset = RANGES[query.get("range") ?? DEFAULT_RANGE] ?? RANGES[DEFAULT_RANGE];
  return { since: new Date(now - preset.seconds * 1000), until: null, unit: preset.unit, interval: preset.interval };
}

function parseDate(value: string | null): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

const list = (value: string | null) => (value ? value.split(",").map((s) => s.trim()).filter(Boolean) : []);

/** The API filter an Events URL stands for. A resource id ending in `*` is a prefix; the
 * resource matches the event's own resource or, unless `own=1`, a related one. */
export function filterFromQuery(query: URLSearchParams, range: EventRange): EventFilter {
  const filter: EventFilter = {
    occurred: { since: range.since.toISOString(), ...(range.until ? { until: range.until.toISOString() } : {}) },
    order: "DESC",
  };
  const prefixes = list(query.get("event"));
  if (prefixes.length) filter.event = { prefix: prefixes };
  const resources = list(query.get("resource"));
  if (resources.length) {
    const exact = resources.filter((r) => !r.endsWith("*"));
    const prefix = resources.filter((r) => r.endsWith("*")).map((r) => r.slice(0, -1));
    const spec = { ...(exact.length ? { id: exact } : {}), ...(prefix.length ? { id_prefix: prefix } : {}) };
    if (query.get("own") === "1") filter.resource = spec;
    else filter.any_resource = spec;
  }
  return filter;
}

/** `/events?...` with `changes` applied to `query` (a null or empty value removes it). */
export function eventsUrl(query: URLSearchParams, changes: Record<string, string | null>): string {
  const next = new URLSearchParams(query);
  for (const [name, value] of Object.entries(changes)) {
    if (value) next.set(name, value);
    else next.delete(name);
  }
  const text = next.toString();
  return `/events${text ? `?${text}` : ""}`;
}

/** The feed of one resource's events, from `since` on. */
export function eventsOfResource(resourceId: string, since?: string | null): string {
  const query = new URLSearchParams({ resource: resourceId });
  if (since) {
    // a minute of slack: the sender's clock stamped the events, not the server's
    query.set("since", new Date(Date.parse(since) - 60_000).toISOString());
  } else {
    query.set("range", "30d");
  }
  return `/events?${query.toString()}`;
}

const UUID = "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})";
const FLOW_RUN = new RegExp(`^vibepiper\\.flow-run\\.${UUID}$`);
const TASK_RUN = new RegExp(`^vibepiper\\.task-run\\.${UUID}$`);
const DEPLOYMENT = new RegExp(`^vibepiper\\.deployment\\.${UUID}$`);

export function resourceId(resource: EventResource): string {
  return resource[RESOURCE_ID] ?? "";
}

export function resourceName(resource: EventResource): string | null {
  return resource[RESOURCE_NAME] || null;
}

export function resourceRole(resource: EventResource): string {
  return resource[RESOURCE_ROLE] ?? "";
}

/** The dashboard page of a resource, if it has one: a flow run's page, a task run's flow
 * run (its `flow-run` related resource), a deployment's page. */
export function resourcePage(resource: EventResource, related: EventResource[] = []): string | null {
  const id = resourceId(resource);
  const run = id.match(FLOW_RUN);
  if (run) return `/runs/${run[1]}`;
  const deployment = id.match(DEPLOYMENT);
  if (deployment) return `/deployments/${deployment[1]}`;
  if (TASK_RUN.test(id)) {
    for (const other of related) {
      const parent = resourceId(other).match(FLOW_RUN);
      if (parent && resourceRole(other) === "flow-run") return `/runs/${parent[1]}`;
    }
  }
  return null;
}

/** `value` as a `datetime-local` input shows it (local time, to the minute). */
export function localInput(value: string | null): string {
  const date = parseDate(value);
  if (!date) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`
    + `T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function bucketTotal(buckets: EventCount[]): number {
  return buckets.reduce((sum, bucket) => sum + bucket.count, 0);
}

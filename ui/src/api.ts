// The REST API client: JSON over fetch, the API key from localStorage as a bearer token.
// A 401 tells the app to show the key prompt (see Login.tsx).

export type StateType =
  | "SCHEDULED" | "PENDING" | "RUNNING" | "COMPLETED" | "FAILED"
  | "CANCELLED" | "CRASHED" | "PAUSED" | "CANCELLING";

export const STATE_TYPES: StateType[] = [
  "SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED",
  "CANCELLED", "CRASHED", "PAUSED", "CANCELLING",
];

export interface StateRead {
  id: string;
  type: StateType;
  name: string;
  message: string | null;
  timestamp: string;
  state_details: Record<string, unknown>;
}

export interface FlowRun {
  id: string;
  name: string;
  flow_id: string;
  flow_name: string | null;
  state_type: StateType | null;
  state_name: string | null;
  state: StateRead | null;
  parameters: Record<string, unknown>;
  tags: string[];
  run_count: number;
  parent_task_run_id: string | null;
  deployment_id: string | null;
  flow_version: string | null;
  entrypoint: string | null;
  created: string;
  updated: string;
  start_time: string | null;
  end_time: string | null;
  expected_start_time: string | null;
  work_pool_name?: string | null;
  work_queue_name?: string | null;
  worker_name?: string | null;
}

export interface TaskRun {
  id: string;
  name: string;
  flow_run_id: string | null;
  task_key: string;
  state_type: StateType | null;
  state_name: string | null;
  start_time: string | null;
  end_time: string | null;
  subflow_run_id: string | null;
}

export interface GraphNode {
  id: string;
  name: string;
  task_key: string;
  state_type: StateType | null;
  state_name: string | null;
  start_time: string | null;
  end_time: string | null;
  subflow_run_id: string | null;
}

export interface GraphEdge {
  upstream_id: string;
  downstream_id: string;
  parameter: string;
  input_type: string;
  upstream_node_id: string | null;
}

export interface FlowRunGraph {
  flow_run_id: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface LogLine {
  id: number;
  flow_run_id: string | null;
  task_run_id: string | null;
  name: string;
  level: number;
  message: string;
  timestamp: string;
}

export interface Flow {
  id: string;
  name: string;
  created: string;
}

export interface Schedule {
  cron?: string;
  interval?: number;
  rrule?: string;
  timezone?: string;
}

export interface DeploymentSchedule {
  id: string;
  schedule: Schedule;
  active: boolean;
}

export interface Deployment {
  id: string;
  name: string;
  flow_id: string;
  flow_name: string;
  description: string | null;
  tags: string[];
  parameters: Record<string, unknown>;
  parameter_openapi_schema: JsonSchema | null;
  enforce_parameter_schema: boolean;
  work_pool_name: string | null;
  work_queue_name: string | null;
  job_variables: Record<string, unknown>;
  paused: boolean;
  concurrency_limit: number | null;
  schedules: DeploymentSchedule[];
  last_polled: string | null;
  status: string;
  created: string;
}

export interface WorkPool {
  id: string;
  name: string;
  type: string;
  description: string | null;
  paused: boolean;
  concurrency_limit: number | null;
  status: string;
}

export interface WorkQueue {
  id: string;
  name: string;
  priority: number;
  concurrency_limit: number | null;
  paused: boolean;
  last_polled: string | null;
}

export interface Worker {
  id: string;
  name: string;
  last_heartbeat: string;
  status: string;
  flow_run_ids: string[];
}

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  anyOf?: JsonSchema[];
  $ref?: string;
  definitions?: Record<string, JsonSchema>;
  $defs?: Record<string, JsonSchema>;
  writeOnly?: boolean;
  examples?: unknown[];
  block_type_slug?: string;
  secret_fields?: string[];
  block_schema_references?: Record<string, unknown>;
}

export interface BlockType {
  id: string;
  name: string;
  slug: string;
  logo_url: string | null;
  documentation_url: string | null;
  description: string | null;
  code_example: string | null;
  is_protected: boolean;
  created: string;
  updated: string;
}

export interface BlockSchema {
  id: string;
  checksum: string;
  fields: JsonSchema;
  block_type_id: string;
  capabilities: string[];
  version: string;
  created: string;
}

/** A saved document this one references: its field's value is read back expanded. */
export interface BlockReference {
  block_document: { id: string; name: string | null; is_anonymous: boolean; block_type: BlockType | null };
}

export interface BlockDocument {
  id: string;
  name: string | null;
  data: Record<string, unknown>;
  block_schema_id: string;
  block_schema: BlockSchema | null;
  block_type_id: string;
  block_type_name: string | null;
  block_type: BlockType | null;
  block_document_references: Record<string, BlockReference>;
  is_anonymous: boolean;
  created: string;
  updated: string;
}

export interface Variable {
  id: string;
  name: string;
  value: unknown;
  tags: string[];
  created: string;
  updated: string;
}

/** What the server answers in place of a secret value. */
export const SECRET_MASK = "********";

export interface RunFilter {
  state_type?: StateType[];
  state_name?: string[];
  flow_name?: string[];
  deployment_id?: string[];
  tags_all?: string[];
  name_like?: string;
  created_after?: string;
  created_before?: string;
  parent_flow_run_id?: string;
  root_only?: boolean;
  sort?: string;
  limit?: number;
  offset?: number;
}

export interface HistoryBucket {
  start: string;
  end: string;
  counts: Record<string, number>;
}

/** An event's resource: string labels, `vibepiper.resource.id` naming it. */
export type EventResource = Record<string, string>;

export const RESOURCE_ID = "vibepiper.resource.id";
export const RESOURCE_ROLE = "vibepiper.resource.role";
export const RESOURCE_NAME = "vibepiper.resource.name";

export interface ReceivedEvent {
  id: string;
  occurred: string;
  received: string;
  event: string;
  resource: EventResource;
  related: EventResource[];
  payload: Record<string, unknown>;
  follows: string | null;
}

/** Body of `POST /events/filter` and `/events/count-by/...` (`filter`): every part given must hold. */
export interface EventFilter {
  occurred?: { since?: string; until?: string };
  event?: { prefix?: string[]; name?: string[] };
  resource?: { id?: string[]; id_prefix?: string[] };
  any_resource?: { id?: string[]; id_prefix?: string[] };
  id?: { id?: string[] };
  order?: "ASC" | "DESC";
}

export interface EventPage {
  events: ReceivedEvent[];
  total: number;
  /** The next page's absolute URL (a GET), or null on the last page. */
  next_page: string | null;
}

export interface EventCount {
  value: string;
  label: string;
  count: number;
  start_time: string;
  end_time: string;
}

/** Which resources: each label named holds one of its values (`x*` a prefix, `!x` not x). */
export type ResourceSpecification = Record<string, string | string[]>;

export type Posture = "Reactive" | "Proactive";

/** An event trigger as the server stores it (`within` in seconds). */
export interface EventTrigger {
  type: "event";
  id?: string;
  match: ResourceSpecification;
  match_related: ResourceSpecification | ResourceSpecification[];
  after: string[];
  expect: string[];
  for_each: string[];
  posture: Posture;
  threshold: number;
  within: number;
}

/** Any trigger: an event trigger, or a compound, sequence or metric one (kept as JSON). */
export type AutomationTrigger = EventTrigger | { type: "compound" | "sequence" | "metric"; [field: string]: unknown };

/** An action: its `type` and that type's fields (`source`, a target id, templates...). */
export interface AutomationAction {
  type: string;
  [field: string]: unknown;
}

export interface Automation {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  tags: string[];
  trigger: AutomationTrigger;
  actions: AutomationAction[];
  actions_on_trigger: AutomationAction[];
  actions_on_resolve: AutomationAction[];
  owner_resource: string | null;
  created: string;
  updated: string;
}

/** Body of `POST /automations/` and `PUT /automations/{id}`. */
export type AutomationBody = Omit<Automation, "id" | "created" | "updated">;

export type AutomationLogKind =
  | "evaluated" | "triggered" | "resolved" | "action-executed" | "action-retry" | "action-failed";

export interface LastFiring {
  automation_id: string;
  occurred: string;
}

export interface AutomationLogEntry {
  id: string;
  occurred: string;
  kind: AutomationLogKind | string;
  event_id: string | null;
  bucket: string | null;
  message: string;
}

export interface AutomationActionRun {
  id: string;
  firing_id: string;
  position: number;
  action: AutomationAction;
  status: "pending" | "running" | "done" | "failed" | string;
  attempts: number;
  next_attempt: string;
  result: Record<string, unknown> | null;
  error: string | null;
  created: string;
  updated: string;
}

/** What a run published for people: `data` depends on `type` (see components/Artifact.tsx). */
export interface Artifact {
  id: string;
  created: string;
  updated: string;
  key: string | null;
  type: string | null;
  description: string | null;
  data: unknown;
  /** A stored file or image: `filename`, `content_type`, `size`, `storage_key`. */
  metadata_: Record<string, string> | null;
  flow_run_id: string | null;
  task_run_id: string | null;
}

/** A key and its latest version (`id` and `latest_id` are the latest's). */
export interface ArtifactCollection extends Artifact {
  latest_id: string;
}

/** Body of `POST /artifacts/filter`, `/count` and their `/latest/` forms. */
export interface ArtifactQuery {
  artifacts?: {
    key?: { any_?: string[]; like_?: string; exists_?: boolean };
    type?: { any_?: string[]; not_any_?: string[] };
    flow_run_id?: { any_: string[] };
    task_run_id?: { any_: string[] };
  };
  sort?: "CREATED_DESC" | "CREATED_ASC" | "UPDATED_DESC" | "ID_DESC" | "KEY_DESC" | "KEY_ASC";
  limit?: number;
  offset?: number;
}

export type AssetHealth = "healthy" | "warning" | "failing" | "unknown";
export type FreshnessStatus = "fresh" | "warn" | "stale";

/** An asset's freshness policy (seconds; `cron` in `timezone`). */
export interface FreshnessPolicy {
  within_seconds: number | null;
  warn_within_seconds: number | null;
  cron: string | null;
  timezone: string | null;
}

/** A catalogued asset: its properties and its health from the latest materialization. */
export interface Asset {
  key: string;
  name: string | null;
  url: string | null;
  description: string | null;
  owners: string[];
  /** The latest materialization's metadata. */
  metadata: Record<string, unknown>;
  last_materialized: string | null;
  last_status: "succeeded" | "failed" | null;
  last_flow_run_id: string | null;
  last_task_run_id: string | null;
  last_flow_name: string | null;
  materialized_by: string | null;
  freshness: FreshnessPolicy | null;
  /** null until a running server has evaluated the policy. */
  freshness_status: FreshnessStatus | null;
  /** The latest materialization's check results. */
  checks: { passed: number; failed: number; warned: number };
  health: AssetHealth;
  created: string;
  updated: string;
}

export interface AssetMaterialization {
  id: string;
  key: string;
  occurred: string;
  status: "succeeded" | "failed";
  flow_run_id: string | null;
  task_run_id: string | null;
  flow_name: string | null;
  by: string | null;
  metadata: Record<string, unknown>;
  upstream: string[];
  error: string | null;
}

export interface AssetCheckResult {
  id: string;
  key: string;
  check: string;
  passed: boolean;
  severity: "error" | "warn";
  blocking: boolean;
  description: string | null;
  metadata: Record<string, unknown>;
  occurred: string;
  flow_run_id: string | null;
  task_run_id: string | null;
}

/** `GET /assets/detail?key=`: the asset, its neighbours, its latest history. */
export interface AssetDetail {
  asset: Asset;
  upstream: string[];
  downstream: string[];
  materializations: AssetMaterialization[];
  checks: AssetCheckResult[];
}

export interface AssetEdge { upstream: string; downstream: string }

/** `GET /assets/lineage`: every asset and every upstream → downstream edge. */
export interface AssetLineage { nodes: Asset[]; edges: AssetEdge[] }

/** Body of `POST /assets/filter` and `/assets/count`. */
export interface AssetQuery { search?: string | null; limit?: number; offset?: number }

/** Answer of `POST /assets/materialize?key=`. */
export interface AssetMaterializeRun { flow_run_id: string; deployment_id: string }

const KEY_STORAGE = "vibepiper.apiKey";

export function storedApiKey(): string | null {
  return window.localStorage.getItem(KEY_STORAGE);
}

export function storeApiKey(key: string | null): void {
  if (key) window.localStorage.setItem(KEY_STORAGE, key);
  else window.localStorage.removeItem(KEY_STORAGE);
}

/** An API answer that was not 2xx; `detail` is the server's explanation. */
export class ApiError extends Error {
  constructor(public status: number, public detail: unknown) {
    super(describe(status, detail));
  }
}

function describe(status: number, detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // pydantic prefixes a validator's own sentence with "Value error, "
    return detail
      .map((d: { field?: string; msg?: string }) =>
        `${d.field || "?"}: ${(d.msg ?? "invalid").replace(/^Value error, /, "")}`)
      .join("; ");
  }
  return `HTTP ${status}`;
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const key = storedApiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) unauthorizedListeners.forEach((listener) => listener());
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const data: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const detail = (data as { detail?: unknown } | null)?.detail ?? text;
    throw new ApiError(response.status, detail);
  }
  return data as T;
}

/** A file the API serves (an artifact's content) as a Blob: `<img src>` and download
 * links cannot send the API key, so with a key set the dashboard fetches it itself. */
export async function requestBlob(path: string): Promise<Blob> {
  const key = storedApiKey();
  const response = await fetch(`/api${path}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  if (response.status === 401) unauthorizedListeners.forEach((listener) => listener());
  if (!response.ok) {
    const text = await response.text();
    let detail: unknown = text;
    try {
      detail = (JSON.parse(text) as { detail?: unknown }).detail ?? text;
    } catch {
      // not JSON: the text is the explanation
    }
    throw new ApiError(response.status, detail);
  }
  return response.blob();
}

export const api = {
  get: <T>(path: string) => request<T>("GET", path),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
  put: <T>(path: string, body: unknown) => request<T>("PUT", path, body),
  patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
  delete: (path: string) => request<void>("DELETE", path),
};

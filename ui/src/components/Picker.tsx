// A select of the server's objects an automation can name: deployments, work pools and
// queues, notification or webhook blocks, automations. Loaded once when shown.
import { api, type Automation, type BlockDocument, type Deployment, type WorkPool, type WorkQueue } from "../api";
import { usePoll } from "../hooks";

export type PickerKind = "deployment" | "work_pool" | "work_queue" | "notify_block" | "webhook_block" | "automation";

interface Option {
  id: string;
  label: string;
}

export const PICKER_NOUNS: Record<PickerKind, string> = {
  deployment: "deployment",
  work_pool: "work pool",
  work_queue: "work queue",
  notify_block: "notification block",
  webhook_block: "webhook block",
  automation: "automation",
};

const byLabel = (a: Option, b: Option) => a.label.localeCompare(b.label);

async function blocks(filter: Record<string, unknown>): Promise<Option[]> {
  const documents = await api.post<BlockDocument[]>("/block_documents/filter", { ...filter, limit: 200 });
  return documents.map((document) => ({
    id: document.id,
    label: `${document.block_type?.name ?? document.block_type_name ?? "block"}: ${document.name ?? document.id}`,
  }));
}

const LOADERS: Record<PickerKind, () => Promise<Option[]>> = {
  deployment: async () => (await api.post<Deployment[]>("/deployments/filter", { limit: 200 }))
    .map((d) => ({ id: d.id, label: `${d.flow_name}/${d.name}` })).sort(byLabel),
  work_pool: async () => (await api.get<WorkPool[]>("/work_pools/"))
    .map((pool) => ({ id: pool.id, label: pool.name })).sort(byLabel),
  // no listing of every queue: each pool's queues
  work_queue: async () => {
    const pools = await api.get<WorkPool[]>("/work_pools/");
    const queues = await Promise.all(pools.map(async (pool) =>
      (await api.get<WorkQueue[]>(`/work_pools/${encodeURIComponent(pool.name)}/queues`))
        .map((queue) => ({ id: queue.id, label: `${pool.name}/${queue.name}` }))));
    return queues.flat().sort(byLabel);
  },
  notify_block: () => blocks({ block_schemas: { block_capabilities: { all_: ["notify"] } } }),
  webhook_block: () => blocks({ block_types: { slug: { any_: ["webhook"] } } }),
  automation: async () => (await api.post<Automation[]>("/automations/filter", { sort: "NAME_ASC", limit: 200 }))
    .map((automation) => ({ id: automation.id, label: automation.name })),
};

/** `inferred`: the option "the one the event is about" (an action's `source: inferred`). */
export const INFERRED = "inferred";

export function Picker(props: {
  kind: PickerKind;
  value: string;
  onChange: (value: string) => void;
  label: string;
  id?: string;
  inferable?: boolean;
}) {
  const options = usePoll(LOADERS[props.kind], [props.kind], null);
  const noun = PICKER_NOUNS[props.kind];
  const known = options.data?.some((option) => option.id === props.value) ?? false;
  return (
    <span className="picker">
      <select id={props.id} aria-label={props.label} value={props.value} onChange={(event) => props.onChange(event.target.value)}>
        <option value="">{options.data === undefined ? (options.error ? "could not load" : "loading…") : `choose a ${noun}`}</option>
        {props.inferable ? <option value={INFERRED}>the event's {noun} (inferred)</option> : null}
        {(options.data ?? []).map((option) => <option key={option.id} value={option.id}>{option.label}</option>)}
        {props.value && props.value !== INFERRED && !known ? <option value={props.value}>{props.value}</option> : null}
      </select>
      {options.data?.length === 0 ? <span className="muted"> none yet</span> : null}
      {options.error ? <span className="field-error"> {options.error.message}</span> : null}
    </span>
  );
}

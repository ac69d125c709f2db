// Runs: every flow run, filtered server-side. The URL's query string is the filter, so
// a filtered view can be bookmarked and the back button restores it. Live: any flow run's
// state change reloads the page of runs and the count (see live.ts).
import { type FormEvent, useEffect, useState } from "react";
import { api, type Flow, type FlowRun, type RunFilter, STATE_TYPES, type StateType } from "../api";
import { Card, Empty, ErrorNote, Pending } from "../components/common";
import { Pager } from "../components/Pager";
import { RunTable } from "../components/RunTable";
import { usePoll } from "../hooks";
import { FLOW_RUN_EVENTS } from "../live";
import { navigate, useLocation } from "../router";

export const PAGE_SIZE = 25;

const RANGES: Record<string, number> = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

const list = (value: string | null) => (value ? value.split(",").filter(Boolean) : []);

/** The API filter a Runs URL stands for. */
export function filterFromQuery(query: URLSearchParams): RunFilter {
  const filter: RunFilter = {};
  const states = list(query.get("state")).filter((s): s is StateType => STATE_TYPES.includes(s as StateType));
  if (states.length) filter.state_type = states;
  const flows = list(query.get("flow"));
  if (flows.length) filter.flow_name = flows;
  const deployments = list(query.get("deployment"));
  if (deployments.length) filter.deployment_id = deployments;
  const tags = list(query.get("tag"));
  if (tags.length) filter.tags_all = tags;
  const search = query.get("q");
  if (search) filter.name_like = search;
  const range = query.get("range");
  if (range && RANGES[range]) {
    filter.created_after = new Date(Date.now() - RANGES[range] * 1000).toISOString();
  }
  const since = query.get("since");
  if (since) filter.created_after = new Date(since).toISOString();
  const until = query.get("until");
  if (until) filter.created_before = new Date(until).toISOString();
  // Subflow runs are listed by default: hiding them (`root_only`) makes SQLite sort every
  // root run instead of walking the `created` index, so it is opt-in.
  if (query.get("hide_subflows") === "1") filter.root_only = true;
  return filter;
}

export function RunsPage() {
  const { query } = useLocation();
  const page = Math.max(1, Number(query.get("page") ?? "1") || 1);
  const key = query.toString();
  const filter = filterFromQuery(query);
  const runs = usePoll(
    () => api.post<FlowRun[]>("/flow_runs/filter", {
      ...filter, sort: "CREATED_DESC", limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE,
    }),
    [key], undefined, FLOW_RUN_EVENTS,
  );
  const total = usePoll(() => api.post<number>("/flow_runs/count", filter), [key], 2000, FLOW_RUN_EVENTS);
  const flows = usePoll(() => api.post<Flow[]>("/flows/filter", { limit: 1000 }), [], 10000);

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(query);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    if (!("page" in changes)) next.delete("page");
    const text = next.toString();
    navigate(`/runs${text ? `?${text}` : ""}`);
  };
  const states = list(query.get("state"));
  const toggleState = (state: string) => {
    const next = states.includes(state) ? states.filter((s) => s !== state) : [...states, state];
    update({ state: next.join(",") || null });
  };

  return (
    <div className="page">
      <h1>Runs</h1>
      <Filters query={query} flows={flows.data ?? []} update={update} />
      <div className="state-chips" role="group" aria-label="Filter by state">
        {STATE_TYPES.map((state) => (
          <button key={state} className={states.includes(state) ? "chip on" : "chip"}
            data-state={state} aria-pressed={states.includes(state)} onClick={() => toggleState(state)}>
            {state.toLowerCase()}
          </button>
        ))}
      </div>
      <ErrorNote error={runs.error ?? total.error} />
      <Card title="Flow runs">
        {runs.data === undefined ? <Pending error={runs.error} />
          : runs.data.length === 0 ? <Empty>No runs match.</Empty>
          : <RunTable runs={runs.data} />}
        <Pager page={page} pageSize={PAGE_SIZE} total={total.data}
          onPage={(next) => update({ page: String(next) })} />
      </Card>
    </div>
  );
}

function Filters(props: {
  query: URLSearchParams; flows: Flow[]; update: (changes: Record<string, string | null>) => void;
}) {
  const { query, update } = props;
  const [search, setSearch] = useState(query.get("q") ?? "");
  const [tags, setTags] = useState(query.get("tag") ?? "");
  useEffect(() => setSearch(query.get("q") ?? ""), [query.get("q")]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => setTags(query.get("tag") ?? ""), [query.get("tag")]); // eslint-disable-line react-hooks/exhaustive-deps
  const submit = (event: FormEvent) => {
    event.preventDefault();
    update({ q: search.trim() || null, tag: tags.split(",").map((t) => t.trim()).filter(Boolean).join(",") || null });
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Run filters">
      <input type="search" name="q" placeholder="Search run names" value={search}
        onChange={(event) => setSearch(event.target.value)} />
      <select name="flow" value={query.get("flow") ?? ""} onChange={(event) => update({ flow: event.target.value || null })}>
        <option value="">All flows</option>
        {props.flows.map((flow) => <option key={flow.id} value={flow.name}>{flow.name}</option>)}
      </select>
      <input name="tag" placeholder="Tags (a, b)" value={tags} onChange={(event) => setTags(event.target.value)} />
      <select name="range" value={query.get("range") ?? ""} onChange={(event) => update({ range: event.target.value || null })}>
        <option value="">Any time</option>
        <option value="1h">Last hour</option>
        <option value="24h">Last 24 hours</option>
        <option value="7d">Last 7 days</option>
        <option value="30d">Last 30 days</option>
      </select>
      <label className="inline">
        <input type="checkbox" name="hide_subflows" checked={query.get("hide_subflows") === "1"}
          onChange={(event) => update({ hide_subflows: event.target.checked ? "1" : null })} />
        hide subflows
      </label>
      {query.get("deployment") ? (
        <button type="button" className="chip on" onClick={() => update({ deployment: null })}>
          deployment ✕
        </button>
      ) : null}
      <button type="submit">Apply</button>
      <button type="button" onClick={() => navigate("/runs")}>Clear</button>
    </form>
  );
}

// Flows: every flow with its latest run and a link to its runs.
import { api, type Flow, type FlowRun } from "../api";
import { Card, countText, Empty, ErrorNote, Pending, StateBadge } from "../components/common";
import { formatTime } from "../format";
import { usePoll } from "../hooks";
import { Link } from "../router";

export function FlowsPage() {
  const flows = usePoll(() => api.post<Flow[]>("/flows/filter", { limit: 1000 }), [], 5000);
  return (
    <div className="page">
      <h1>Flows</h1>
      <ErrorNote error={flows.error} />
      <Card title={`Flows (${countText(flows.data?.length, flows.error)})`} testId="flows-card">
        {flows.data === undefined ? <Pending error={flows.error} />
          : flows.data.length === 0 ? <Empty>No flows yet: run one (examples/quickstart.py).</Empty> : (
          <table data-testid="flows-table">
            <thead><tr><th>Flow</th><th>Created</th><th>Latest run</th><th>Runs</th></tr></thead>
            <tbody>
              {flows.data.map((flow) => <FlowRow key={flow.id} flow={flow} />)}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

function FlowRow(props: { flow: Flow }) {
  const { flow } = props;
  const latest = usePoll(() => api.post<FlowRun[]>("/flow_runs/filter", { flow_id: [flow.id], limit: 1 }), [flow.id], 5000);
  const count = usePoll(() => api.post<number>("/flow_runs/count", { flow_id: [flow.id] }), [flow.id], 5000);
  const run = latest.data?.[0];
  return (
    <tr>
      <td><Link to={`/runs?flow=${encodeURIComponent(flow.name)}`}>{flow.name}</Link></td>
      <td>{formatTime(flow.created)}</td>
      <td>
        {run ? <><Link to={`/runs/${run.id}`}>{run.name}</Link> <StateBadge type={run.state_type} name={run.state_name} /></>
          : latest.data === undefined ? (latest.error ? "—" : "…") : "none"}
      </td>
      <td>{countText(count.data, count.error)}</td>
    </tr>
  );
}

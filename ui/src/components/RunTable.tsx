// A table of flow runs, shared by the Runs page, the Dashboard and the Deployments page.
import type { FlowRun } from "../api";
import { durationOf, formatDuration, formatTime } from "../format";
import { useClock } from "../hooks";
import { Link } from "../router";
import { StateBadge, Tags } from "./common";

export function RunTable(props: { runs: FlowRun[]; showExpected?: boolean; testId?: string }) {
  useClock(props.runs.some((run) => run.state_type === "RUNNING") ? 1000 : null); // durations tick
  return (
    <table className="runs" data-testid={props.testId ?? "run-table"}>
      <thead>
        <tr>
          <th>Run</th>
          <th>Flow</th>
          <th>State</th>
          <th>Tags</th>
          <th>{props.showExpected ? "Expected start" : "Started"}</th>
          <th>Duration</th>
        </tr>
      </thead>
      <tbody>
        {props.runs.map((run) => (
          <tr key={run.id} data-run-id={run.id}>
            <td><Link to={`/runs/${run.id}`} className="run-link">{run.name}</Link></td>
            <td>{run.flow_name ?? "—"}</td>
            <td><StateBadge type={run.state_type} name={run.state_name} /></td>
            <td><Tags tags={run.tags} /></td>
            <td>{formatTime(props.showExpected ? run.expected_start_time : run.start_time ?? run.expected_start_time)}</td>
            <td>{formatDuration(durationOf(run.start_time, run.end_time, run.state_type === "RUNNING"))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

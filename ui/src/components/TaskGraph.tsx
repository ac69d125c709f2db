// The task graph as one SVG: a rect + label per task run, coloured by state; subflow
// runs get a double border and link to their own page. Names are SVG text nodes
// (escaped by React), never markup.
import { memo, useMemo } from "react";
import type { FlowRunGraph } from "../api";
import { stateColor } from "../format";
import { navigate } from "../router";
import { type Layout, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "./graphLayout";

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

export const TaskGraph = memo(function TaskGraph(props: { graph: FlowRunGraph }) {
  const layout: Layout = useMemo(() => layoutGraph(props.graph), [props.graph]);
  if (layout.nodes.length === 0) return <div className="empty">No task runs.</div>;
  return (
    <div className="graph-scroll">
      <svg width={layout.width} height={layout.height} data-testid="task-graph" role="img"
        aria-label={`Task graph with ${layout.nodes.length} task runs`}>
        <defs>
          <marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L6,3 L0,6 z" fill="#9aa0ad" />
          </marker>
        </defs>
        <g className="edges">
          {layout.edges.map((edge) => {
            const x1 = edge.from.x + NODE_WIDTH;
            const y1 = edge.from.y + NODE_HEIGHT / 2;
            const x2 = edge.to.x;
            const y2 = edge.to.y + NODE_HEIGHT / 2;
            const mid = (x1 + x2) / 2;
            return (
              <path key={edge.key} d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`}
                fill="none" stroke="#9aa0ad" strokeWidth={1} markerEnd="url(#arrow)" />
            );
          })}
        </g>
        <g className="nodes">
          {layout.nodes.map(({ node, x, y }) => (
            <g key={node.id} transform={`translate(${x},${y})`} data-testid="graph-node"
              data-state={node.state_type ?? "NONE"} data-subflow={node.subflow_run_id ? "true" : undefined}
              className={node.subflow_run_id ? "node subflow" : "node"}
              onClick={node.subflow_run_id ? () => navigate(`/runs/${node.subflow_run_id}`) : undefined}>
              <title>{`${node.name} — ${node.state_name ?? "no state"}`}</title>
              <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx={5} fill="#fff"
                stroke={stateColor(node.state_type)} strokeWidth={node.subflow_run_id ? 3 : 1.5} />
              <rect width={7} height={NODE_HEIGHT} rx={2} fill={stateColor(node.state_type)} />
              <text x={13} y={NODE_HEIGHT / 2 + 4} fontSize={12}>
                {truncate(node.subflow_run_id ? `⇲ ${node.name}` : node.name, 24)}
              </text>
            </g>
          ))}
        </g>
      </svg>
    </div>
  );
});

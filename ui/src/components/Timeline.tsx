// A Gantt-like timeline of task runs: one bar per run from start to end (to now while
// it is going), in one SVG so 1,000 rows render in one pass.
import { memo, useMemo } from "react";
import type { GraphNode } from "../api";
import { formatDuration, stateColor } from "../format";

const ROW = 16;
const LABEL = 190;
const WIDTH = 900;

export const Timeline = memo(function Timeline(props: { nodes: GraphNode[]; now: number }) {
  const rows = useMemo(
    () => props.nodes.filter((n) => n.start_time)
      .sort((a, b) => Date.parse(a.start_time!) - Date.parse(b.start_time!)),
    [props.nodes],
  );
  if (rows.length === 0) return <div className="empty">No task run has started.</div>;
  const start = Date.parse(rows[0].start_time!);
  let end = start + 1;
  for (const node of rows) {
    end = Math.max(end, node.end_time ? Date.parse(node.end_time) : props.now);
  }
  const scale = (WIDTH - LABEL - 70) / (end - start);
  return (
    <div className="timeline-scroll">
      <svg width={WIDTH} height={rows.length * ROW + 24} data-testid="timeline">
        <text x={LABEL} y={12} fontSize={10} fill="#666">0 s</text>
        <text x={WIDTH - 70} y={12} fontSize={10} fill="#666" textAnchor="end">
          {formatDuration((end - start) / 1000)}
        </text>
        {rows.map((node, index) => {
          const from = Date.parse(node.start_time!);
          const to = node.end_time ? Date.parse(node.end_time) : props.now;
          const x = LABEL + (from - start) * scale;
          const width = Math.max(2, (to - from) * scale);
          const y = 18 + index * ROW;
          return (
            <g key={node.id} data-testid="timeline-bar">
              <text x={LABEL - 6} y={y + 10} fontSize={11} textAnchor="end">
                {node.name.length > 28 ? `${node.name.slice(0, 27)}…` : node.name}
              </text>
              <rect x={x} y={y + 2} width={width} height={ROW - 5} rx={2} fill={stateColor(node.state_type)}>
                <title>{`${node.name}: ${node.state_name ?? ""} ${formatDuration((to - from) / 1000)}`}</title>
              </rect>
            </g>
          );
        })}
      </svg>
    </div>
  );
});

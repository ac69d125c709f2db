// The task graph as one SVG: a rect + label per task run, coloured by state; subflow
// runs get a double border and link to their own page. Names are SVG text nodes
// (escaped by React), never markup. The wheel zooms around the pointer, dragging pans,
// and the +, − and reset buttons do the same from the keyboard.
import { memo, type PointerEvent as ReactPointerEvent, useEffect, useMemo, useRef, useState } from "react";
import type { FlowRunGraph } from "../api";
import { stateColor } from "../format";
import { navigate } from "../router";
import { type Layout, layoutGraph, NODE_HEIGHT, NODE_WIDTH } from "./graphLayout";

const MAX_HEIGHT = 520;
const MIN_SCALE = 0.1;
const MAX_SCALE = 4;
const STEP = 1.25;
/** Pixels a press may move and still be a click (on a subflow node), not a drag. */
const CLICK_SLOP = 4;

/** Scale `k`, then shift by (`x`, `y`): a point p of the graph is drawn at p·k + (x, y). */
export interface View { k: number; x: number; y: number }
const IDENTITY: View = { k: 1, x: 0, y: 0 };

/** `view` zoomed by `factor` around the viewport point (`px`, `py`), which stays put. */
export function zoomAt(view: View, factor: number, px: number, py: number): View {
  const k = Math.min(MAX_SCALE, Math.max(MIN_SCALE, view.k * factor));
  const ratio = k / view.k;
  return { k, x: px - (px - view.x) * ratio, y: py - (py - view.y) * ratio };
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

export const TaskGraph = memo(function TaskGraph(props: { graph: FlowRunGraph }) {
  const layout: Layout = useMemo(() => layoutGraph(props.graph), [props.graph]);
  const [view, setView] = useState<View>(IDENTITY);
  const svg = useRef<SVGSVGElement>(null);
  const drag = useRef<{ id: number; startX: number; startY: number; from: View; moved: boolean } | null>(null);
  const dragged = useRef(false);
  const empty = layout.nodes.length === 0;

  // React's wheel listener is passive (it cannot stop the page scrolling): add our own.
  useEffect(() => {
    const element = svg.current;
    if (!element) return undefined;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const box = element.getBoundingClientRect();
      const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      const factor = Math.exp(-Math.max(-500, Math.min(500, delta)) * 0.002);
      setView((current) => zoomAt(current, factor, event.clientX - box.left, event.clientY - box.top));
    };
    element.addEventListener("wheel", onWheel, { passive: false });
    return () => element.removeEventListener("wheel", onWheel);
  }, [empty]);

  if (empty) return <div className="empty">No task runs.</div>;

  const height = Math.min(layout.height, MAX_HEIGHT);
  const zoomBy = (factor: number) => {
    const box = svg.current?.getBoundingClientRect();
    setView((current) => zoomAt(current, factor, (box?.width ?? 0) / 2, (box?.height ?? height) / 2));
  };
  const onPointerDown = (event: ReactPointerEvent<SVGSVGElement>) => {
    if (event.button !== 0) return;
    drag.current = { id: event.pointerId, startX: event.clientX, startY: event.clientY, from: view, moved: false };
    dragged.current = false;
  };
  const onPointerMove = (event: ReactPointerEvent<SVGSVGElement>) => {
    const current = drag.current;
    if (!current || current.id !== event.pointerId) return;
    const dx = event.clientX - current.startX;
    const dy = event.clientY - current.startY;
    if (!current.moved && Math.hypot(dx, dy) < CLICK_SLOP) return;
    if (!current.moved) {
      current.moved = true;
      event.currentTarget.setPointerCapture(event.pointerId);
    }
    setView({ ...current.from, x: current.from.x + dx, y: current.from.y + dy });
  };
  const onPointerUp = (event: ReactPointerEvent<SVGSVGElement>) => {
    const current = drag.current;
    if (!current || current.id !== event.pointerId) return;
    dragged.current = current.moved;
    drag.current = null;
    if (event.currentTarget.hasPointerCapture(event.pointerId)) {
      event.currentTarget.releasePointerCapture(event.pointerId);
    }
  };
  const transform = `translate(${round(view.x)},${round(view.y)}) scale(${round(view.k)})`;

  return (
    <div className="graph-view">
      <div className="graph-zoom" role="group" aria-label="Zoom the task graph">
        <button type="button" data-testid="graph-zoom-in" title="Zoom in" aria-label="Zoom in"
          onClick={() => zoomBy(STEP)}>+</button>
        <button type="button" data-testid="graph-zoom-out" title="Zoom out" aria-label="Zoom out"
          onClick={() => zoomBy(1 / STEP)}>−</button>
        <button type="button" data-testid="graph-zoom-reset" title="Reset zoom and position"
          onClick={() => setView(IDENTITY)}>reset</button>
        <span className="muted" data-testid="graph-zoom-level">{Math.round(view.k * 100)}%</span>
      </div>
      <svg ref={svg} width="100%" height={height} data-testid="task-graph" role="img"
        className={drag.current?.moved ? "graph-canvas dragging" : "graph-canvas"}
        aria-label={`Task graph with ${layout.nodes.length} task runs`}
        onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
        onClickCapture={(event) => {
          // the click that ends a drag does not open a subflow
          if (dragged.current) {
            event.stopPropagation();
            dragged.current = false;
          }
        }}>
        <defs>
          <marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L6,3 L0,6 z" fill="#9aa0ad" />
          </marker>
        </defs>
        <g data-testid="graph-viewport" transform={transform}>
          <Drawing layout={layout} />
        </g>
      </svg>
    </div>
  );
});

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Edges and nodes, memoized apart from the view so panning does not re-render 1,000 of them. */
const Drawing = memo(function Drawing(props: { layout: Layout }) {
  return (
    <>
      <g className="edges">
        {props.layout.edges.map((edge) => {
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
        {props.layout.nodes.map(({ node, x, y }) => (
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
    </>
  );
});

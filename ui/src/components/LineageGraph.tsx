// The global asset lineage graph as one SVG: a node per asset coloured by its health, an
// edge per upstream → downstream link. Wheel or the buttons zoom, dragging pans, a click
// opens the asset's page, hovering (or focusing) a node highlights everything up- and
// downstream of it.
//
// Speed at 500 assets / 2,000 edges: the layout is computed once per graph shape, the
// nodes and edges are one memoised scene that zooming, panning and hovering never
// re-render (a view change rewrites one transform; a hover draws its few highlighted
// nodes and edges on an overlay that ignores the pointer). Loaded on first use, with dagre.
import { memo, type MouseEvent, type PointerEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Asset, AssetLineage } from "../api";
import { navigate } from "../router";
import { assetPath } from "../urls";
import { healthColor } from "./AssetHealth";
import { LINEAGE_NODE_HEIGHT as HEIGHT, LINEAGE_NODE_WIDTH as WIDTH, type LineageLayout, layoutLineage } from "./LineageLayout";

const VIEW_HEIGHT = 640;
const MIN_SCALE = 0.03;
const MAX_SCALE = 3;
const DRAG_THRESHOLD = 4;

interface View { x: number; y: number; k: number }

const LABEL_LENGTH = 25;

/** The asset's name, or its key's end (`…/raw/orders.parquet`: the start is often shared). */
function label(asset: Asset): string {
  if (asset.name) return asset.name.length > LABEL_LENGTH ? `${asset.name.slice(0, LABEL_LENGTH - 1)}…` : asset.name;
  return asset.key.length > LABEL_LENGTH ? `…${asset.key.slice(-(LABEL_LENGTH - 1))}` : asset.key;
}

function clampScale(k: number): number {
  return Math.min(MAX_SCALE, Math.max(MIN_SCALE, k));
}

/** Every node reachable from `start` through `next` (not `start` itself). */
function reach(start: string, next: Map<string, string[]>): Set<string> {
  const found = new Set<string>();
  const stack = [start];
  while (stack.length) {
    for (const other of next.get(stack.pop()!) ?? []) {
      if (!found.has(other) && other !== start) {
        found.add(other);
        stack.push(other);
      }
    }
  }
  return found;
}

function NodeBox(props: { asset: Asset; x: number; y: number }) {
  const { asset, x, y } = props;
  const color = healthColor(asset.health);
  return (
    <g transform={`translate(${x},${y})`}>
      <rect width={WIDTH} height={HEIGHT} rx={5} fill="#fff" stroke={color} strokeWidth={1.5} />
      <rect width={7} height={HEIGHT} rx={2} fill={color} />
      <text x={13} y={HEIGHT / 2 + 4} fontSize={12}>{label(asset)}</text>
    </g>
  );
}

const Scene = memo(function Scene(props: { layout: LineageLayout; assets: Map<string, Asset> }) {
  const { layout, assets } = props;
  return (
    <>
      <g className="lineage-edges">
        {layout.edges.map((edge) => <path key={`${edge.upstream}\u0000${edge.downstream}`} d={edge.d} markerEnd="url(#lineage-arrow)" />)}
      </g>
      <g className="lineage-nodes">
        {[...layout.positions].map(([key, at]) => {
          const asset = assets.get(key)!;
          return (
            <a key={key} href={assetPath(key)} data-testid="lineage-node" data-key={key} data-health={asset.health}
              className="lineage-node">
              <title>{`${key}\nhealth: ${asset.health}`}</title>
              <NodeBox asset={asset} x={at.x} y={at.y} />
            </a>
          );
        })}
      </g>
    </>
  );
});

/** The hovered node, its up- and downstream nodes and the edges between them, drawn over
 * the dimmed scene. */
function Highlight(props: {
  hovered: string; layout: LineageLayout; assets: Map<string, Asset>;
  upstream: Map<string, string[]>; downstream: Map<string, string[]>;
}) {
  const { hovered, layout, assets } = props;
  const above = useMemo(() => reach(hovered, props.upstream), [hovered, props.upstream]);
  const below = useMemo(() => reach(hovered, props.downstream), [hovered, props.downstream]);
  const edges = layout.edges.filter((edge) =>
    (above.has(edge.upstream) && (edge.downstream === hovered || above.has(edge.downstream)))
    || (below.has(edge.downstream) && (edge.upstream === hovered || below.has(edge.upstream))));
  const keys = [hovered, ...above, ...below];
  return (
    <g className="lineage-highlight" data-testid="lineage-highlight" data-key={hovered}
      data-upstream={above.size} data-downstream={below.size}>
      <g className="lineage-edges">
        {edges.map((edge) => <path key={`${edge.upstream}\u0000${edge.downstream}`} d={edge.d} markerEnd="url(#lineage-arrow-on)" />)}
      </g>
      {keys.map((key) => {
        const at = layout.positions.get(key)!;
        return (
          <g key={key} data-key={key} className={key === hovered ? "hovered" : undefined}>
            <NodeBox asset={assets.get(key)!} x={at.x} y={at.y} />
          </g>
        );
      })}
    </g>
  );
}

/** `focus`: an asset to centre and highlight (a hovered one is highlighted instead while
 * the pointer is on it); `onFind`: called with the asset a search in the find box found. */
export default function LineageGraph(props: {
  lineage: AssetLineage; focus?: string | null; onFind?: (key: string) => void;
}) {
  const { nodes, edges } = props.lineage;
  // the layout depends on the graph's shape only: a health change does not redo it
  const shape = useMemo(
    () => nodes.map((node) => node.key).join("\n") + "\u0000" + edges.map((e) => `${e.upstream}\n${e.downstream}`).join("\n"),
    [nodes, edges],
  );
  const { layout, layoutMs } = useMemo(() => {
    const start = performance.now();
    const computed = layoutLineage(nodes.map((node) => node.key), edges);
    return { layout: computed, layoutMs: performance.now() - start };
  }, [shape]); // eslint-disable-line react-hooks/exhaustive-deps
  const assets = useMemo(() => new Map(nodes.map((node) => [node.key, node])), [nodes]);
  const [upstream, downstream] = useMemo(() => {
    const up = new Map<string, string[]>();
    const down = new Map<string, string[]>();
    for (const edge of layout.edges) {
      (up.get(edge.downstream) ?? up.set(edge.downstream, []).get(edge.downstream)!).push(edge.upstream);
      (down.get(edge.upstream) ?? down.set(edge.upstream, []).get(edge.upstream)!).push(edge.downstream);
    }
    return [up, down];
  }, [layout]);

  const svgRef = useRef<SVGSVGElement>(null);
  const [view, setView] = useState<View>({ x: 0, y: 0, k: 1 });
  const [hovered, setHovered] = useState<string | null>(null);
  const drag = useRef<{ startX: number; startY: number; view: View; moved: boolean; pointer: number } | null>(null);
  const dragged = useRef(false);

  // when the nodes were first on screen, in ms since the page's navigation (tests and
  // benchmarks/workloads/assets_lineage.py read it)
  useEffect(() => {
    const frame = requestAnimationFrame(() => {
      svgRef.current?.setAttribute("data-drawn-ms", String(Math.round(performance.now())));
    });
    return () => cancelAnimationFrame(frame);
  }, [layout]);

  const fit = useCallback(() => {
    const width = svgRef.current?.clientWidth || 1000;
    const k = clampScale(Math.min((width - 20) / layout.width, (VIEW_HEIGHT - 20) / layout.height, 1));
    setView({ k, x: (width - layout.width * k) / 2, y: (VIEW_HEIGHT - layout.height * k) / 2 });
  }, [layout]);
  const focus = props.focus && layout.positions.has(props.focus) ? props.focus : null;
  useEffect(() => {
    const at = focus ? layout.positions.get(focus) : undefined;
    if (!at) {
      fit();
      return;
    }
    const width = svgRef.current?.clientWidth || 1000;
    setView({ k: 1, x: width / 2 - (at.x + WIDTH / 2), y: VIEW_HEIGHT / 2 - (at.y + HEIGHT / 2) });
  }, [fit, focus, layout]);
  const [find, setFind] = useState("");
  const [notFound, setNotFound] = useState(false);
  const onFind = () => {
    const text = find.trim().toLowerCase();
    if (!text) return;
    const match = nodes.find((node) => node.key.toLowerCase().includes(text) || (node.name ?? "").toLowerCase().includes(text));
    setNotFound(!match);
    if (match) props.onFind?.(match.key);
  };

  const zoomAt = useCallback((factor: number, cx?: number, cy?: number) => {
    setView((current) => {
      const width = svgRef.current?.clientWidth || 1000;
      const px = cx ?? width / 2;
      const py = cy ?? VIEW_HEIGHT / 2;
      const k = clampScale(current.k * factor);
      return { k, x: px - ((px - current.x) * k) / current.k, y: py - ((py - current.y) * k) / current.k };
    });
  }, []);

  // React's wheel listener is passive: a native one may stop the page from scrolling
  useEffect(() => {
    const svg = svgRef.current;
    if (!svg) return undefined;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const box = svg.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left, event.clientY - box.top);
    };
    svg.addEventListener("wheel", onWheel, { passive: false });
    return () => svg.removeEventListener("wheel", onWheel);
  }, [zoomAt]);

  const onPointerDown = (event: PointerEvent<SVGSVGElement>) => {
    if (event.button !== 0) return;
    dragged.current = false;
    drag.current = { startX: event.clientX, startY: event.clientY, view, moved: false, pointer: event.pointerId };
  };
  const onPointerMove = (event: PointerEvent<SVGSVGElement>) => {
    const state = drag.current;
    if (!state) return;
    const dx = event.clientX - state.startX;
    const dy = event.clientY - state.startY;
    if (!state.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
    if (!state.moved) {
      state.moved = true;
      dragged.current = true;
      event.currentTarget.setPointerCapture(state.pointer);
    }
    setView({ ...state.view, x: state.view.x + dx, y: state.view.y + dy });
  };
  const endDrag = (event: PointerEvent<SVGSVGElement>) => {
    if (drag.current?.moved && event.currentTarget.hasPointerCapture(drag.current.pointer)) {
      event.currentTarget.releasePointerCapture(drag.current.pointer);
    }
    drag.current = null;
  };
  const onClick = (event: MouseEvent<SVGSVGElement>) => {
    const link = (event.target as Element).closest("[data-testid=lineage-node]");
    if (!link) return;
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return; // a new tab: the href
    event.preventDefault();
    if (dragged.current) return; // the end of a pan, not a click
    navigate(assetPath(link.getAttribute("data-key")!));
  };
  const onMouseOver = (event: { target: EventTarget }) => {
    if (drag.current?.moved) return;
    const node = (event.target as Element).closest("[data-testid=lineage-node]");
    setHovered(node ? node.getAttribute("data-key") : null);
  };

  const highlighted = hovered && layout.positions.has(hovered) ? hovered : focus;
  if (nodes.length === 0) return null;
  return (
    <div className="lineage">
      <div className="lineage-toolbar">
        <button onClick={() => zoomAt(1.25)} aria-label="Zoom in" title="Zoom in">+</button>
        <button onClick={() => zoomAt(0.8)} aria-label="Zoom out" title="Zoom out">−</button>
        <button onClick={fit} title="Fit the whole graph">Fit</button>
        {props.onFind ? (
          <input type="search" placeholder="Find an asset" aria-label="Find an asset" value={find}
            onChange={(event) => setFind(event.target.value)}
            onKeyDown={(event) => { if (event.key === "Enter") onFind(); }} />
        ) : null}
        {notFound ? <span className="muted" role="status">No asset matches.</span> : null}
        <span className="muted" data-testid="lineage-summary">
          {nodes.length.toLocaleString()} assets · {layout.edges.length.toLocaleString()} edges · zoom {Math.round(view.k * 100)}%
          · wheel to zoom, drag to pan, click an asset to open it
        </span>
      </div>
      <svg ref={svgRef} width="100%" height={VIEW_HEIGHT} data-testid="lineage-graph" role="group"
        aria-label={`Asset lineage: ${nodes.length} assets, ${layout.edges.length} edges`}
        data-engine={layout.engine} data-layout-ms={Math.round(layoutMs)} data-scale={view.k.toFixed(3)}
        className={highlighted ? "lineage-svg dimmed" : "lineage-svg"}
        onPointerDown={onPointerDown} onPointerMove={onPointerMove} onPointerUp={endDrag} onPointerCancel={endDrag}
        onClick={onClick} onMouseOver={onMouseOver} onMouseLeave={() => setHovered(null)}
        onFocus={onMouseOver} onBlur={() => setHovered(null)}
        onDragStart={(event) => event.preventDefault()}>
        <defs>
          <marker id="lineage-arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L6,3 L0,6 z" fill="#9aa0ad" />
          </marker>
          <marker id="lineage-arrow-on" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L6,3 L0,6 z" fill="#2f7de1" />
          </marker>
        </defs>
        <g transform={`translate(${view.x},${view.y}) scale(${view.k})`}>
          <g className="lineage-scene"><Scene layout={layout} assets={assets} /></g>
          {highlighted ? (
            <Highlight hovered={highlighted} layout={layout} assets={assets} upstream={upstream} downstream={downstream} />
          ) : null}
        </g>
      </svg>
    </div>
  );
}

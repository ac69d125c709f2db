// The asset lineage graph's layout, left (upstream) to right (downstream).
//
// Small graphs are laid out by dagre (@dagrejs/dagre: network-simplex layers, crossing
// minimisation, routed edges). Its cost grows with the nodes plus the dummy nodes its long
// edges need, and it does not scale to the catalogue sizes the page must handle: measured in
// Node 20, 500 assets / 2,000 edges take 0.6 s (edges between neighbouring layers) to 9 s
// (edges spanning many layers). Past DAGRE_LIMIT, the graph gets the linear layered layout
// the task graph uses (graphLayout.ts: longest-path layers) plus a few barycenter sweeps
// that order each layer by its neighbours' positions: milliseconds at that size.
// Assets linked to no other go in a grid under the graph.
import dagre from "@dagrejs/dagre";
import type { AssetEdge } from "../api";
import { longestPathDepths } from "./graphLayout";

export const LINEAGE_NODE_WIDTH = 180;
export const LINEAGE_NODE_HEIGHT = 28;
const LAYER_GAP = 70;
const ROW_GAP = 10;
const MARGIN = 20;
const SWEEPS = 4;
/** The most nodes + dummy nodes (one per layer a long edge crosses) dagre is given. */
export const DAGRE_LIMIT = 400;

export interface LineageEdgePath { upstream: string; downstream: string; d: string }

export interface LineageLayout {
  /** Each asset key's top-left corner. */
  positions: Map<string, { x: number; y: number }>;
  edges: LineageEdgePath[];
  width: number;
  height: number;
  engine: "dagre" | "layered";
}

/** The distinct edges between known keys, self-loops dropped. */
function cleanEdges(keys: Set<string>, edges: AssetEdge[]): AssetEdge[] {
  const seen = new Set<string>();
  const kept: AssetEdge[] = [];
  for (const edge of edges) {
    if (edge.upstream === edge.downstream || !keys.has(edge.upstream) || !keys.has(edge.downstream)) continue;
    const pair = `${edge.upstream}\u0000${edge.downstream}`;
    if (seen.has(pair)) continue;
    seen.add(pair);
    kept.push(edge);
  }
  return kept;
}

function curve(x1: number, y1: number, x2: number, y2: number): string {
  const mid = (x1 + x2) / 2;
  return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
}

export function layoutLineage(keys: string[], rawEdges: AssetEdge[]): LineageLayout {
  const edges = cleanEdges(new Set(keys), rawEdges);
  const linked = new Set<string>();
  const upstream = new Map<string, string[]>();
  for (const edge of edges) {
    linked.add(edge.upstream);
    linked.add(edge.downstream);
    const list = upstream.get(edge.downstream);
    if (list) list.push(edge.upstream);
    else upstream.set(edge.downstream, [edge.upstream]);
  }
  const connected = keys.filter((key) => linked.has(key));
  const depth = longestPathDepths(connected, upstream);
  let cost = connected.length;
  for (const edge of edges) cost += Math.max(0, (depth.get(edge.downstream) ?? 0) - (depth.get(edge.upstream) ?? 0) - 1);
  const graph = connected.length === 0 ? { positions: new Map(), edges: [], width: 0, height: 0, engine: "layered" as const }
    : cost <= DAGRE_LIMIT ? dagreLayout(connected, edges) : layeredLayout(connected, edges, depth);
  return placeIsolated(graph, keys.filter((key) => !linked.has(key)).sort());
}

/** Assets linked to no other in a grid under the graph: in its layers they would make one
 * tall column of unrelated nodes. */
function placeIsolated(graph: LineageLayout, isolated: string[]): LineageLayout {
  if (isolated.length === 0) return graph;
  const columnWidth = LINEAGE_NODE_WIDTH + LAYER_GAP / 2;
  const rowHeight = LINEAGE_NODE_HEIGHT + ROW_GAP;
  const columns = Math.max(
    1, Math.floor((graph.width - 2 * MARGIN + LAYER_GAP / 2) / columnWidth), Math.ceil(Math.sqrt(isolated.length / 3)),
  );
  const top = graph.positions.size ? graph.height + LAYER_GAP / 2 - MARGIN : MARGIN;
  isolated.forEach((key, index) => {
    graph.positions.set(key, { x: MARGIN + (index % columns) * columnWidth, y: top + Math.floor(index / columns) * rowHeight });
  });
  const rows = Math.ceil(isolated.length / columns);
  return {
    ...graph,
    width: Math.max(graph.width, 2 * MARGIN + columns * columnWidth - LAYER_GAP / 2),
    height: top + rows * rowHeight - ROW_GAP + MARGIN,
  };
}

function dagreLayout(keys: string[], edges: AssetEdge[]): LineageLayout {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: ROW_GAP, ranksep: LAYER_GAP, marginx: MARGIN, marginy: MARGIN });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const key of keys) graph.setNode(key, { width: LINEAGE_NODE_WIDTH, height: LINEAGE_NODE_HEIGHT });
  for (const edge of edges) graph.setEdge(edge.upstream, edge.downstream);
  dagre.layout(graph);
  const positions = new Map<string, { x: number; y: number }>();
  for (const key of keys) {
    const node = graph.node(key);
    // dagre places nodes by their centre
    positions.set(key, { x: (node.x ?? 0) - LINEAGE_NODE_WIDTH / 2, y: (node.y ?? 0) - LINEAGE_NODE_HEIGHT / 2 });
  }
  const paths = edges.map((edge) => {
    const points: { x: number; y: number }[] = graph.edge(edge.upstream, edge.downstream)?.points ?? [];
    const d = points.length >= 2 ? smooth(points) : straight(positions, edge);
    return { ...edge, d };
  });
  const label = graph.graph();
  return {
    positions, edges: paths, engine: "dagre",
    width: Math.max(label.width ?? 0, LINEAGE_NODE_WIDTH + 2 * MARGIN),
    height: Math.max(label.height ?? 0, LINEAGE_NODE_HEIGHT + 2 * MARGIN),
  };
}

/** A smooth path through dagre's route: each bend a quadratic curve to the next midpoint. */
function smooth(points: { x: number; y: number }[]): string {
  let d = `M${points[0].x},${points[0].y}`;
  for (let index = 1; index < points.length - 1; index += 1) {
    const point = points[index];
    const next = points[index + 1];
    d += ` Q${point.x},${point.y} ${(point.x + next.x) / 2},${(point.y + next.y) / 2}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}

function straight(positions: Map<string, { x: number; y: number }>, edge: AssetEdge): string {
  const from = positions.get(edge.upstream)!;
  const to = positions.get(edge.downstream)!;
  return curve(from.x + LINEAGE_NODE_WIDTH, from.y + LINEAGE_NODE_HEIGHT / 2, to.x, to.y + LINEAGE_NODE_HEIGHT / 2);
}

function layeredLayout(keys: string[], edges: AssetEdge[], depth: Map<string, number>): LineageLayout {
  const layers: string[][] = [];
  for (const key of [...keys].sort()) (layers[depth.get(key) ?? 0] ??= []).push(key);
  const dense = layers.filter((layer) => layer !== undefined);
  const neighbours = new Map<string, string[]>();
  for (const edge of edges) {
    (neighbours.get(edge.upstream) ?? neighbours.set(edge.upstream, []).get(edge.upstream)!).push(edge.downstream);
    (neighbours.get(edge.downstream) ?? neighbours.set(edge.downstream, []).get(edge.downstream)!).push(edge.upstream);
  }
  // Barycenter sweeps: order each layer by the mean position of its nodes' neighbours
  // (a node's position being its row as a fraction of its layer), left to right then back.
  const position = new Map<string, number>();
  const place = (layer: string[]) => layer.forEach((key, row) => position.set(key, (row + 0.5) / layer.length));
  dense.forEach(place);
  for (let sweep = 0; sweep < SWEEPS; sweep += 1) {
    const order = sweep % 2 === 0 ? dense : [...dense].reverse();
    for (const layer of order) {
      const weight = new Map<string, number>();
      for (const key of layer) {
        const around = neighbours.get(key);
        if (!around?.length) {
          weight.set(key, position.get(key)!);
          continue;
        }
        let sum = 0;
        for (const other of around) sum += position.get(other)!;
        weight.set(key, sum / around.length);
      }
      layer.sort((a, b) => weight.get(a)! - weight.get(b)! || (a < b ? -1 : 1));
      place(layer);
    }
  }
  const tallest = Math.max(1, ...dense.map((layer) => layer.length));
  const rowHeight = LINEAGE_NODE_HEIGHT + ROW_GAP;
  const positions = new Map<string, { x: number; y: number }>();
  dense.forEach((layer, column) => {
    const top = ((tallest - layer.length) * rowHeight) / 2; // each layer centred
    layer.forEach((key, row) => {
      positions.set(key, { x: MARGIN + column * (LINEAGE_NODE_WIDTH + LAYER_GAP), y: MARGIN + top + row * rowHeight });
    });
  });
  return {
    positions,
    edges: edges.map((edge) => ({ ...edge, d: straight(positions, edge) })),
    width: 2 * MARGIN + dense.length * (LINEAGE_NODE_WIDTH + LAYER_GAP) - LAYER_GAP,
    height: 2 * MARGIN + tallest * rowHeight - ROW_GAP,
    engine: "layered",
  };
}

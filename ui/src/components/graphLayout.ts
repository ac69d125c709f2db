// A layered layout for a flow run's task graph, linear in nodes + edges so 1,000+ task
// runs lay out in a few milliseconds: each node's column is its longest path from a
// source (dependency order, left to right); tall columns wrap into several.
import type { FlowRunGraph, GraphNode } from "../api";

export const NODE_WIDTH = 170;
export const NODE_HEIGHT = 26;
const COLUMN_GAP = 50;
const ROW_GAP = 8;
const MAX_PER_COLUMN = 30;

export interface PlacedNode { node: GraphNode; x: number; y: number }
export interface PlacedEdge { from: PlacedNode; to: PlacedNode; key: string }
export interface Layout { nodes: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number }

/** Each node's layer: the length of its longest path from a source, computed
 * iteratively (deep chains must not overflow the stack); a cycle is cut where it is met.
 * Linear in nodes + edges. `upstream` maps a node to the nodes it depends on. */
export function longestPathDepths(ids: string[], upstream: Map<string, string[]>): Map<string, number> {
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  for (const start of ids) {
    if (depth.has(start)) continue;
    const stack: [string, number][] = [[start, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [id, index] = top;
      const parents = upstream.get(id) ?? [];
      if (index === 0) visiting.add(id);
      if (index < parents.length) {
        top[1] = index + 1;
        const parent = parents[index];
        if (!depth.has(parent) && !visiting.has(parent)) stack.push([parent, 0]);
        continue;
      }
      let level = 0;
      for (const parent of parents) level = Math.max(level, (depth.get(parent) ?? -1) + 1);
      depth.set(id, level);
      visiting.delete(id);
      stack.pop();
    }
  }
  return depth;
}

export function layoutGraph(graph: FlowRunGraph): Layout {
  const byId = new Map<string, GraphNode>();
  // A subflow's run id stands for the task run that started it.
  const alias = new Map<string, string>();
  for (const node of graph.nodes) {
    byId.set(node.id, node);
    if (node.subflow_run_id) alias.set(node.subflow_run_id, node.id);
  }
  const resolve = (id: string | null): string | undefined => {
    if (!id) return undefined;
    if (byId.has(id)) return id;
    return alias.get(id);
  };
  const upstream = new Map<string, string[]>();
  const pairs = new Set<string>();
  for (const edge of graph.edges) {
    const from = resolve(edge.upstream_node_id) ?? resolve(edge.upstream_id);
    const to = resolve(edge.downstream_id);
    if (!from || !to || from === to) continue;
    const pair = `${from}>${to}`;
    if (pairs.has(pair)) continue;
    pairs.add(pair);
    const list = upstream.get(to);
    if (list) list.push(from);
    else upstream.set(to, [from]);
  }

  const depth = longestPathDepths(graph.nodes.map((node) => node.id), upstream);

  const layers: GraphNode[][] = [];
  for (const node of graph.nodes) {
    const level = depth.get(node.id) ?? 0;
    (layers[level] ??= []).push(node);
  }
  const startOf = (node: GraphNode) => (node.start_time ? Date.parse(node.start_time) : Infinity);
  const placed = new Map<string, PlacedNode>();
  let column = 0;
  let tallest = 0;
  for (const layer of layers) {
    if (!layer) continue;
    layer.sort((a, b) => startOf(a) - startOf(b) || a.name.localeCompare(b.name));
    for (let offset = 0; offset < layer.length; offset += MAX_PER_COLUMN) {
      const slice = layer.slice(offset, offset + MAX_PER_COLUMN);
      slice.forEach((node, row) => {
        placed.set(node.id, {
          node,
          x: column * (NODE_WIDTH + COLUMN_GAP) + 10,
          y: row * (NODE_HEIGHT + ROW_GAP) + 10,
        });
      });
      tallest = Math.max(tallest, slice.length);
      column += 1;
    }
  }
  const edges: PlacedEdge[] = [];
  for (const pair of pairs) {
    const [from, to] = pair.split(">");
    const a = placed.get(from);
    const b = placed.get(to);
    if (a && b) edges.push({ from: a, to: b, key: pair });
  }
  return {
    nodes: [...placed.values()],
    edges,
    width: Math.max(column, 1) * (NODE_WIDTH + COLUMN_GAP) + 20,
    height: Math.max(tallest, 1) * (NODE_HEIGHT + ROW_GAP) + 20,
  };
}

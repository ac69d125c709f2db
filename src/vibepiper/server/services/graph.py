"""A flow run's graph: its task runs, the edges between them and links to subflows."""

from __future__ import annotations

import uuid

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs, task_runs
from vibepiper.states import StateType


async def flow_run_graph(db: Database, run_id: uuid.UUID) -> api.FlowRunGraph:
    """Nodes are the run's task runs; edges come from their recorded inputs.

    A subflow appears as the task run standing for it (its `subflow_run_id` names
    the child flow run); an edge from a subflow's result points at that node.
    """
    async with db.read() as connection:
        if await flow_runs.get(connection, run_id) is None:
            raise ObjectNotFound(f"flow run {run_id} not found")
        rows = await task_runs.of_flow_run(connection, run_id)
        inputs = await task_runs.inputs_of(connection, [row["id"] for row in rows])
    nodes = [
        api.GraphNode(
            id=row["id"],
            name=row["name"],
            task_key=row["task_key"],
            state_type=StateType(row["state_type"]) if row["state_type"] else None,
            state_name=row["state_name"],
            start_time=row["start_time"],
            end_time=row["end_time"],
            subflow_run_id=row["subflow_run_id"],
        )
        for row in rows
    ]
    node_ids = {node.id for node in nodes}
    proxies = {node.subflow_run_id: node.id for node in nodes if node.subflow_run_id}
    edges: list[api.GraphEdge] = []
    for node in nodes:
        for edge in inputs.get(node.id, []):
            upstream = edge["upstream_id"]
            if upstream is None or edge["input_type"] == "parameter":
                continue
            if edge["input_type"] == "flow_run":
                upstream_node = proxies.get(upstream)
            else:
                upstream_node = upstream if upstream in node_ids else None
            edges.append(
                api.GraphEdge(
                    upstream_id=upstream,
                    downstream_id=node.id,
                    parameter=edge["parameter"],
                    input_type=edge["input_type"],
                    upstream_node_id=upstream_node,
                )
            )
    return api.FlowRunGraph(flow_run_id=run_id, nodes=nodes, edges=edges)

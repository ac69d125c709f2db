"""Runs recorded by the engine in the embedded store are served over the same file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.server.conftest import ApiClient


def test_engine_runs_are_listed_with_tasks_states_logs_and_graph(
    vibepiper_home: Path, start_api: Callable[..., ApiClient]
) -> None:
    from vibepiper import flow, get_run_logger, task
    from vibepiper.store import reset_store

    @task
    def extract(n: int) -> list[int]:
        return list(range(n))

    @task
    def total(rows: list[int]) -> int:
        get_run_logger().info("summing %d rows", len(rows))
        return sum(rows)

    @flow
    def child(x: int) -> int:
        return x * 2

    @flow(name="embedded-etl")
    def etl(n: int) -> int:
        rows = extract.submit(n)
        subtotal = total.submit(rows)
        doubled = child(subtotal.result(), return_state=True)
        return total.submit([doubled]).result()

    assert etl(4) == 12
    reset_store()  # flush and close: the server reads what another process wrote

    from vibepiper.server.settings import load_server_settings

    settings = load_server_settings()
    assert settings.database_url.endswith(str(vibepiper_home / "vibepiper.db"))
    api = start_api(settings.database_url)

    runs = api.post("/api/flow_runs/filter", json={"flow_name": ["embedded-etl"]}).json()
    assert len(runs) == 1
    run: dict[str, Any] = runs[0]
    assert (run["state_type"], run["parameters"]) == ("COMPLETED", {"n": 4})
    states = api.get(f"/api/flow_runs/{run['id']}/states").json()
    assert [state["type"] for state in states][-2:] == ["RUNNING", "COMPLETED"]

    tasks = api.post("/api/task_runs/filter", json={"flow_run_id": [run["id"]]}).json()
    assert [t["task_key"].split(".")[-1] for t in tasks][:2] == ["extract", "total"]
    assert all(t["state_type"] == "COMPLETED" for t in tasks)

    logs = api.post("/api/logs/filter", json={"flow_run_id": [run["id"]]}).json()
    assert any(line["message"] == "summing 4 rows" for line in logs)

    graph = api.get(f"/api/flow_runs/{run['id']}/graph").json()
    by_id = {node["id"]: node for node in graph["nodes"]}
    proxy = next(node for node in graph["nodes"] if node["subflow_run_id"])
    subflows = api.post("/api/flow_runs/filter", json={"parent_flow_run_id": run["id"]}).json()
    assert [sub["id"] for sub in subflows] == [proxy["subflow_run_id"]]
    edges = {
        (by_id[e["downstream_id"]]["name"], e["parameter"], e["input_type"], e["upstream_node_id"])
        for e in graph["edges"]
    }
    extract_id = next(node["id"] for node in graph["nodes"] if node["name"] == "extract-0")
    assert edges == {
        ("total-0", "rows", "task_run", extract_id),
        ("total-1", "rows", "flow_run", proxy["id"]),
    }

    # the server writes to the same file the engine reads
    url = f"/api/flow_runs/{run['id']}/set_state"
    assert api.post(url, json={"state": {"type": "RUNNING"}}).json()["status"] == "REJECT"

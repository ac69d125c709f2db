"""Task runs, logs and the run graph over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.server.conftest import ApiClient

NewRun = Callable[..., dict[str, Any]]


def _task(api: ApiClient, flow_run_id: str, name: str, **fields: Any) -> dict[str, Any]:
    response = api.post(
        "/api/task_runs/",
        json={"flow_run_id": flow_run_id, "name": name, "task_key": name.split("-")[0], **fields},
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def test_task_run_create_read_and_states(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    task = _task(api, run["id"], "extract-0", tags=["io"], state={"type": "PENDING"})
    assert task["task_name"] == "extract-0"
    assert api.get(f"/api/task_runs/{task['id']}").json()["tags"] == ["io"]
    url = f"/api/task_runs/{task['id']}/set_state"
    assert api.post(url, json={"state": {"type": "RUNNING"}}).json()["status"] == "ACCEPT"
    assert api.post(url, json={"state": {"type": "COMPLETED"}}).json()["status"] == "ACCEPT"
    rejected = api.post(url, json={"state": {"type": "RUNNING"}}).json()
    assert rejected["status"] == "REJECT"
    read = api.get(f"/api/task_runs/{task['id']}").json()
    assert (read["state_type"], read["run_count"]) == ("COMPLETED", 1)
    assert read["start_time"] is not None and read["end_time"] is not None
    history = api.get(f"/api/task_runs/{task['id']}/states").json()
    assert [state["type"] for state in history] == ["PENDING", "RUNNING", "COMPLETED"]


def test_task_run_of_unknown_flow_run_is_404(api: ApiClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    response = api.post(
        "/api/task_runs/", json={"flow_run_id": missing, "name": "t", "task_key": "t"}
    )
    assert response.status_code == 404
    assert missing in response.json()["detail"]


def test_filter_task_runs(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    other = new_flow_run()
    a = _task(api, run["id"], "load-0", state={"type": "COMPLETED"})
    b = _task(api, run["id"], "load-1", state={"type": "FAILED"})
    _task(api, other["id"], "load-0")

    def ids(**query: Any) -> list[str]:
        response = api.post("/api/task_runs/filter", json={"flow_run_id": [run["id"]], **query})
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()]

    assert ids() == [a["id"], b["id"]]
    assert ids(sort="CREATED_DESC") == [b["id"], a["id"]]
    assert ids(state_type=["FAILED"]) == [b["id"]]
    assert ids(task_key=["load"], limit=1, offset=1) == [b["id"]]
    count = api.post("/api/task_runs/count", json={"flow_run_id": [run["id"], other["id"]]})
    assert count.json() == 3


def test_graph_has_edges_and_subflow_links(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    extract = _task(api, run["id"], "extract-0", task_inputs={"source": []})
    child_proxy = _task(api, run["id"], "child-0")
    child = new_flow_run(parent_task_run_id=child_proxy["id"])
    api_patch = {"subflow_run_id": child["id"]}
    # the proxy's link to its subflow run is known when it is created in real runs
    proxy = _task(api, run["id"], "sub-0", **api_patch)
    load = _task(
        api,
        run["id"],
        "load-0",
        task_inputs={
            "rows": [{"input_type": "task_run", "id": extract["id"]}],
            "summary": [{"input_type": "flow_run", "id": child["id"]}],
            "day": [{"input_type": "parameter", "name": "day"}],
        },
    )
    assert api.get(f"/api/task_runs/{load['id']}").json()["task_inputs"]["day"] == [
        {"input_type": "parameter", "id": None, "name": "day"}
    ]
    graph = api.get(f"/api/flow_runs/{run['id']}/graph").json()
    assert [node["name"] for node in graph["nodes"]] == ["extract-0", "child-0", "sub-0", "load-0"]
    assert {node["id"]: node["subflow_run_id"] for node in graph["nodes"]}[proxy["id"]] == child[
        "id"
    ]
    edges = {(e["parameter"], e["input_type"], e["upstream_node_id"]) for e in graph["edges"]}
    assert edges == {("rows", "task_run", extract["id"]), ("summary", "flow_run", proxy["id"])}
    assert all(edge["downstream_id"] == load["id"] for edge in graph["edges"])


def test_logs_batch_and_filter(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    task = _task(api, run["id"], "t-0")
    lines = [
        {
            "flow_run_id": run["id"],
            "name": "flow",
            "level": 20,
            "message": "start",
            "timestamp": "2024-05-01T10:00:00Z",
        },
        {
            "flow_run_id": run["id"],
            "task_run_id": task["id"],
            "name": "task",
            "level": 40,
            "message": "boom",
            "timestamp": "2024-05-01T10:00:01Z",
        },
        {
            "flow_run_id": run["id"],
            "name": "flow",
            "level": 10,
            "message": "débug ✓",
            "timestamp": "2024-05-01T10:00:02Z",
        },
    ]
    created = api.post("/api/logs/", json=lines)
    assert (created.status_code, created.json()) == (201, {"count": 3})

    def messages(**query: Any) -> list[str]:
        response = api.post("/api/logs/filter", json={"flow_run_id": [run["id"]], **query})
        assert response.status_code == 200, response.text
        return [line["message"] for line in response.json()]

    assert messages() == ["start", "boom", "débug ✓"]
    assert messages(sort="TIMESTAMP_DESC", limit=1) == ["débug ✓"]
    assert messages(level_ge=30) == ["boom"]
    assert messages(task_run_id=[task["id"]]) == ["boom"]
    assert messages(timestamp_after="2024-05-01T10:00:01Z") == ["boom", "débug ✓"]
    assert messages(timestamp_before="2024-05-01T12:00:00.5+02:00") == ["start"]

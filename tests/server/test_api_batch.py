"""`POST /api/batch`: ordered writes in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from tests.server.conftest import ApiClient, unique


def _ops(flow: str, run_id: str, task_ids: list[str]) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = [
        {"op": "create_flow", "name": flow},
        {
            "op": "set_flow_run_state",
            "flow_run_id": run_id,
            "state": {"id": str(uuid.uuid4()), "type": "RUNNING"},
        },
    ]
    for task_id in task_ids:
        ops.append(
            {
                "op": "create_task_run",
                "task_run": {
                    "id": task_id,
                    "flow_run_id": run_id,
                    "name": "t",
                    "task_key": "t",
                    "task_inputs": {"x": [{"input_type": "parameter", "name": "x"}]},
                },
            }
        )
        for kind in ("PENDING", "RUNNING", "COMPLETED"):
            state = {"id": str(uuid.uuid4()), "type": kind}
            ops.append({"op": "set_task_run_state", "task_run_id": task_id, "state": state})
        ops.append(
            {
                "op": "create_logs",
                "logs": [
                    {
                        "flow_run_id": run_id,
                        "task_run_id": task_id,
                        "name": "n",
                        "level": 20,
                        "message": f"hello {task_id}",
                        "timestamp": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        )
    return ops


def test_batch_creates_runs_states_and_logs_in_order(api: ApiClient) -> None:
    flow = unique("flow")
    flow_id = api.post("/api/flows/", json={"name": flow}).json()["id"]
    run_id = str(uuid.uuid4())
    create_run = {"op": "create_flow_run", "flow_run": {"id": run_id, "flow_id": flow_id}}
    task_ids = [str(uuid.uuid4()) for _ in range(3)]
    ops = [create_run, *_ops(flow, run_id, task_ids)]
    response = api.post("/api/batch", json={"operations": ops})
    assert response.status_code == 200, response.text
    outcomes = response.json()["outcomes"]
    assert len(outcomes) == len(ops)
    assert {outcome["status"] for outcome in outcomes} == {"ok"}
    assert outcomes[0]["created"] is True
    # re-sent whole: nothing doubles
    again = api.post("/api/batch", json={"operations": ops}).json()["outcomes"]
    assert {outcome["status"] for outcome in again} == {"ok"}
    assert again[0]["created"] is False
    for task_id in task_ids:
        task = api.get(f"/api/task_runs/{task_id}").json()
        assert (task["state_type"], task["run_count"]) == ("COMPLETED", 1)
        inputs = {"x": [{"input_type": "parameter", "id": None, "name": "x"}]}
        assert task["task_inputs"] == inputs
        history = api.get(f"/api/task_runs/{task_id}/states").json()
        assert [state["type"] for state in history] == ["PENDING", "RUNNING", "COMPLETED"]
    logs = api.post("/api/logs/filter", json={"flow_run_id": [run_id]}).json()
    assert sorted(log["message"] for log in logs) == sorted(f"hello {t}" for t in task_ids)
    flow_run = api.get(f"/api/flow_runs/{run_id}").json()
    assert (flow_run["state_type"], flow_run["run_count"]) == ("RUNNING", 1)


def test_rejected_state_and_unknown_run_do_not_stop_the_batch(api: ApiClient) -> None:
    flow_id = api.post("/api/flows/", json={"name": unique("flow")}).json()["id"]
    run_id = str(uuid.uuid4())
    missing = str(uuid.uuid4())
    ops = [
        {"op": "create_flow_run", "flow_run": {"id": run_id, "flow_id": flow_id}},
        {"op": "set_flow_run_state", "flow_run_id": run_id, "state": {"type": "COMPLETED"}},
        {"op": "set_flow_run_state", "flow_run_id": run_id, "state": {"type": "RUNNING"}},
        {"op": "set_task_run_state", "task_run_id": missing, "state": {"type": "RUNNING"}},
        {
            "op": "set_flow_run_state",
            "flow_run_id": run_id,
            "state": {"type": "RUNNING"},
            "force": True,
        },
    ]
    outcomes = api.post("/api/batch", json={"operations": ops}).json()["outcomes"]
    assert [outcome["status"] for outcome in outcomes] == ["ok", "ok", "rejected", "error", "ok"]
    assert outcomes[2]["state"]["type"] == "COMPLETED"
    assert missing in outcomes[3]["detail"]
    assert api.get(f"/api/flow_runs/{run_id}").json()["state_type"] == "RUNNING"


def test_malformed_item_is_422_naming_index_and_field_and_writes_nothing(
    api: ApiClient,
) -> None:
    flow = unique("flow")
    ops = [
        {"op": "create_flow", "name": flow},
        {"op": "set_task_run_state", "task_run_id": "not-a-uuid", "state": {"type": "RUNNING"}},
    ]
    response = api.post("/api/batch", json={"operations": ops})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"][:3] == ["body", "operations", 1]
    assert "task_run_id" in detail[0]["field"]
    assert api.get(f"/api/flows/name/{flow}").status_code == 404


def test_too_many_operations_is_422(api: ApiClient) -> None:
    ops = [{"op": "create_flow", "name": "x"}] * 5001
    response = api.post("/api/batch", json={"operations": ops})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "operations"


def test_set_state_with_recorded_id_is_a_no_op(api: ApiClient) -> None:
    flow_id = api.post("/api/flows/", json={"name": unique("flow")}).json()["id"]
    run = api.post("/api/flow_runs/", json={"flow_id": flow_id}).json()
    url = f"/api/flow_runs/{run['id']}/set_state"
    state = {"id": str(uuid.uuid4()), "type": "RUNNING"}
    assert api.post(url, json={"state": state}).json()["status"] == "ACCEPT"
    assert api.post(url, json={"state": state}).json()["status"] == "ACCEPT"
    read = api.get(f"/api/flow_runs/{run['id']}").json()
    assert read["run_count"] == 1
    assert len(api.get(f"/api/flow_runs/{run['id']}/states").json()) == 1

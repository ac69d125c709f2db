"""`/api/work_pools` and `/api/workers` over a real app on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import ApiClient, unique


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_pool_lifecycle_with_default_queue(api: ApiClient) -> None:
    name = unique("pool")
    pool = _ok(api.post("/api/work_pools/", json={"name": name, "concurrency_limit": 3}), 201)
    assert (pool["status"], pool["concurrency_limit"], pool["type"]) == ("NOT_READY", 3, "process")
    assert api.post("/api/work_pools/", json={"name": name}).status_code == 409
    assert name in [p["name"] for p in _ok(api.get("/api/work_pools/"))]
    queues = _ok(api.get(f"/api/work_pools/{name}/queues"))
    assert [(q["name"], q["priority"], q["work_pool_name"]) for q in queues] == [
        ("default", 1, name)
    ]
    changed = _ok(
        api.request(
            "PATCH", f"/api/work_pools/{name}", json={"description": "d", "concurrency_limit": None}
        )
    )
    assert changed["description"] == "d" and changed["concurrency_limit"] is None
    assert _ok(api.post(f"/api/work_pools/{name}/pause"))["status"] == "PAUSED"
    assert _ok(api.post(f"/api/work_pools/{name}/resume"))["paused"] is False
    assert api.delete(f"/api/work_pools/{name}").status_code == 204
    missing = api.get(f"/api/work_pools/{name}")
    assert missing.status_code == 404 and name in missing.json()["detail"]


def test_queues(api: ApiClient) -> None:
    name = unique("pool")
    _ok(api.post("/api/work_pools/", json={"name": name}), 201)
    base = f"/api/work_pools/{name}/queues"
    fast = _ok(api.post(base, json={"name": "fast", "priority": 5, "concurrency_limit": 1}), 201)
    assert (fast["priority"], fast["concurrency_limit"], fast["paused"]) == (5, 1, False)
    assert api.post(base, json={"name": "fast"}).status_code == 409
    assert api.post(base, json={"name": "x", "priority": 0}).json()["detail"][0]["field"] == (
        "priority"
    )
    assert _ok(api.request("PATCH", f"{base}/fast", json={"priority": 1}))["priority"] == 1
    assert _ok(api.post(f"{base}/fast/pause"))["paused"] is True
    assert _ok(api.post(f"{base}/fast/resume"))["paused"] is False
    assert _ok(api.get(f"{base}/fast"))["name"] == "fast"
    assert api.delete(f"{base}/default").status_code == 409
    assert api.delete(f"{base}/fast").status_code == 204
    assert api.get(f"{base}/fast").status_code == 404
    assert api.get(f"/api/work_pools/{unique('nope')}/queues").status_code == 404


def test_workers_are_listed_with_the_runs_they_hold(api: ApiClient) -> None:
    name = unique("pool")
    _ok(api.post("/api/work_pools/", json={"name": name}), 201)
    deployment = _ok(
        api.post(
            "/api/deployments/",
            json={"name": "d", "flow_name": unique("flow"), "work_pool_name": name},
        ),
        201,
    )
    run = _ok(api.post(f"/api/deployments/{deployment['id']}/create_flow_run", json={}), 201)
    worker = unique("worker")
    claimed = _ok(
        api.post("/api/workers/claim", json={"worker_name": worker, "work_pool_name": name})
    )
    assert [c["flow_run"]["id"] for c in claimed] == [run["id"]]
    _ok(
        api.post(
            "/api/workers/heartbeat", json={"worker_name": worker, "flow_run_ids": [run["id"]]}
        )
    )
    listed = _ok(api.get(f"/api/work_pools/{name}/workers"))
    assert [(w["name"], w["status"], w["flow_run_ids"]) for w in listed] == [
        (worker, "ONLINE", [run["id"]])
    ]
    assert worker in [w["name"] for w in _ok(api.get("/api/workers/"))]
    assert _ok(api.get(f"/api/work_pools/{name}"))["status"] == "READY"
    assert _ok(api.get(f"/api/deployments/{deployment['id']}"))["status"] == "READY"

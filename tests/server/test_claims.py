"""Claiming runs over a real app on SQLite and PostgreSQL: who gets what, in which
order, within which limits; overlap policies; long polls; heartbeats; cancellation."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.server.conftest import ApiClient
from tests.server.deployment_support import create_run, deploy, ok

PAST = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T02:00:00Z"}  # 3 hourly ticks


def _claim(api: ApiClient, pool: str | None = None, **fields: Any) -> list[str]:
    body = {"worker_name": fields.pop("worker_name", "w"), "work_pool_name": pool, **fields}
    return [c["flow_run"]["id"] for c in ok(api.post("/api/workers/claim", json=body))]


def _set(api: ApiClient, run_id: str, kind: str) -> None:
    ok(api.post(f"/api/flow_runs/{run_id}/set_state", json={"state": {"type": kind}}))


def _state(api: ApiClient, run_id: str) -> dict[str, Any]:
    state: dict[str, Any] = ok(api.get(f"/api/flow_runs/{run_id}"))["state"]
    return state


def test_a_claim_moves_due_runs_to_pending_held_by_the_worker(api: ApiClient, pool: str) -> None:
    deployment = deploy(api, work_pool_name=pool)
    first = create_run(api, deployment, scheduled_time="2024-01-01T00:00:00Z")
    second = create_run(api, deployment)
    create_run(api, deployment, scheduled_time="2999-01-01T00:00:00Z")  # not due
    body = {"worker_name": "w1", "work_pool_name": pool, "limit": 10}
    claimed = ok(api.post("/api/workers/claim", json=body))
    assert [c["flow_run"]["id"] for c in claimed] == [first["id"], second["id"]]
    run = claimed[0]["flow_run"]
    assert run["state_type"] == "PENDING" and run["worker_name"] == "w1"
    assert run["heartbeat_time"] is not None
    assert claimed[0]["deployment"]["id"] == deployment["id"]
    history = ok(api.get(f"/api/flow_runs/{first['id']}/states"))
    # the late-runs service may have renamed the long-overdue run Late before the claim
    names = [(s["type"], s["name"]) for s in history]
    assert names[0] == ("SCHEDULED", "Scheduled") and names[-1] == ("PENDING", "Pending")
    assert set(names[1:-1]) <= {("SCHEDULED", "Late")}, names
    assert _claim(api, pool) == []


def test_bad_claims_are_refused(api: ApiClient) -> None:
    neither = api.post("/api/workers/claim", json={"worker_name": "w"})
    assert neither.status_code == 422 and neither.json()["detail"][0]["field"] == "work_pool_name"
    missing = api.post("/api/workers/claim", json={"worker_name": "w", "work_pool_name": "nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    too_long = api.post(
        "/api/workers/claim", json={"worker_name": "w", "deployment_ids": [], "wait_seconds": 61}
    )
    assert too_long.json()["detail"][0]["field"] == "wait_seconds"


def test_queues_by_priority_and_paused_pools_queues_deployments(api: ApiClient, pool: str) -> None:
    ok(api.post(f"/api/work_pools/{pool}/queues", json={"name": "low", "priority": 5}), 201)
    low = deploy(api, work_pool_name=pool, work_queue_name="low")
    high = deploy(api, work_pool_name=pool)
    low_run = create_run(api, low, scheduled_time="2024-01-01T00:00:00Z")
    high_run = create_run(api, high)
    ok(api.post(f"/api/work_pools/{pool}/pause"))
    assert _claim(api, pool) == []
    ok(api.post(f"/api/work_pools/{pool}/resume"))
    ok(api.post(f"/api/work_pools/{pool}/queues/default/pause"))
    ok(api.post(f"/api/deployments/{low['id']}/pause"))
    assert _claim(api, pool) == []
    ok(api.post(f"/api/deployments/{low['id']}/resume"))
    ok(api.post(f"/api/work_pools/{pool}/queues/default/resume"))
    assert _claim(api, pool) == [high_run["id"]], "priority 1 first, though younger"
    assert _claim(api, pool) == [low_run["id"]]
    only_low = create_run(api, high)
    assert _claim(api, pool, work_queue_names=["low"]) == []
    assert _claim(api, pool, work_queue_names=["default"]) == [only_low["id"]]


@pytest.mark.parametrize("limit_on", ["deployment", "pool", "queue"])
def test_concurrency_limits_hold_runs_until_a_slot_frees(
    api: ApiClient, pool: str, limit_on: str
) -> None:
    if limit_on == "pool":
        ok(api.request("PATCH", f"/api/work_pools/{pool}", json={"concurrency_limit": 1}))
    if limit_on == "queue":
        path = f"/api/work_pools/{pool}/queues/default"
        ok(api.request("PATCH", path, json={"concurrency_limit": 1}))
    limit = {"concurrency_limit": 1} if limit_on == "deployment" else {}
    deployment = deploy(api, work_pool_name=pool, **limit)
    runs = [create_run(api, deployment, scheduled_time=f"2024-01-01T00:0{i}:00Z") for i in range(3)]
    assert _claim(api, pool, limit=10) == [runs[0]["id"]]
    assert _claim(api, pool, limit=10) == []
    assert _state(api, runs[1]["id"])["type"] == "SCHEDULED"
    _set(api, runs[0]["id"], "RUNNING")
    assert _claim(api, pool, limit=10) == []
    _set(api, runs[0]["id"], "COMPLETED")
    assert _claim(api, pool, limit=10) == [runs[1]["id"]]


def _scheduled_runs(api: ApiClient, overlap: str, pool: str) -> list[str]:
    deployment = deploy(
        api, work_pool_name=pool, schedules=[{"schedule": {"interval": 3600}, "overlap": overlap}]
    )
    ok(api.post(f"/api/deployments/{deployment['id']}/pause"))
    result = ok(api.post(f"/api/deployments/{deployment['id']}/backfill", json=PAST))
    ok(api.post(f"/api/deployments/{deployment['id']}/resume"))
    ids: list[str] = result["flow_run_ids"]
    assert len(ids) == 3
    return ids


def test_overlap_skip_cancels_due_runs_while_one_runs(api: ApiClient, pool: str) -> None:
    first, second, third = _scheduled_runs(api, "skip", pool)
    assert _claim(api, pool) == [first]
    assert _claim(api, pool, limit=5) == []
    for skipped in (second, third):
        state = _state(api, skipped)
        assert state["type"] == "CANCELLED" and "overlap policy 'skip'" in state["message"]


def test_overlap_queue_one_keeps_one_waiting(api: ApiClient, pool: str) -> None:
    first, second, third = _scheduled_runs(api, "queue_one", pool)
    assert _claim(api, pool) == [first]
    assert _claim(api, pool, limit=5) == []
    assert _state(api, second)["type"] == "SCHEDULED"
    assert _state(api, third)["type"] == "CANCELLED"
    _set(api, first, "COMPLETED")
    assert _claim(api, pool, limit=5) == [second]


def test_overlap_cancel_previous_cancels_the_running_run(api: ApiClient, pool: str) -> None:
    first, second, _third = _scheduled_runs(api, "cancel_previous", pool)
    assert _claim(api, pool) == [first]
    assert _claim(api, pool) == [second]
    assert _state(api, first)["type"] == "CANCELLING"


def test_overlap_allow_runs_them_all(api: ApiClient, pool: str) -> None:
    ids = _scheduled_runs(api, "allow", pool)
    assert _claim(api, pool, limit=5) == ids


def test_serve_mode_claims_only_its_deployments(api: ApiClient, pool: str) -> None:
    served = deploy(api)
    other = deploy(api)
    in_pool = deploy(api, work_pool_name=pool)
    run = create_run(api, served)
    create_run(api, other)
    create_run(api, in_pool)
    assert _claim(api, deployment_ids=[served["id"], in_pool["id"]], limit=5) == [run["id"]]


def test_long_poll_returns_a_run_created_while_waiting(api: ApiClient, pool: str) -> None:
    deployment = deploy(api, work_pool_name=pool)
    answer: dict[str, Any] = {}

    def wait() -> None:
        body = {"worker_name": "w", "work_pool_name": pool, "wait_seconds": 10}
        answer["claimed"] = ok(api.post("/api/workers/claim", json=body))
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    run = create_run(api, deployment)
    created_at = time.monotonic()
    waiter.join(15)
    assert [c["flow_run"]["id"] for c in answer["claimed"]] == [run["id"]]
    assert answer["at"] - created_at < 1.0, "the waiting claim was not woken promptly"
    started = time.monotonic()
    empty = _claim(api, pool, wait_seconds=0.3)
    assert empty == [] and 0.3 <= time.monotonic() - started < 5


def test_four_concurrent_claimers_never_share_a_run(api: ApiClient, pool: str) -> None:
    deployment = deploy(api, work_pool_name=pool)
    runs = {create_run(api, deployment)["id"] for _ in range(50)}

    def claimer(index: int) -> list[str]:
        got: list[str] = []
        while True:
            batch = _claim(api, pool, worker_name=f"w{index}", limit=2)
            if not batch:
                return got
            got.extend(batch)

    with ThreadPoolExecutor(4) as executor:
        results = list(executor.map(claimer, range(4)))
    claimed = [run_id for result in results for run_id in result]
    assert sorted(claimed) == sorted(runs), "every run claimed exactly once"
    for index, result in enumerate(results):
        for run_id in result[:3]:
            assert ok(api.get(f"/api/flow_runs/{run_id}"))["worker_name"] == f"w{index}"


def test_cancel_and_heartbeat(api: ApiClient, pool: str) -> None:
    deployment = deploy(api, work_pool_name=pool)
    waiting = create_run(api, deployment, scheduled_time="2999-01-01T00:00:00Z")
    result = ok(api.post(f"/api/flow_runs/{waiting['id']}/cancel"))
    assert result["status"] == "CANCELLED" and result["flow_run"]["state_type"] == "CANCELLED"
    held = create_run(api, deployment)
    assert _claim(api, pool, worker_name="wc") == [held["id"]]
    beat = {"worker_name": "wc", "flow_run_ids": [held["id"], waiting["id"]]}
    assert ok(api.post("/api/workers/heartbeat", json=beat)) == {
        "cancel": [],
        "gone": [waiting["id"]],
    }
    result = ok(api.post(f"/api/flow_runs/{held['id']}/cancel"))
    assert result["status"] == "CANCELLING"
    assert ok(api.post(f"/api/flow_runs/{held['id']}/cancel"))["status"] == "CANCELLING"
    assert ok(api.post("/api/workers/heartbeat", json=beat))["cancel"] == [held["id"]]
    _set(api, held["id"], "CANCELLED")
    assert ok(api.post(f"/api/flow_runs/{held['id']}/cancel"))["status"] == "ALREADY_FINAL"
    assert ok(api.post("/api/workers/heartbeat", json=beat))["gone"] == [held["id"], waiting["id"]]
    unknown = "00000000-0000-0000-0000-000000000000"
    assert api.post(f"/api/flow_runs/{unknown}/cancel").status_code == 404
    # an unclaimed Pending run (nothing runs it) is cancelled at once
    flow_id = deployment["flow_id"]
    pending = ok(
        api.post("/api/flow_runs/", json={"flow_id": flow_id, "state": {"type": "PENDING"}}), 201
    )
    assert ok(api.post(f"/api/flow_runs/{pending['id']}/cancel"))["status"] == "CANCELLED"


def test_a_cancellation_watch_answers_when_a_held_run_is_cancelled(
    api: ApiClient, pool: str
) -> None:
    deployment = deploy(api, work_pool_name=pool)
    held = create_run(api, deployment)
    assert _claim(api, pool, worker_name="ww") == [held["id"]]
    started = time.monotonic()
    quiet = ok(
        api.post(
            "/api/workers/cancellations",
            json={"flow_run_ids": [held["id"]], "wait_seconds": 0.3},
        )
    )
    assert quiet == {"cancel": [], "gone": []} and time.monotonic() - started >= 0.3
    answer: dict[str, Any] = {}

    def watch() -> None:
        body = {"flow_run_ids": [held["id"]], "wait_seconds": 30}
        answer["watch"] = ok(api.post("/api/workers/cancellations", json=body))
        answer["at"] = time.monotonic()

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)
    assert ok(api.post(f"/api/flow_runs/{held['id']}/cancel"))["status"] == "CANCELLING"
    asked = time.monotonic()
    watcher.join(40)
    assert answer["watch"] == {"cancel": [held["id"]], "gone": []}
    assert answer["at"] - asked < 10, "the watch waited out its 30 s"
    _set(api, held["id"], "CANCELLED")
    unknown = "00000000-0000-0000-0000-000000000000"
    body = {"flow_run_ids": [held["id"], unknown], "wait_seconds": 30}
    assert ok(api.post("/api/workers/cancellations", json=body)) == {
        "cancel": [],
        "gone": [held["id"], unknown],
    }
    for bad in ({"flow_run_ids": []}, {"flow_run_ids": [held["id"]], "wait_seconds": 61}):
        response = api.post("/api/workers/cancellations", json=bad)
        assert response.status_code == 422, response.text

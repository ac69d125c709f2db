"""Late runs on SQLite and PostgreSQL: a Scheduled run long past due is renamed Late
with the reason it has not started."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import create_run, deploy, new_pool, ok

PAST = "2024-01-01T00:00:00Z"


def _late_message(api: ApiClient, **deployment: Any) -> str:
    run = create_run(api, deploy(api, **deployment), scheduled_time=PAST)
    return _mark(api, run["id"])


def _mark(api: ApiClient, run_id: str) -> str:
    from vibepiper.server.services.late_runs import mark_late_runs

    api.portal.call(lambda: mark_late_runs(api.database, after_seconds=15))
    state = ok(api.get(f"/api/flow_runs/{run_id}"))["state"]
    assert (state["type"], state["name"]) == ("SCHEDULED", "Late")
    message: str = state["message"]
    return message


def test_late_reasons(quiet: ApiClient) -> None:
    paused_pool = new_pool(quiet, paused=True)
    assert f"work pool '{paused_pool}' is paused" in _late_message(
        quiet, work_pool_name=paused_pool
    )
    pool = new_pool(quiet)
    assert f"no worker has polled work pool '{pool}' in the last 60 s" in _late_message(
        quiet, work_pool_name=pool
    )
    ok(quiet.post(f"/api/work_pools/{pool}/queues", json={"name": "q", "paused": True}), 201)
    assert "work queue 'q' is paused" in _late_message(
        quiet, work_pool_name=pool, work_queue_name="q"
    )
    assert "deployment is paused" in _late_message(quiet, paused=True)
    assert "no serve process polls this deployment" in _late_message(quiet)


def test_full_deployment_limit_is_the_reason(quiet: ApiClient) -> None:
    pool = new_pool(quiet)
    body = {
        "name": "d",
        "flow_name": unique("flow"),
        "work_pool_name": pool,
        "concurrency_limit": 1,
    }
    deployment = ok(quiet.post("/api/deployments/", json=body), 201)
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    ok(quiet.post(path, json={}), 201)
    claim = {"worker_name": "w", "work_pool_name": pool}
    assert len(ok(quiet.post("/api/workers/claim", json=claim))) == 1
    held_back = ok(quiet.post(path, json={"scheduled_time": PAST}), 201)
    assert "deployment concurrency limit (1) is full" in _mark(quiet, held_back["id"])
    assert len(ok(quiet.post("/api/workers/claim", json=claim))) == 0


def test_recent_and_plain_runs(quiet: ApiClient) -> None:
    from vibepiper.server.services.late_runs import mark_late_runs

    flow_id = ok(quiet.post("/api/flows/", json={"name": unique("flow")}), 201)["id"]
    soon = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)).isoformat()
    recent = ok(
        quiet.post(
            "/api/flow_runs/",
            json={"flow_id": flow_id, "expected_start_time": soon, "state": {"type": "SCHEDULED"}},
        ),
        201,
    )
    plain = ok(
        quiet.post(
            "/api/flow_runs/",
            json={"flow_id": flow_id, "expected_start_time": PAST, "state": {"type": "SCHEDULED"}},
        ),
        201,
    )
    quiet.portal.call(lambda: mark_late_runs(quiet.database, after_seconds=15))
    assert ok(quiet.get(f"/api/flow_runs/{recent['id']}"))["state_name"] == "Scheduled"
    late = ok(quiet.get(f"/api/flow_runs/{plain['id']}"))["state"]
    assert late["name"] == "Late" and "nothing has started it" in late["message"]
    history = ok(quiet.get(f"/api/flow_runs/{plain['id']}/states"))
    assert [s["name"] for s in history] == ["Scheduled", "Late"]


def test_a_backfill_of_past_runs_is_marked_over_several_short_transactions(
    quiet: ApiClient,
) -> None:
    from vibepiper.server.services import late_runs

    pool = new_pool(quiet, paused=True)
    deployment = deploy(quiet, work_pool_name=pool)
    count = 2 * late_runs._BATCH + 50
    ids = [create_run(quiet, deployment, scheduled_time=PAST)["id"] for _ in range(count)]
    marked = quiet.portal.call(lambda: late_runs.mark_late_runs(quiet.database, after_seconds=15))
    assert marked >= count  # three transactions in one pass
    body = {"deployment_id": [deployment["id"]], "limit": 2 * count}
    runs = ok(quiet.post("/api/flow_runs/filter", json=body))
    assert sorted(run["id"] for run in runs) == sorted(ids)
    assert {run["state_name"] for run in runs} == {"Late"}
    assert all(f"work pool '{pool}' is paused" in run["state"]["message"] for run in runs)

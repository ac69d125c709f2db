"""Late runs on SQLite and PostgreSQL: a Scheduled run long past due is renamed Late
with the reason it has not started."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.conftest import ApiClient, make_settings, unique

PAST = "2024-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def quiet(database_url: str) -> Iterator[ApiClient]:
    from vibepiper.server import create_app

    client = ApiClient(create_app(make_settings(database_url, server_services=False)))
    yield client
    client.close()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _late_message(api: ApiClient, **deployment: Any) -> str:
    body = {"name": unique("dep"), "flow_name": unique("flow"), **deployment}
    created = _ok(api.post("/api/deployments/", json=body), 201)
    path = f"/api/deployments/{created['id']}/create_flow_run"
    run = _ok(api.post(path, json={"scheduled_time": PAST}), 201)
    return _mark(api, run["id"])


def _mark(api: ApiClient, run_id: str) -> str:
    from vibepiper.server.services.late_runs import mark_late_runs

    api.portal.call(lambda: mark_late_runs(api.database, after_seconds=15))
    state = _ok(api.get(f"/api/flow_runs/{run_id}"))["state"]
    assert (state["type"], state["name"]) == ("SCHEDULED", "Late")
    message: str = state["message"]
    return message


def _pool(api: ApiClient, **fields: Any) -> str:
    name = unique("pool")
    _ok(api.post("/api/work_pools/", json={"name": name, **fields}), 201)
    return name


def test_late_reasons(quiet: ApiClient) -> None:
    paused_pool = _pool(quiet, paused=True)
    assert f"work pool '{paused_pool}' is paused" in _late_message(
        quiet, work_pool_name=paused_pool
    )
    pool = _pool(quiet)
    assert f"no worker has polled work pool '{pool}' in the last 60 s" in _late_message(
        quiet, work_pool_name=pool
    )
    _ok(quiet.post(f"/api/work_pools/{pool}/queues", json={"name": "q", "paused": True}), 201)
    assert "work queue 'q' is paused" in _late_message(
        quiet, work_pool_name=pool, work_queue_name="q"
    )
    assert "deployment is paused" in _late_message(quiet, paused=True)
    assert "no serve process polls this deployment" in _late_message(quiet)


def test_full_deployment_limit_is_the_reason(quiet: ApiClient) -> None:
    pool = _pool(quiet)
    body = {
        "name": "d",
        "flow_name": unique("flow"),
        "work_pool_name": pool,
        "concurrency_limit": 1,
    }
    deployment = _ok(quiet.post("/api/deployments/", json=body), 201)
    path = f"/api/deployments/{deployment['id']}/create_flow_run"
    _ok(quiet.post(path, json={}), 201)
    claim = {"worker_name": "w", "work_pool_name": pool}
    assert len(_ok(quiet.post("/api/workers/claim", json=claim))) == 1
    held_back = _ok(quiet.post(path, json={"scheduled_time": PAST}), 201)
    assert "deployment concurrency limit (1) is full" in _mark(quiet, held_back["id"])
    assert len(_ok(quiet.post("/api/workers/claim", json=claim))) == 0


def test_recent_and_plain_runs(quiet: ApiClient) -> None:
    from vibepiper.server.services.late_runs import mark_late_runs

    flow_id = _ok(quiet.post("/api/flows/", json={"name": unique("flow")}), 201)["id"]
    soon = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)).isoformat()
    recent = _ok(
        quiet.post(
            "/api/flow_runs/",
            json={"flow_id": flow_id, "expected_start_time": soon, "state": {"type": "SCHEDULED"}},
        ),
        201,
    )
    plain = _ok(
        quiet.post(
            "/api/flow_runs/",
            json={"flow_id": flow_id, "expected_start_time": PAST, "state": {"type": "SCHEDULED"}},
        ),
        201,
    )
    quiet.portal.call(lambda: mark_late_runs(quiet.database, after_seconds=15))
    assert _ok(quiet.get(f"/api/flow_runs/{recent['id']}"))["state_name"] == "Scheduled"
    late = _ok(quiet.get(f"/api/flow_runs/{plain['id']}"))["state"]
    assert late["name"] == "Late" and "nothing has started it" in late["message"]
    history = _ok(quiet.get(f"/api/flow_runs/{plain['id']}/states"))
    assert [s["name"] for s in history] == ["Scheduled", "Late"]

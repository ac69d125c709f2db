"""The crash detector in a running app on SQLite and PostgreSQL: a held run whose
heartbeats stop ends Crashed (Cancelled if it was being cancelled) and the
concurrency leases of its process are deleted."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.conftest import ApiClient, make_settings, unique

PROCESS = "host-a:4242"


@pytest.fixture(scope="module")
def fast(database_url: str) -> Iterator[ApiClient]:
    """The app with a 1 s heartbeat timeout, checked every 0.2 s."""
    from vibepiper.server import create_app

    settings = make_settings(
        database_url, server_run_heartbeat_timeout=1.0, server_crash_detector_interval=0.2
    )
    client = ApiClient(create_app(settings))
    yield client
    client.close()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _held_run(api: ApiClient, worker: str) -> str:
    """A run of a served deployment, started by `PROCESS` and claimed by `worker`."""
    body = {"name": "d", "flow_name": unique("flow")}
    deployment = _ok(api.post("/api/deployments/", json=body), 201)
    run = _ok(
        api.post(
            "/api/flow_runs/",
            json={
                "flow_id": deployment["flow_id"],
                "deployment_id": deployment["id"],
                "infrastructure_pid": PROCESS,
                "state": {"type": "SCHEDULED"},
            },
        ),
        201,
    )
    claim = {"worker_name": worker, "deployment_ids": [deployment["id"]]}
    assert [c["flow_run"]["id"] for c in _ok(api.post("/api/workers/claim", json=claim))] == [
        run["id"]
    ]
    run_id: str = run["id"]
    return run_id


def _add_leases(api: ApiClient, holders: list[str]) -> None:
    import sqlalchemy as sa

    from vibepiper.database import tables as t

    async def insert() -> None:
        now = dt.datetime.now(dt.UTC)
        limit_id = uuid.uuid4()
        async with api.database.write() as connection:
            await connection.execute(
                sa.insert(t.concurrency_limit).values(
                    id=limit_id,
                    name=unique("tag:x"),
                    kind="tag",
                    limit=10,
                    active=True,
                    slot_decay_per_second=0.0,
                    created=now,
                    updated=now,
                )
            )
            for holder in holders:
                await connection.execute(
                    sa.insert(t.concurrency_lease).values(
                        id=uuid.uuid4(),
                        lease_id=uuid.uuid4(),
                        limit_id=limit_id,
                        holder=holder,
                        occupy=1,
                        decaying=False,
                        expires_at=now + dt.timedelta(hours=1),
                        created=now,
                    )
                )

    api.portal.call(insert)


def _holders(api: ApiClient, holders: list[str]) -> list[str]:
    import sqlalchemy as sa

    from vibepiper.database import tables as t

    async def read() -> list[str]:
        holder = t.concurrency_lease.c.holder
        async with api.database.read() as connection:
            result = await connection.execute(sa.select(holder).where(holder.in_(holders)))
            return sorted(result.scalars())

    found: list[str] = api.portal.call(read)
    return found


def _wait_for_state(api: ApiClient, run_id: str, kind: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        state: dict[str, Any] = _ok(api.get(f"/api/flow_runs/{run_id}"))["state"]
        if state["type"] == kind:
            return state
        assert time.monotonic() < deadline, f"still {state['type']} after 30 s"
        time.sleep(0.2)


def test_a_silent_worker_s_run_crashes_and_its_leases_go(fast: ApiClient) -> None:
    worker = unique("worker")
    run_id = _held_run(fast, worker)
    _ok(fast.post(f"/api/flow_runs/{run_id}/set_state", json={"state": {"type": "RUNNING"}}))
    task_holder = f"task run {uuid.uuid4()} ({PROCESS})"
    others = ["host-b:1", f"task run {uuid.uuid4()} (host-b:1)"]
    holders = [PROCESS, task_holder, *others]
    _add_leases(fast, holders)
    started = time.monotonic()
    state = _wait_for_state(fast, run_id, "CRASHED")
    assert time.monotonic() - started < 30
    assert worker in state["message"] and "last heartbeat" in state["message"]
    assert _holders(fast, holders) == sorted(others)


def test_heartbeats_keep_a_run_alive(fast: ApiClient) -> None:
    worker = unique("worker")
    run_id = _held_run(fast, worker)
    for _ in range(12):
        beat = {"worker_name": worker, "flow_run_ids": [run_id]}
        assert _ok(fast.post("/api/workers/heartbeat", json=beat))["gone"] == []
        time.sleep(0.25)
    assert _ok(fast.get(f"/api/flow_runs/{run_id}"))["state_type"] == "PENDING"


def test_a_cancelling_run_whose_worker_died_ends_cancelled(fast: ApiClient) -> None:
    run_id = _held_run(fast, unique("worker"))
    assert _ok(fast.post(f"/api/flow_runs/{run_id}/cancel"))["status"] == "CANCELLING"
    state = _wait_for_state(fast, run_id, "CANCELLED")
    assert "stopped heartbeating" in state["message"]

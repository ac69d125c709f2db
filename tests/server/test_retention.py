"""Retention deletes old runs and logs in bounded batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from tests.server.conftest import ApiClient, unique

NewRun = Callable[..., dict[str, Any]]
OLD = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _age(api: ApiClient, table: str, column: str, ids: list[str]) -> None:
    """Make rows look untouched since 2000 (what a month-old run looks like to retention)."""
    from vibepiper.database import tables

    target = tables.metadata.tables[table]

    async def update() -> None:
        async with api.database.write() as connection:
            key = target.c.id if table != "log" else target.c.flow_run_id
            await connection.execute(sa.update(target).where(key.in_(ids)).values({column: OLD}))

    api.portal.call(update)


def test_old_runs_and_logs_are_deleted_in_batches(api: ApiClient, new_flow_run: NewRun) -> None:
    from vibepiper.server.services.retention import delete_older_than

    flow = unique("retention")
    old = [new_flow_run(flow, state={"type": "COMPLETED"}) for _ in range(5)]
    fresh = new_flow_run(flow, state={"type": "COMPLETED"})
    old_ids = [run["id"] for run in old]
    tasks = [
        api.post(
            "/api/task_runs/",
            json={
                "flow_run_id": run["id"],
                "name": "t",
                "task_key": "t",
                "state": {"type": "COMPLETED"},
                "task_inputs": {"x": []},
            },
        ).json()["id"]
        for run in (*old, fresh)
    ]
    lines = [
        {
            "flow_run_id": run["id"],
            "name": "l",
            "level": 20,
            "message": "m",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        }
        for run in (*old, fresh)
    ]
    api.post("/api/logs/", json=lines)
    _age(api, "flow_run", "updated", old_ids)
    _age(api, "task_run", "updated", tasks[:3])  # two old runs keep a recent task run
    _age(api, "log", "timestamp", old_ids)

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    deleted = api.portal.call(lambda: delete_older_than(api.database, cutoff, batch_size=2))
    assert deleted == 5 + 3 + 5

    remaining = api.post("/api/flow_runs/filter", json={"flow_name": [flow]}).json()
    assert [run["id"] for run in remaining] == [fresh["id"]]
    for task_id in tasks[:5]:
        assert api.get(f"/api/task_runs/{task_id}").status_code == 404
    assert api.get(f"/api/task_runs/{tasks[5]}").status_code == 200
    logs = api.post("/api/logs/filter", json={"flow_run_id": [*old_ids, fresh["id"]]}).json()
    assert [line["flow_run_id"] for line in logs] == [fresh["id"]]
    again = api.portal.call(lambda: delete_older_than(api.database, cutoff, batch_size=2))
    assert again == 0


def test_the_server_runs_retention_in_the_background(start_api: Callable[..., ApiClient]) -> None:
    api = start_api(server_retention_days=1, server_retention_interval=0.05)
    flow_id = api.post("/api/flows/", json={"name": "f"}).json()["id"]
    run = api.post("/api/flow_runs/", json={"flow_id": flow_id}).json()
    _age(api, "flow_run", "updated", [run["id"]])
    deadline = time.monotonic() + 10
    while api.get(f"/api/flow_runs/{run['id']}").status_code == 200:
        assert time.monotonic() < deadline, "retention did not delete the old run"
        time.sleep(0.05)


def test_concurrent_passes_of_two_replicas_delete_each_row_once(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    """Two passes at once (two pools, as two replicas have) delete every old row exactly
    once, leave recent rows alone and fail nowhere (no deadlock, no double delete)."""
    import asyncio

    from vibepiper.server.database import Database
    from vibepiper.server.services.retention import delete_older_than

    flow = unique("replicas")
    old = [new_flow_run(flow, state={"type": "COMPLETED"}) for _ in range(12)]
    fresh = new_flow_run(flow, state={"type": "COMPLETED"})
    old_ids = [run["id"] for run in old]
    tasks = [
        api.post(
            "/api/task_runs/",
            json={"flow_run_id": run["id"], "name": "t", "task_key": "t"},
        ).json()["id"]
        for run in (*old, fresh)
    ]
    now = dt.datetime.now(dt.UTC).isoformat()
    api.post(
        "/api/logs/",
        json=[
            {"flow_run_id": run["id"], "name": "l", "level": 20, "message": "m", "timestamp": now}
            for run in (*old, fresh)
            for _ in range(2)
        ],
    )
    _age(api, "flow_run", "updated", old_ids)
    _age(api, "task_run", "updated", tasks[:12])
    _age(api, "log", "timestamp", old_ids)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)

    async def two_passes() -> list[int]:
        other = Database(api.database.engine.url, max_connections=2, pool_timeout=30)
        try:
            passes = [
                delete_older_than(db, cutoff, batch_size=2)
                for db in (api.database, other, api.database, other)
            ]
            return list(await asyncio.gather(*passes))
        finally:
            await other.dispose()

    deleted = api.portal.call(two_passes)
    # Every old row went once (a pass that met another replica's lock stopped early,
    # the one holding it went on to the end).
    assert sum(deleted) == 12 + 12 + 24
    assert api.portal.call(lambda: delete_older_than(api.database, cutoff, batch_size=2)) == 0

    remaining = api.post("/api/flow_runs/filter", json={"flow_name": [flow]}).json()
    assert [run["id"] for run in remaining] == [fresh["id"]]
    assert api.get(f"/api/task_runs/{tasks[-1]}").status_code == 200
    logs = api.post("/api/logs/filter", json={"flow_run_id": [*old_ids, fresh["id"]]}).json()
    assert [line["flow_run_id"] for line in logs] == [fresh["id"]] * 2


def test_artifacts_go_with_their_old_runs_and_old_standalone_ones_go_too(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    from vibepiper.server.services.retention import delete_older_than

    old_run = new_flow_run(unique("retention-art"), state={"type": "COMPLETED"})
    fresh_run = new_flow_run(unique("retention-art"), state={"type": "COMPLETED"})

    def artifact(**body: Any) -> str:
        created = api.post("/api/artifacts/", json={"type": "markdown", "data": "x", **body})
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    of_old_run = artifact(flow_run_id=old_run["id"])  # recent itself: goes with its run
    of_fresh_run = artifact(flow_run_id=fresh_run["id"])
    old_alone = artifact(key=unique("old-report"))
    fresh_alone = artifact(key=unique("fresh-report"))
    _age(api, "flow_run", "updated", [old_run["id"]])
    _age(api, "artifact", "updated", [old_alone])

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    api.portal.call(lambda: delete_older_than(api.database, cutoff, batch_size=2))
    for gone in (of_old_run, old_alone):
        assert api.get(f"/api/artifacts/{gone}").status_code == 404
    for kept in (of_fresh_run, fresh_alone):
        assert api.get(f"/api/artifacts/{kept}").status_code == 200

"""Work pools and their queues: create, read, list, change, pause/resume, delete.

A pool is created with a queue named "default" (priority 1), which cannot be deleted:
a deployment that names no queue sends its runs there. A pool is READY when one of
its workers heartbeated within the last minute. Its base job template is checked, or
defaulted to its type's, in `job_templates`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import deployments as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import work_pools, workers
from vibepiper.server.services import _notify, job_templates, lifecycle_events
from vibepiper.server.services._deployment_read import pool_read, queue_read, worker_read
from vibepiper.server.services._errors import conflict


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def pool_row(connection: AsyncConnection, name: str) -> RowMapping:
    row = await work_pools.get_pool(connection, name)
    if row is None:
        raise ObjectNotFound(f"work pool {name!r} not found")
    return row


async def _last_heartbeats(connection: AsyncConnection) -> dict[str, dt.datetime]:
    w = t.worker.c
    statement = sa.select(w.work_pool_name, sa.func.max(w.last_heartbeat)).group_by(
        w.work_pool_name
    )
    return {name: last for name, last in (await connection.execute(statement)).all() if name}


async def _pool_read(connection: AsyncConnection, row: RowMapping) -> wire.WorkPoolRead:
    last = (await _last_heartbeats(connection)).get(row["name"])
    return pool_read(row, last, _now())


async def create_pool(db: Database, body: wire.WorkPoolCreate) -> wire.WorkPoolRead:
    values = body.model_dump()
    values["base_job_template"] = job_templates.pool_template(body.type, body.base_job_template)
    async with db.write() as connection:
        if await work_pools.get_pool(connection, body.name) is not None:
            raise conflict(f"work pool {body.name!r} exists already")
        pool_id = await work_pools.insert_pool(connection, values)
        default = {"name": wire.DEFAULT_QUEUE, "priority": 1, "paused": False}
        await work_pools.insert_queue(connection, pool_id, default)
        row = await pool_row(connection, body.name)
        await lifecycle_events.changed(connection, "work-pool", row, "created")
        await lifecycle_events.update_all_readiness(connection)
        return await _pool_read(connection, row)


async def list_pools(db: Database) -> list[wire.WorkPoolRead]:
    async with db.read() as connection:
        rows = await work_pools.list_pools(connection)
        last = await _last_heartbeats(connection)
    now = _now()
    return [pool_read(row, last.get(row["name"]), now) for row in rows]


async def read_pool(db: Database, name: str) -> wire.WorkPoolRead:
    async with db.read() as connection:
        return await _pool_read(connection, await pool_row(connection, name))


async def update_pool(db: Database, name: str, changes: dict[str, Any]) -> wire.WorkPoolRead:
    """Set the given fields (`changes` holds only fields the request set)."""
    async with db.write() as connection:
        before = await pool_row(connection, name)
        if "base_job_template" in changes:
            changes["base_job_template"] = job_templates.pool_template(
                before["type"], changes["base_job_template"]
            )
        if changes:
            await work_pools.update_pool(connection, name, changes)
        row = await pool_row(connection, name)
        await lifecycle_events.changed(connection, "work-pool", row, "updated", list(changes))
        await lifecycle_events.update_readiness(connection, "work-pool")
        result = await _pool_read(connection, row)
    _notify.runs_changed(db)  # a resumed pool or a larger limit frees runs
    return result


async def delete_pool(db: Database, name: str) -> None:
    async with db.write() as connection:
        row = await pool_row(connection, name)
        await work_pools.delete_pool(connection, row["id"])
        await lifecycle_events.changed(connection, "work-pool", row, "deleted")


# --- queues ---------------------------------------------------------------------------
async def _queue_row(connection: AsyncConnection, pool: str, name: str) -> RowMapping:
    pool_id = (await pool_row(connection, pool))["id"]
    row = await work_pools.get_queue(connection, pool_id, name)
    if row is None:
        raise ObjectNotFound(f"work queue {name!r} not found in work pool {pool!r}")
    return row


async def list_queues(db: Database, pool: str) -> list[wire.WorkQueueRead]:
    async with db.read() as connection:
        row = await pool_row(connection, pool)
        return [queue_read(queue) for queue in await work_pools.list_queues(connection, row["id"])]


async def create_queue(db: Database, pool: str, body: wire.WorkQueueCreate) -> wire.WorkQueueRead:
    async with db.write() as connection:
        pool_id = (await pool_row(connection, pool))["id"]
        if await work_pools.get_queue(connection, pool_id, body.name) is not None:
            raise conflict(f"work queue {body.name!r} exists already in work pool {pool!r}")
        await work_pools.insert_queue(connection, pool_id, body.model_dump())
        row = await _queue_row(connection, pool, body.name)
        await lifecycle_events.changed(connection, "work-queue", row, "created")
        await lifecycle_events.update_readiness(connection, "work-queue")
        return queue_read(row)


async def read_queue(db: Database, pool: str, name: str) -> wire.WorkQueueRead:
    async with db.read() as connection:
        return queue_read(await _queue_row(connection, pool, name))


async def update_queue(
    db: Database, pool: str, name: str, changes: dict[str, Any]
) -> wire.WorkQueueRead:
    async with db.write() as connection:
        row = await _queue_row(connection, pool, name)
        if changes:
            await work_pools.update_queue(connection, row["work_pool_id"], name, changes)
        row = await _queue_row(connection, pool, name)
        await lifecycle_events.changed(connection, "work-queue", row, "updated", list(changes))
        await lifecycle_events.update_readiness(connection, "work-queue")
        result = queue_read(row)
    _notify.runs_changed(db)
    return result


async def delete_queue(db: Database, pool: str, name: str) -> None:
    if name == wire.DEFAULT_QUEUE:
        raise conflict(f"the {wire.DEFAULT_QUEUE!r} queue of a work pool cannot be deleted")
    async with db.write() as connection:
        row = await _queue_row(connection, pool, name)
        await work_pools.delete_queue(connection, row["work_pool_id"], name)
        await lifecycle_events.changed(connection, "work-queue", row, "deleted")


# --- workers --------------------------------------------------------------------------
async def list_workers(db: Database, pool: str | None = None) -> list[wire.WorkerRead]:
    """Workers (of `pool`, if given) with the runs each holds."""
    async with db.read() as connection:
        if pool is not None:
            await pool_row(connection, pool)
        rows = await workers.list_workers(connection, pool)
        held = await workers.held_runs(connection, [row["name"] for row in rows])
    now = _now()
    return [worker_read(row, held[row["name"]], now) for row in rows]

"""Deleting old rows, one bounded batch per call (the retention service loops over these).

"Old" means no change since the cutoff: a run's `updated` (set on every state), a
log line's `timestamp` and an artifact's `updated`. Each call selects at most `limit`
ids and deletes them with their dependent rows, so one transaction stays short however
much is due.

Replicas: `claim_pass` lets one server replica at a time delete (a PostgreSQL advisory
lock held until the batch's transaction ends), and the ids are selected with
`FOR UPDATE SKIP LOCKED`, so a row another transaction holds (a run whose state is
being set, a batch another deleter claimed) is left for the next pass instead of
being waited for or deleted twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories._dialect import locked_skipping, try_advisory_xact_lock

# Any constant works; distinct from the migration lock's key.
_RETENTION_LOCK_KEY = 0x76_70_5F_72_65_74_6E


async def claim_pass(connection: AsyncConnection) -> bool:
    """True when no other replica is deleting now; the claim ends with the transaction."""
    return await try_advisory_xact_lock(connection, _RETENTION_LOCK_KEY)


async def _claim_ids(connection: AsyncConnection, query: sa.Select[Any]) -> list[Any]:
    return list((await connection.execute(locked_skipping(connection, query))).scalars())


async def delete_old_logs(connection: AsyncConnection, cutoff: dt.datetime, limit: int) -> int:
    ids = sa.select(t.log.c.id).where(t.log.c.timestamp < cutoff).limit(limit)
    found = await _claim_ids(connection, ids)
    if found:
        await connection.execute(sa.delete(t.log).where(t.log.c.id.in_(found)))
    return len(found)


async def delete_old_task_runs(connection: AsyncConnection, cutoff: dt.datetime, limit: int) -> int:
    ids = sa.select(t.task_run.c.id).where(t.task_run.c.updated < cutoff).limit(limit)
    found = await _claim_ids(connection, ids)
    if found:
        for statement in (
            sa.delete(t.task_run_state).where(t.task_run_state.c.task_run_id.in_(found)),
            sa.delete(t.task_run_input).where(t.task_run_input.c.task_run_id.in_(found)),
            sa.delete(t.task_run_queue).where(t.task_run_queue.c.task_run_id.in_(found)),
            sa.delete(t.task_run).where(t.task_run.c.id.in_(found)),
        ):
            await connection.execute(statement)
    return len(found)


async def delete_old_flow_runs(connection: AsyncConnection, cutoff: dt.datetime, limit: int) -> int:
    """Delete old flow runs; task runs still left under them go too (they are few:
    `delete_old_task_runs` has removed the old ones already)."""
    ids = sa.select(t.flow_run.c.id).where(t.flow_run.c.updated < cutoff).limit(limit)
    found = await _claim_ids(connection, ids)
    if not found:
        return 0
    orphans = sa.select(t.task_run.c.id).where(t.task_run.c.flow_run_id.in_(found))
    for statement in (
        sa.delete(t.task_run_state).where(t.task_run_state.c.task_run_id.in_(orphans)),
        sa.delete(t.task_run_input).where(t.task_run_input.c.task_run_id.in_(orphans)),
        sa.delete(t.task_run_queue).where(t.task_run_queue.c.task_run_id.in_(orphans)),
        sa.delete(t.task_run).where(t.task_run.c.flow_run_id.in_(found)),
        sa.delete(t.artifact).where(t.artifact.c.flow_run_id.in_(found)),
        sa.delete(t.flow_run_input).where(t.flow_run_input.c.flow_run_id.in_(found)),
        sa.delete(t.flow_run_state).where(t.flow_run_state.c.flow_run_id.in_(found)),
        sa.delete(t.flow_run).where(t.flow_run.c.id.in_(found)),
    ):
        await connection.execute(statement)
    return len(found)


async def delete_old_artifacts(connection: AsyncConnection, cutoff: dt.datetime, limit: int) -> int:
    """Delete artifacts unchanged since `cutoff` (those of old runs went with the runs;
    these are the ones made outside a run, or whose run is gone)."""
    ids = sa.select(t.artifact.c.id).where(t.artifact.c.updated < cutoff).limit(limit)
    found = await _claim_ids(connection, ids)
    if found:
        await connection.execute(sa.delete(t.artifact).where(t.artifact.c.id.in_(found)))
    return len(found)

"""The queries of the background-task queue (`task_run_queue`).

A row is *claimable* when its scheduled time has come and nobody holds it: never
claimed, released, or its holder's lease ran out. Claims lock the rows they take
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent claimers on several replicas
take different rows; on SQLite the claim's write transaction excludes every other
writer) and then set the holder with a conditional UPDATE.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories._dialect import PrebuiltLockedSkipping, plain_insert
from vibepiper.states import TERMINAL_STATE_TYPES

_q = t.task_run_queue.c
_r = t.task_run.c
_FINAL = [kind.value for kind in TERMINAL_STATE_TYPES]
_CHUNK = 5000


async def insert(connection: AsyncConnection, values: dict[str, Any]) -> None:
    await connection.execute(plain_insert(t.task_run_queue), values)


# The claim path's statements are built once, with bound parameters: building a
# statement (and its cache key) cost more than running it on a long-polling server.
_NOW = sa.bindparam("now", type_=_q.scheduled_time.type)
_CLAIMABLE = (
    _q.task_key.in_(sa.bindparam("task_keys", expanding=True)),
    _q.scheduled_time <= _NOW,
    sa.or_(_q.lease_until.is_(None), _q.lease_until < _NOW),
)
_ANY_CLAIMABLE = sa.select(_q.task_run_id).where(*_CLAIMABLE).limit(1)
_CLAIMABLE_ROWS = PrebuiltLockedSkipping(
    sa.select(t.task_run_queue)
    .where(*_CLAIMABLE)
    .order_by(_q.scheduled_time, _q.created)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_HOLD = (
    sa.update(t.task_run_queue)
    .where(
        _q.task_run_id.in_(sa.bindparam("run_ids", expanding=True)),
        sa.or_(_q.lease_until.is_(None), _q.lease_until < _NOW),
    )
    .values(
        claimed_by=sa.bindparam("worker", type_=_q.claimed_by.type),
        lease_until=sa.bindparam("lease_until", type_=_q.lease_until.type),
        deliveries=_q.deliveries + 1,
    )
    .returning(_q.task_run_id)
)


async def any_claimable(
    connection: AsyncConnection, task_keys: Sequence[str], now: dt.datetime
) -> bool:
    """Whether a row is claimable (a cheap read before a write transaction)."""
    found = await connection.execute(_ANY_CLAIMABLE, {"task_keys": list(task_keys), "now": now})
    return found.first() is not None


async def lock_claimable(
    connection: AsyncConnection, task_keys: Sequence[str], now: dt.datetime, limit: int
) -> list[RowMapping]:
    """Up to `limit` claimable rows, oldest first, locked until the transaction ends
    (rows other claimers hold locked are skipped; on SQLite the write lock is held)."""
    statement = _CLAIMABLE_ROWS.on(connection)
    parameters = {"task_keys": list(task_keys), "now": now, "limit": limit}
    return list((await connection.execute(statement, parameters)).mappings())


async def hold(
    connection: AsyncConnection,
    run_ids: Sequence[uuid.UUID],
    worker: str,
    lease_until: dt.datetime,
    now: dt.datetime,
) -> list[uuid.UUID]:
    """Make `worker` the holder of those of `run_ids` that are still claimable (the
    condition repeats the claim's, so a row taken meanwhile is not taken twice)."""
    if not run_ids:
        return []
    parameters = {
        "run_ids": list(run_ids),
        "now": now,
        "worker": worker,
        "lease_until": lease_until,
    }
    return list((await connection.execute(_HOLD, parameters)).scalars())


_DELETE = sa.delete(t.task_run_queue).where(
    _q.task_run_id.in_(sa.bindparam("run_ids", expanding=True))
)


async def delete(connection: AsyncConnection, run_ids: Sequence[uuid.UUID]) -> None:
    for start in range(0, len(run_ids), _CHUNK):
        chunk = list(run_ids[start : start + _CHUNK])
        await connection.execute(_DELETE, {"run_ids": chunk})


async def renew(
    connection: AsyncConnection,
    worker: str,
    run_ids: Sequence[uuid.UUID],
    lease_until: dt.datetime,
) -> list[uuid.UUID]:
    """Extend `worker`'s leases on those of `run_ids` it still holds; which ones."""
    return await _update_held(connection, worker, run_ids, {"lease_until": lease_until})


async def release(connection: AsyncConnection, worker: str, run_ids: Sequence[uuid.UUID]) -> int:
    """Give back `worker`'s holds on `run_ids` (claimable at once); how many."""
    values = {"claimed_by": None, "lease_until": None}
    return len(await _update_held(connection, worker, run_ids, values))


async def _update_held(
    connection: AsyncConnection,
    worker: str,
    run_ids: Sequence[uuid.UUID],
    values: dict[str, Any],
) -> list[uuid.UUID]:
    """Set `values` on `worker`'s rows among `run_ids` (in chunks); which ones it held."""
    updated: list[uuid.UUID] = []
    for start in range(0, len(run_ids), _CHUNK):
        statement = (
            sa.update(t.task_run_queue)
            .where(
                _q.task_run_id.in_(list(run_ids[start : start + _CHUNK])),
                _q.claimed_by == worker,
            )
            .values(**values)
            .returning(_q.task_run_id)
        )
        updated.extend((await connection.execute(statement)).scalars())
    return updated


async def remove_final(
    connection: AsyncConnection, worker: str, run_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    """Delete `worker`'s rows of `run_ids` whose task run is final; which ones."""
    removed: list[uuid.UUID] = []
    for start in range(0, len(run_ids), _CHUNK):
        final = sa.select(_r.id).where(
            _r.id.in_(list(run_ids[start : start + _CHUNK])), _r.state_type.in_(_FINAL)
        )
        statement = (
            sa.delete(t.task_run_queue)
            .where(_q.task_run_id.in_(final), _q.claimed_by == worker)
            .returning(_q.task_run_id)
        )
        removed.extend((await connection.execute(statement)).scalars())
    return removed


async def queued_ids(connection: AsyncConnection, run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `run_ids` are in the queue."""
    found: set[uuid.UUID] = set()
    for start in range(0, len(run_ids), _CHUNK):
        statement = sa.select(_q.task_run_id).where(
            _q.task_run_id.in_(list(run_ids[start : start + _CHUNK]))
        )
        found.update((await connection.execute(statement)).scalars())
    return found


async def count(connection: AsyncConnection, task_key: str | None = None) -> int:
    statement = sa.select(sa.func.count()).select_from(t.task_run_queue)
    if task_key is not None:
        statement = statement.where(_q.task_key == task_key)
    return int((await connection.execute(statement)).scalar_one())


async def run_with_state_details(
    connection: AsyncConnection, run_id: uuid.UUID
) -> RowMapping | None:
    """The task run's row and, as `state_details`, its current state's details (where a
    persisted result is), in one query."""
    found = await connection.execute(_RUN_WITH_STATE_DETAILS, {"run_id": run_id})
    row: RowMapping | None = found.mappings().first()
    return row


_RUN_WITH_STATE_DETAILS = (
    sa.select(t.task_run, t.task_run_state.c.details.label("state_details"))
    .select_from(t.task_run.outerjoin(t.task_run_state, t.task_run_state.c.id == _r.state_id))
    .where(_r.id == sa.bindparam("run_id", type_=_r.id.type))
)

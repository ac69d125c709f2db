"""The database's "now" for `GET /api/metrics`: a few grouped counts, each on an index.

Every query is bounded by what it groups (states, pools, queues, workers, limits), never
by the number of runs stored: the runs that wait or hold a slot are found through
`ix_flow_run__state_type`, so 100,000 finished runs cost nothing here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t

_r = t.flow_run.c
ACTIVE_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")


async def flow_runs_by_state(connection: AsyncConnection) -> list[tuple[str, int]]:
    """(state type, how many flow runs are in it now)."""
    query = (
        sa.select(_r.state_type, sa.func.count())
        .where(_r.state_type.is_not(None))
        .group_by(_r.state_type)
    )
    return [(str(kind), int(count)) for kind, count in (await connection.execute(query)).all()]


async def active_runs(connection: AsyncConnection) -> list[tuple[Any, ...]]:
    """(work pool, work queue, state type, is Late, count) of the flow runs not final."""
    late = (_r.state_name == "Late").label("late")
    query = (
        sa.select(_r.work_pool_name, _r.work_queue_name, _r.state_type, late, sa.func.count())
        .where(_r.state_type.in_(ACTIVE_STATES))
        .group_by(_r.work_pool_name, _r.work_queue_name, _r.state_type, late)
    )
    return [tuple(row) for row in (await connection.execute(query)).all()]


async def work_pools(connection: AsyncConnection) -> list[tuple[str, int | None, bool]]:
    """(name, concurrency limit, paused) of every work pool."""
    wp = t.work_pool.c
    query = sa.select(wp.name, wp.concurrency_limit, wp.paused).order_by(wp.name)
    return [(str(n), c, bool(p)) for n, c, p in (await connection.execute(query)).all()]


async def workers_seen_since(
    connection: AsyncConnection, since: dt.datetime
) -> list[tuple[str, str | None, dt.datetime]]:
    """(name, work pool, last heartbeat) of the workers heard from since `since`."""
    w = t.worker.c
    query = (
        sa.select(w.name, w.work_pool_name, w.last_heartbeat)
        .where(w.last_heartbeat >= since)
        .order_by(w.name)
    )
    return [tuple(row) for row in (await connection.execute(query)).all()]  # type: ignore[misc]


async def concurrency_limits(
    connection: AsyncConnection, now: dt.datetime
) -> list[tuple[str, int, bool, int]]:
    """(name, limit, active, slots held by leases that have not expired) of every global
    concurrency limit."""
    limit, lease = t.concurrency_limit.c, t.concurrency_lease.c
    held = (
        sa.select(lease.limit_id, sa.func.sum(lease.occupy).label("used"))
        .where(lease.expires_at > now)
        .group_by(lease.limit_id)
        .subquery()
    )
    query = (
        sa.select(limit.name, limit.limit, limit.active, sa.func.coalesce(held.c.used, 0))
        .select_from(t.concurrency_limit.outerjoin(held, held.c.limit_id == limit.id))
        .order_by(limit.name)
    )
    return [
        (str(name), int(size), bool(active), int(used))
        for name, size, active, used in (await connection.execute(query)).all()
    ]

"""The queries of run claims: which runs are due for a claimer, what they occupy.

A run is *due* when it is Scheduled (Late included, AwaitingRetry excluded: the
process that runs the flow retries it itself), its expected start time has come, and
its deployment exists and is not paused. A run *occupies* a slot of its pool, queue
and deployment while it is Pending, Running or Cancelling.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories.workers import HELD_STATES

_r = t.flow_run.c
_d = t.deployment.c
_CLAIM_LOCK = 0x76_70_63_6C << 32
"""High half of the advisory lock keys that serialise the claims of one pool."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose runs a claimer takes: a pool's (some queues of it), or some deployments'."""

    work_pool_name: str | None
    queue_priority: dict[str, int]
    deployment_ids: Sequence[uuid.UUID] | None


async def lock_scope(connection: AsyncConnection, scope: Scope) -> None:
    """Serialise claims over one pool (or over serve processes) until the transaction
    ends, so concurrency limits are counted by one claimer at a time. On SQLite the
    write transaction already excludes every other writer."""
    if connection.dialect.name != "postgresql":
        return
    name = scope.work_pool_name or ""
    key = _CLAIM_LOCK | zlib.crc32(name.encode())
    key = key - (1 << 64) if key >= 1 << 63 else key
    await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _due(scope: Scope, now: dt.datetime) -> list[sa.ColumnElement[bool]]:
    where = [
        _r.state_type == "SCHEDULED",
        sa.func.coalesce(_r.state_name, "") != "AwaitingRetry",
        sa.or_(_r.expected_start_time.is_(None), _r.expected_start_time <= now),
        _d.paused.is_(False),
    ]
    if scope.work_pool_name is not None:
        where.append(_r.work_pool_name == scope.work_pool_name)
        where.append(_r.work_queue_name.in_(list(scope.queue_priority)))
    else:
        where.append(_r.work_pool_name.is_(None))
    if scope.deployment_ids is not None:
        where.append(_r.deployment_id.in_(scope.deployment_ids))
    return where


def _joined() -> Any:
    return t.flow_run.join(t.deployment, _d.id == _r.deployment_id)


async def any_due(connection: AsyncConnection, scope: Scope, now: dt.datetime) -> bool:
    """Whether a due run is in scope (a cheap check before taking locks)."""
    if scope.work_pool_name is not None and not scope.queue_priority:
        return False
    statement = sa.select(_r.id).select_from(_joined()).where(*_due(scope, now)).limit(1)
    return (await connection.execute(statement)).first() is not None


async def due_runs(
    connection: AsyncConnection, scope: Scope, now: dt.datetime, limit: int
) -> list[RowMapping]:
    """Due runs in claim order: queue priority (1 first), then expected start time."""
    order: list[Any] = []
    if scope.queue_priority:
        order.append(sa.case(scope.queue_priority, value=_r.work_queue_name, else_=2**31))
    order += [_r.expected_start_time.asc().nulls_first(), _r.id]
    statement = (
        sa.select(t.flow_run, _d.concurrency_limit.label("deployment_concurrency_limit"))
        .select_from(_joined())
        .where(*_due(scope, now))
        .order_by(*order)
        .limit(limit)
    )
    return list((await connection.execute(statement)).mappings())


async def held_counts(
    connection: AsyncConnection,
    column: sa.Column[Any],
    values: Sequence[Any],
    *where: sa.ColumnElement[bool],
) -> dict[Any, int]:
    """How many runs occupy a slot, per value of `column` among `values`."""
    if not values:
        return {}
    statement = (
        sa.select(column, sa.func.count())
        .where(column.in_(values), _r.state_type.in_(HELD_STATES), *where)
        .group_by(column)
    )
    return {value: int(count) for value, count in (await connection.execute(statement)).all()}


async def active_runs(connection: AsyncConnection, deployment_id: uuid.UUID) -> list[uuid.UUID]:
    """The deployment's runs that occupy a slot, oldest first."""
    statement = (
        sa.select(_r.id)
        .where(_r.deployment_id == deployment_id, _r.state_type.in_(HELD_STATES))
        .order_by(_r.created, _r.id)
    )
    return list((await connection.execute(statement)).scalars())


async def overlap_policies(
    connection: AsyncConnection, schedule_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not schedule_ids:
        return {}
    s = t.deployment_schedule.c
    statement = sa.select(s.id, s.overlap).where(s.id.in_(schedule_ids))
    return {row_id: overlap for row_id, overlap in (await connection.execute(statement)).all()}

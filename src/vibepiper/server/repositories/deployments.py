"""Queries on deployments and their schedules (`deployment`, `deployment_schedule`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.deployments import DeploymentFilter
from vibepiper.server.repositories.work_pools import stale

_d = t.deployment.c
_s = t.deployment_schedule.c
_r = t.flow_run.c


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _select() -> sa.Select[Any]:
    joined = t.deployment.join(t.flow, t.flow.c.id == _d.flow_id)
    return sa.select(t.deployment, t.flow.c.name.label("flow_name")).select_from(joined)


async def get(connection: AsyncConnection, deployment_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(_select().where(_d.id == deployment_id))
    row: RowMapping | None = result.mappings().first()
    return row


async def get_many(
    connection: AsyncConnection, deployment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RowMapping]:
    result = await connection.execute(_select().where(_d.id.in_(deployment_ids)))
    return {row["id"]: row for row in result.mappings()}


async def get_by_name(
    connection: AsyncConnection, flow_id: uuid.UUID, name: str
) -> RowMapping | None:
    result = await connection.execute(_select().where(_d.flow_id == flow_id, _d.name == name))
    row: RowMapping | None = result.mappings().first()
    return row


def _where(query: DeploymentFilter) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.id is not None:
        where.append(_d.id.in_(query.id))
    if query.flow_name is not None:
        where.append(t.flow.c.name.in_(query.flow_name))
    if query.name_like:
        where.append(_d.name.icontains(query.name_like, autoescape=True))
    if query.work_pool_name is not None:
        where.append(_d.work_pool_name.in_(query.work_pool_name))
    if query.paused is not None:
        where.append(_d.paused.is_(query.paused))
    return where


async def filter_deployments(
    connection: AsyncConnection, query: DeploymentFilter
) -> list[RowMapping]:
    statement = _select().where(*_where(query)).order_by(t.flow.c.name, _d.name, _d.id)
    result = await connection.execute(statement.limit(query.limit).offset(query.offset))
    return list(result.mappings())


async def count_deployments(connection: AsyncConnection, query: DeploymentFilter) -> int:
    joined = t.deployment.join(t.flow, t.flow.c.id == _d.flow_id)
    statement = sa.select(sa.func.count()).select_from(joined).where(*_where(query))
    return int((await connection.execute(statement)).scalar_one())


async def insert(connection: AsyncConnection, values: dict[str, Any]) -> None:
    """A new deployment starts `NOT_READY` (no worker has polled it), as in Prefect, with
    no status event: `vibepiper.deployment.not-ready` means one that was ready went quiet."""
    now = _now()
    statement = sa.insert(t.deployment).values(
        created=now, updated=now, **{"status": "NOT_READY", **values}
    )
    await connection.execute(statement)


async def update(
    connection: AsyncConnection, deployment_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.deployment).where(_d.id == deployment_id)
    await connection.execute(statement.values(updated=_now(), **values))


async def touch(
    connection: AsyncConnection, deployment_ids: Sequence[uuid.UUID], now: dt.datetime
) -> None:
    """Record that something polled for these deployments' runs."""
    if deployment_ids:
        statement = sa.update(t.deployment).where(
            _d.id.in_(deployment_ids), stale(_d.last_polled, now)
        )
        await connection.execute(statement.values(last_polled=now))


async def touch_pool_deployments(
    connection: AsyncConnection, work_pool_name: str, now: dt.datetime
) -> None:
    """Record that a worker polled the pool these deployments send their runs to."""
    statement = sa.update(t.deployment).where(
        _d.work_pool_name == work_pool_name, stale(_d.last_polled, now)
    )
    await connection.execute(statement.values(last_polled=now))


async def delete(connection: AsyncConnection, deployment_id: uuid.UUID) -> None:
    await connection.execute(
        sa.delete(t.deployment_schedule).where(_s.deployment_id == deployment_id)
    )
    await connection.execute(sa.delete(t.deployment).where(_d.id == deployment_id))


# --- schedules ------------------------------------------------------------------------
async def schedules_of(
    connection: AsyncConnection, deployment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RowMapping]]:
    """Each deployment's schedules, oldest first."""
    out: dict[uuid.UUID, list[RowMapping]] = {deployment_id: [] for deployment_id in deployment_ids}
    if not deployment_ids:
        return out
    statement = (
        sa.select(t.deployment_schedule)
        .where(_s.deployment_id.in_(deployment_ids))
        .order_by(_s.created, _s.id)
    )
    for row in (await connection.execute(statement)).mappings():
        out[row["deployment_id"]].append(row)
    return out


async def get_schedule(
    connection: AsyncConnection, deployment_id: uuid.UUID, schedule_id: uuid.UUID
) -> RowMapping | None:
    statement = sa.select(t.deployment_schedule).where(
        _s.id == schedule_id, _s.deployment_id == deployment_id
    )
    row: RowMapping | None = (await connection.execute(statement)).mappings().first()
    return row


async def insert_schedule(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    schedule_id = uuid.uuid4()
    now = _now()
    row = {"id": schedule_id, "missed_count": 0, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.deployment_schedule).values(**row))
    return schedule_id


async def update_schedule(
    connection: AsyncConnection, schedule_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.deployment_schedule).where(_s.id == schedule_id)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete_schedules(
    connection: AsyncConnection, deployment_id: uuid.UUID, schedule_ids: Sequence[uuid.UUID] | None
) -> None:
    """Delete the deployment's schedules (those listed, or all)."""
    statement = sa.delete(t.deployment_schedule).where(_s.deployment_id == deployment_id)
    if schedule_ids is not None:
        statement = statement.where(_s.id.in_(schedule_ids))
    await connection.execute(statement)


# --- the deployment's runs ------------------------------------------------------------
async def delete_unstarted_runs(
    connection: AsyncConnection,
    deployment_id: uuid.UUID,
    *,
    scheduled_only: bool,
    after: dt.datetime | None = None,
    schedule_ids: Sequence[uuid.UUID] | None = None,
) -> int:
    """Delete the deployment's Scheduled runs that never started; returns how many.

    `scheduled_only`: only runs a schedule created; `after`: only those due later;
    `schedule_ids`: only those of these schedules.
    """
    where = [
        _r.deployment_id == deployment_id,
        _r.state_type == "SCHEDULED",
        _r.start_time.is_(None),
    ]
    if scheduled_only:
        where.append(_r.deployment_schedule_id.is_not(None))
    if after is not None:
        where.append(_r.expected_start_time > after)
    if schedule_ids is not None:
        where.append(_r.deployment_schedule_id.in_(schedule_ids))
    ids = list((await connection.execute(sa.select(_r.id).where(*where))).scalars())
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        await connection.execute(
            sa.delete(t.flow_run_state).where(t.flow_run_state.c.flow_run_id.in_(chunk))
        )
        await connection.execute(sa.delete(t.flow_run).where(_r.id.in_(chunk)))
    return len(ids)

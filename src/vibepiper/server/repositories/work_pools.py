"""Queries on work pools and their queues (`work_pool`, `work_queue`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t

_p = t.work_pool.c
_q = t.work_queue.c
POLL_MARK_SECONDS = 5.0
"""How stale a "last polled" mark may get before a poll writes it again (it reads "ready
within the last minute" on the dashboard and for late-run reasons)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def get_pool(connection: AsyncConnection, name: str) -> RowMapping | None:
    result = await connection.execute(sa.select(t.work_pool).where(_p.name == name))
    return result.mappings().first()


async def get_pool_by_id(connection: AsyncConnection, pool_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.work_pool).where(_p.id == pool_id))
    return result.mappings().first()


async def list_pools(connection: AsyncConnection) -> list[RowMapping]:
    result = await connection.execute(sa.select(t.work_pool).order_by(_p.name))
    return list(result.mappings())


async def insert_pool(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    pool_id = uuid.uuid4()
    now = _now()
    row = {"id": pool_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.work_pool).values(**row))
    return pool_id


async def update_pool(connection: AsyncConnection, name: str, values: dict[str, Any]) -> None:
    statement = sa.update(t.work_pool).where(_p.name == name)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete_pool(connection: AsyncConnection, pool_id: uuid.UUID) -> None:
    """Delete the pool and its queues (explicitly: SQLite does not cascade)."""
    await connection.execute(sa.delete(t.work_queue).where(_q.work_pool_id == pool_id))
    await connection.execute(sa.delete(t.work_pool).where(_p.id == pool_id))


def stale(column: sa.Column[Any], now: dt.datetime) -> sa.ColumnElement[bool]:
    """`column` (a "last polled" mark) is unset or older than `POLL_MARK_SECONDS`: only
    then is it written, so workers polling every second do not all queue on one row."""
    return sa.or_(column.is_(None), column < now - dt.timedelta(seconds=POLL_MARK_SECONDS))


async def touch_pool(connection: AsyncConnection, name: str, now: dt.datetime) -> None:
    statement = sa.update(t.work_pool).where(_p.name == name, stale(_p.last_polled, now))
    await connection.execute(statement.values(last_polled=now))


def _queue_select() -> sa.Select[Any]:
    joined = t.work_queue.join(t.work_pool, _p.id == _q.work_pool_id)
    return sa.select(t.work_queue, _p.name.label("work_pool_name")).select_from(joined)


async def list_queues(connection: AsyncConnection, pool_id: uuid.UUID) -> list[RowMapping]:
    """The pool's queues, highest priority (lowest number) first."""
    statement = _queue_select().where(_q.work_pool_id == pool_id)
    result = await connection.execute(statement.order_by(_q.priority, _q.name))
    return list(result.mappings())


async def get_queue(
    connection: AsyncConnection, pool_id: uuid.UUID, name: str
) -> RowMapping | None:
    statement = _queue_select().where(_q.work_pool_id == pool_id, _q.name == name)
    row: RowMapping | None = (await connection.execute(statement)).mappings().first()
    return row


async def get_queue_by_id(connection: AsyncConnection, queue_id: uuid.UUID) -> RowMapping | None:
    """The queue with its pool's name (`work_pool_name`)."""
    statement = _queue_select().where(_q.id == queue_id)
    row: RowMapping | None = (await connection.execute(statement)).mappings().first()
    return row


async def insert_queue(
    connection: AsyncConnection, pool_id: uuid.UUID, values: dict[str, Any]
) -> None:
    now = _now()
    row = {"id": uuid.uuid4(), "work_pool_id": pool_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.work_queue).values(**row))


async def lowest_priority(connection: AsyncConnection, pool_id: uuid.UUID) -> int:
    """The largest priority number among the pool's queues (0 when it has none)."""
    statement = sa.select(sa.func.max(_q.priority)).where(_q.work_pool_id == pool_id)
    return int((await connection.execute(statement)).scalar_one_or_none() or 0)


async def update_queue(
    connection: AsyncConnection, pool_id: uuid.UUID, name: str, values: dict[str, Any]
) -> None:
    statement = sa.update(t.work_queue).where(_q.work_pool_id == pool_id, _q.name == name)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete_queue(connection: AsyncConnection, pool_id: uuid.UUID, name: str) -> None:
    statement = sa.delete(t.work_queue).where(_q.work_pool_id == pool_id, _q.name == name)
    await connection.execute(statement)


async def touch_queues(
    connection: AsyncConnection, pool_id: uuid.UUID, names: list[str] | None, now: dt.datetime
) -> None:
    statement = sa.update(t.work_queue).where(
        _q.work_pool_id == pool_id, stale(_q.last_polled, now)
    )
    if names is not None:
        statement = statement.where(_q.name.in_(names))
    await connection.execute(statement.values(last_polled=now))

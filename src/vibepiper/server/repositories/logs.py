"""Queries on the `log` table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.api_filters import LogFilter, LogSort

_l = t.log.c


async def insert_many(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(sa.insert(t.log), list(rows))


async def existing_keys(
    connection: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> set[tuple[Any, ...]]:
    """`key(row)` of the stored lines that equal one of `rows` (run, name, level,
    message and instant); found through the (flow_run_id, timestamp) index."""
    if not rows:
        return set()
    low = min(row["timestamp"] for row in rows)
    high = max(row["timestamp"] for row in rows)
    run_ids = {row["flow_run_id"] for row in rows}
    where: list[sa.ColumnElement[bool]] = []
    known = [run_id for run_id in run_ids if run_id is not None]
    if known:
        where.append(_l.flow_run_id.in_(known))
    if None in run_ids:
        where.append(_l.flow_run_id.is_(None))
    columns = [_l.flow_run_id, _l.task_run_id, _l.name, _l.level, _l.message, _l.timestamp]
    statement = sa.select(*columns).where(sa.or_(*where), _l.timestamp >= low, _l.timestamp <= high)
    return {tuple(row) for row in await connection.execute(statement)}


def key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two log lines the same line."""
    return (
        row["flow_run_id"],
        row["task_run_id"],
        row["name"],
        row["level"],
        row["message"],
        row["timestamp"],
    )


async def filter_logs(connection: AsyncConnection, query: LogFilter) -> list[RowMapping]:
    statement = sa.select(t.log)
    if query.flow_run_id is not None:
        statement = statement.where(_l.flow_run_id.in_(query.flow_run_id))
    if query.task_run_id is not None:
        statement = statement.where(_l.task_run_id.in_(query.task_run_id))
    if query.level_ge is not None:
        statement = statement.where(_l.level >= query.level_ge)
    if query.timestamp_after is not None:
        statement = statement.where(_l.timestamp >= query.timestamp_after)
    if query.timestamp_before is not None:
        statement = statement.where(_l.timestamp <= query.timestamp_before)
    if query.sort is LogSort.TIMESTAMP_DESC:
        statement = statement.order_by(_l.timestamp.desc(), _l.id.desc())
    else:
        statement = statement.order_by(_l.timestamp, _l.id)
    statement = statement.limit(query.limit).offset(query.offset)
    return list((await connection.execute(statement)).mappings())

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

"""WHERE clauses shared by the flow run and task run filters."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.schemas.api_filters import RunFilter
from vibepiper.server.repositories._dialect import json_array_has_all, json_array_has_any


def run_conditions(
    connection: AsyncConnection, table: sa.Table, query: RunFilter
) -> list[sa.ColumnElement[bool]]:
    """The conditions every run filter has: ids, states, tags, name, time ranges."""
    c = table.c
    where: list[sa.ColumnElement[bool]] = []
    if query.id is not None:
        where.append(c.id.in_(query.id))
    if query.state_type is not None:
        where.append(c.state_type.in_([state.value for state in query.state_type]))
    if query.state_name is not None:
        where.append(c.state_name.in_(query.state_name))
    if query.tags_all:
        where.append(json_array_has_all(connection, c.tags, query.tags_all))
    if query.tags_any:
        where.append(json_array_has_any(connection, c.tags, query.tags_any))
    if query.name is not None:
        where.append(c.name.in_(query.name))
    if query.name_like:
        where.append(c.name.icontains(query.name_like, autoescape=True))
    where.extend(_range(c.created, query.created_after, query.created_before))
    where.extend(_range(c.start_time, query.start_time_after, query.start_time_before))
    return where


def _range(column: sa.Column[Any], after: Any, before: Any) -> list[sa.ColumnElement[bool]]:
    where = []
    if after is not None:
        where.append(column >= after)
    if before is not None:
        where.append(column <= before)
    return where


def ordered(column: sa.Column[Any], descending: bool) -> sa.UnaryExpression[Any]:
    """`column` in order, runs without a value last either way (same on both backends)."""
    return (column.desc() if descending else column.asc()).nulls_last()

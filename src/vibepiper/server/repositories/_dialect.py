"""What SQLite and PostgreSQL spell differently: upserts, JSON array tests, row locks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignoring_conflicts(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> sa.Executable:
    """An INSERT of `rows` that skips rows colliding with an existing key."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).values(list(rows)).on_conflict_do_nothing()
    return sqlite.insert(table).values(list(rows)).on_conflict_do_nothing()


def json_array_has_all(
    connection: AsyncConnection, column: sa.ColumnElement[Any], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    """`column` (a JSON array of strings) contains every one of `values`."""
    if connection.dialect.name == "postgresql":
        condition: sa.ColumnElement[bool] = sa.type_coerce(column, postgresql.JSONB).contains(
            list(values)
        )
        return condition
    return sa.and_(*(_sqlite_json_array_has(column, [value]) for value in values))


def json_array_has_any(
    connection: AsyncConnection, column: sa.ColumnElement[Any], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    """`column` (a JSON array of strings) contains at least one of `values`."""
    if connection.dialect.name == "postgresql":
        array = sa.cast(postgresql.array(list(values)), postgresql.ARRAY(sa.Text()))
        condition: sa.ColumnElement[bool] = sa.type_coerce(column, postgresql.JSONB).has_any(array)
        return condition
    return _sqlite_json_array_has(column, values)


def _sqlite_json_array_has(
    column: sa.ColumnElement[Any], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    items = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(items).where(items.c.value.in_(values)))


def locked(connection: AsyncConnection, query: sa.Select[Any]) -> sa.Select[Any]:
    """`query` taking a row lock until the transaction ends.

    On SQLite the write transaction already holds the database's write lock
    (`BEGIN IMMEDIATE`), so there is nothing to add.
    """
    if connection.dialect.name == "postgresql":
        return query.with_for_update()
    return query

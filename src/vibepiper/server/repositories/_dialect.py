"""What SQLite and PostgreSQL spell differently: upserts, JSON array tests, row locks."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignoring_conflicts(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]] | None = None
) -> sa.Insert:
    """An INSERT that skips rows colliding with an existing key: of `rows`, or, without
    them, a statement to execute with a list of rows (an executemany, which SQLAlchemy
    sends as a few multi-row statements, compiled once)."""
    if rows is not None:
        return ignoring_conflicts(connection.dialect.name, table).values(list(rows))
    return ignoring_conflicts(connection.dialect.name, table)


@functools.cache
def ignoring_conflicts(dialect: str, table: sa.Table) -> sa.Insert:
    """`insert_ignoring_conflicts` without rows, for the dialect named: built once per
    table (executed with its rows as parameters, it is compiled once too)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


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


def not_in_strings(
    connection: AsyncConnection, column: sa.ColumnElement[Any], values: Sequence[str]
) -> sa.ColumnElement[bool]:
    """`column` is none of `values`, bound as one parameter however many there are (the
    drivers cap a statement's parameters at ~32k)."""
    if not values:
        return sa.true()
    if connection.dialect.name == "postgresql":
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.Text()))
        return column != sa.all_(array)
    items = sa.func.json_each(sa.bindparam(None, json.dumps(list(values)))).table_valued("value")
    return column.not_in(sa.select(items.c.value))


def locked(connection: AsyncConnection, query: sa.Select[Any]) -> sa.Select[Any]:
    """`query` taking a row lock until the transaction ends.

    On SQLite the write transaction already holds the database's write lock
    (`BEGIN IMMEDIATE`), so there is nothing to add.
    """
    if connection.dialect.name == "postgresql":
        return query.with_for_update()
    return query


def locked_skipping(connection: AsyncConnection, query: sa.Select[Any]) -> sa.Select[Any]:
    """`query` locking the rows it returns and skipping rows another transaction holds.

    For work several server replicas share (each takes what no other has taken); on
    SQLite, as in `locked`, the write lock is already held.
    """
    if connection.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


class PrebuiltLockedSkipping:
    """A query built once with its `locked_skipping` form, for hot paths where building
    the locking clause per call costs more than running the query."""

    def __init__(self, query: sa.Select[Any]) -> None:
        self._plain = query
        self._locked = query.with_for_update(skip_locked=True)

    def on(self, connection: AsyncConnection) -> sa.Select[Any]:
        """The form for `connection`'s dialect (as `locked_skipping` would build it)."""
        return self._locked if connection.dialect.name == "postgresql" else self._plain


async def try_advisory_xact_lock(connection: AsyncConnection, key: int) -> bool:
    """Take PostgreSQL's transaction-scoped advisory lock `key` if free; False if taken.

    On SQLite the write transaction already excludes every other writer: always True.
    """
    if connection.dialect.name != "postgresql":
        return True
    result = await connection.execute(
        sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
    )
    return bool(result.scalar_one())


async def get_rows(
    connection: AsyncConnection, table: sa.Table, ids: Sequence[Any], chunk: int = 5000
) -> dict[Any, dict[str, Any]]:
    """The rows of `table` whose `id` is in `ids`, as mutable dicts by id."""
    rows: dict[Any, dict[str, Any]] = {}
    statement = _rows_by_id(table)
    for start in range(0, len(ids), chunk):
        found = await connection.execute(statement, {"ids": list(ids[start : start + chunk])})
        for row in found.mappings():
            rows[row["id"]] = dict(row)
    return rows


@functools.cache
def _rows_by_id(table: sa.Table) -> sa.Select[Any]:
    return sa.select(table).where(table.c.id.in_(sa.bindparam("ids", expanding=True)))


async def update_many(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Set the columns given in each of `rows` (all with the same keys, `id` among them)."""
    if not rows:
        return
    statement = _update_by_id(table, tuple(name for name in rows[0] if name != "id"))
    params = [{f"b_{name}": value for name, value in row.items()} for row in rows]
    await connection.execute(statement, params)


@functools.cache
def _update_by_id(table: sa.Table, columns: tuple[str, ...]) -> sa.Update:
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name in columns})
    )


async def insert_rows(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows`, one executemany per distinct set of keys."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for group in groups.values():
        await connection.execute(plain_insert(table), group)


@functools.cache
def plain_insert(table: sa.Table) -> sa.Insert:
    """`INSERT INTO table`, built once: executed with one row or a list as parameters."""
    return sa.insert(table)

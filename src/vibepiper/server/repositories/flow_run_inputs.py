"""Queries on flow-run input (`flow_run_input`): keyed JSON text sent to a flow run.

A run's inputs go with the run: `flow_runs.delete` and retention delete them explicitly
(SQLite does not enforce the foreign key's cascade).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories._dialect import not_in_strings

__all__ = ["FlowRunInputExists", "delete", "get", "insert", "run_exists", "search"]

_in = t.flow_run_input.c


class FlowRunInputExists(Exception):
    """The flow run has an input under that key already (keys are written once)."""

    def __init__(self, flow_run_id: uuid.UUID, key: str) -> None:
        super().__init__(f"flow run {flow_run_id} has an input with key {key!r} already")
        self.flow_run_id = flow_run_id
        self.key = key


async def run_exists(connection: AsyncConnection, flow_run_id: uuid.UUID) -> bool:
    statement = sa.select(sa.literal(1)).where(t.flow_run.c.id == flow_run_id)
    return (await connection.execute(statement)).first() is not None


async def insert(
    connection: AsyncConnection,
    flow_run_id: uuid.UUID,
    key: str,
    value: str,
    sender: str | None,
) -> RowMapping:
    """Store `value` under `key` for the run; `FlowRunInputExists` when the key is taken.

    The row is skipped on a collision rather than failing the statement, so the caller's
    transaction stays usable (PostgreSQL aborts a transaction whose statement failed).
    """
    now = dt.datetime.now(dt.UTC)
    row = {
        "id": uuid.uuid4(),
        "flow_run_id": flow_run_id,
        "key": key,
        "value": value,
        "sender": sender,
        "created": now,
        "updated": now,
    }
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(t.flow_run_input)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["flow_run_id", "key"])
        .returning(*t.flow_run_input.c)
    )
    stored = (await connection.execute(statement)).mappings().first()
    if stored is None:
        raise FlowRunInputExists(flow_run_id, key)
    return stored


async def get(connection: AsyncConnection, flow_run_id: uuid.UUID, key: str) -> RowMapping | None:
    statement = sa.select(t.flow_run_input).where(_in.flow_run_id == flow_run_id, _in.key == key)
    return (await connection.execute(statement)).mappings().first()


async def search(
    connection: AsyncConnection,
    flow_run_id: uuid.UUID,
    prefix: str,
    limit: int,
    exclude_keys: Sequence[str],
) -> list[RowMapping]:
    """The run's inputs whose key starts with `prefix`, but those in `exclude_keys`,
    oldest first."""
    statement = (
        sa.select(t.flow_run_input)
        .where(
            _in.flow_run_id == flow_run_id,
            # not LIKE: SQLite's ignores case, and `_` and `%` would be wildcards
            sa.func.substr(_in.key, 1, len(prefix)) == prefix,
            not_in_strings(connection, _in.key, exclude_keys),
        )
        .order_by(_in.created, _in.key)
        .limit(limit)
    )
    return list((await connection.execute(statement)).mappings())


async def delete(connection: AsyncConnection, flow_run_id: uuid.UUID, key: str) -> bool:
    """Delete the input; False when there was none."""
    statement = sa.delete(t.flow_run_input).where(_in.flow_run_id == flow_run_id, _in.key == key)
    result = await connection.execute(statement)
    return bool(result.rowcount)

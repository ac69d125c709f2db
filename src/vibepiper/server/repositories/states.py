"""Queries on state history (`flow_run_state`, `task_run_state`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories._dialect import plain_insert

RunKind = Literal["flow_run", "task_run"]
# Bound parameters per IN list, well under SQLite's limit of 32,766.
_CHUNK = 5000
_TABLES = {"flow_run": t.flow_run_state, "task_run": t.task_run_state}
_EXISTING = {
    kind: sa.select(table.c.id).where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
    for kind, table in _TABLES.items()
}


async def insert(connection: AsyncConnection, kind: RunKind, values: dict[str, Any]) -> None:
    """Record one accepted state (`values` holds `<kind>_id` and the state's fields)."""
    await connection.execute(plain_insert(_TABLES[kind]), values)


async def insert_many(
    connection: AsyncConnection, kind: RunKind, rows: Sequence[dict[str, Any]]
) -> None:
    """Record many accepted states in one statement."""
    if rows:
        await connection.execute(plain_insert(_TABLES[kind]), list(rows))


async def exists(connection: AsyncConnection, kind: RunKind, state_id: uuid.UUID) -> bool:
    """Whether a state with this id is recorded."""
    table = _TABLES[kind]
    statement = sa.select(table.c.id).where(table.c.id == state_id)
    return (await connection.execute(statement)).first() is not None


async def existing_ids(
    connection: AsyncConnection, kind: RunKind, state_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `state_ids` are recorded."""
    found: set[uuid.UUID] = set()
    for start in range(0, len(state_ids), _CHUNK):
        chunk = list(state_ids[start : start + _CHUNK])
        found.update((await connection.execute(_EXISTING[kind], {"ids": chunk})).scalars())
    return found


async def history(
    connection: AsyncConnection, kind: RunKind, run_id: uuid.UUID
) -> list[RowMapping]:
    """Every state of the run, oldest first."""
    table = _TABLES[kind]
    statement = (
        sa.select(table)
        .where(table.c[f"{kind}_id"] == run_id)
        .order_by(table.c.timestamp, table.c.id)
    )
    return list((await connection.execute(statement)).mappings())


async def details_of(connection: AsyncConnection, kind: RunKind, state_id: uuid.UUID) -> Any:
    """The `details` of one stored state (None when it is not in the history)."""
    table = _TABLES[kind]
    statement = sa.select(table.c.details).where(table.c.id == state_id)
    return (await connection.execute(statement)).scalar_one_or_none()


async def flow_run_job_variables(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """Each run's own job variables: the `job_variables` of its earliest state that has
    them (the request that made a deployment's run puts them in its first state)."""
    table = t.flow_run_state
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for start in range(0, len(run_ids), _CHUNK):
        statement = (
            sa.select(table.c.flow_run_id, table.c.details)
            .where(table.c.flow_run_id.in_(run_ids[start : start + _CHUNK]))
            .order_by(table.c.timestamp, table.c.id)
        )
        for run_id, details in (await connection.execute(statement)).all():
            variables = (details or {}).get("job_variables")
            if run_id not in found and isinstance(variables, dict):
                found[run_id] = variables
    return found

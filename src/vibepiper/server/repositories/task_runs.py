"""Queries on task runs and their input edges (`task_run`, `task_run_input`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.api_filters import TaskRunFilter, TaskRunSort
from vibepiper.server.repositories._dialect import insert_ignoring_conflicts, locked
from vibepiper.server.repositories._run_filters import ordered, run_conditions

_r = t.task_run.c
_i = t.task_run_input.c
_SORTS: dict[Any, list[sa.ColumnElement[Any]]] = {
    TaskRunSort.CREATED_ASC: [ordered(_r.created, False), _r.id],
    TaskRunSort.CREATED_DESC: [ordered(_r.created, True), _r.id.desc()],
    TaskRunSort.START_TIME_ASC: [ordered(_r.start_time, False), _r.id],
    TaskRunSort.START_TIME_DESC: [ordered(_r.start_time, True), _r.id.desc()],
    TaskRunSort.NAME_ASC: [_r.name, _r.id],
}
# Bound parameters per IN list, well under SQLite's limit of 32,766.
_CHUNK = 5000


async def get(connection: AsyncConnection, run_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.task_run).where(_r.id == run_id))
    row: RowMapping | None = result.mappings().first()
    return row


async def get_for_update(connection: AsyncConnection, run_id: uuid.UUID) -> RowMapping | None:
    """The run's row, locked until the transaction ends (for a state change)."""
    query = locked(connection, sa.select(t.task_run).where(_r.id == run_id))
    result = await connection.execute(query)
    row: RowMapping | None = result.mappings().first()
    return row


async def insert(
    connection: AsyncConnection, values: dict[str, Any], inputs: Sequence[dict[str, Any]]
) -> None:
    await connection.execute(sa.insert(t.task_run).values(**values))
    if inputs:
        await connection.execute(sa.insert(t.task_run_input), list(inputs))


async def insert_if_absent(
    connection: AsyncConnection, values: dict[str, Any], inputs: Sequence[dict[str, Any]]
) -> bool:
    """Insert the run (and its inputs) unless its id is taken; whether it was new."""
    statement = insert_ignoring_conflicts(connection, t.task_run)
    if (await connection.execute(statement, values)).rowcount == 0:
        return False
    if inputs:
        await connection.execute(sa.insert(t.task_run_input), list(inputs))
    return True


async def update(connection: AsyncConnection, run_id: uuid.UUID, values: dict[str, Any]) -> None:
    await connection.execute(sa.update(t.task_run).where(_r.id == run_id).values(**values))


def _where(connection: AsyncConnection, query: TaskRunFilter) -> list[sa.ColumnElement[bool]]:
    where = run_conditions(connection, t.task_run, query)
    if query.flow_run_id is not None:
        where.append(_r.flow_run_id.in_(query.flow_run_id))
    if query.task_key is not None:
        where.append(_r.task_key.in_(query.task_key))
    return where


async def filter_runs(connection: AsyncConnection, query: TaskRunFilter) -> list[RowMapping]:
    statement = sa.select(t.task_run).where(*_where(connection, query))
    statement = statement.order_by(*_SORTS[query.sort]).limit(query.limit).offset(query.offset)
    return list((await connection.execute(statement)).mappings())


async def count_runs(connection: AsyncConnection, query: TaskRunFilter) -> int:
    statement = sa.select(sa.func.count()).select_from(t.task_run)
    result = await connection.execute(statement.where(*_where(connection, query)))
    return int(result.scalar_one())


async def of_flow_run(connection: AsyncConnection, flow_run_id: uuid.UUID) -> list[RowMapping]:
    """Every task run of a flow run, in creation order."""
    statement = sa.select(t.task_run).where(_r.flow_run_id == flow_run_id)
    statement = statement.order_by(*_SORTS[TaskRunSort.CREATED_ASC])
    return list((await connection.execute(statement)).mappings())


async def inputs_of(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RowMapping]]:
    """The input edges of each task run in `run_ids`, by parameter and position."""
    edges: dict[uuid.UUID, list[RowMapping]] = {}
    for start in range(0, len(run_ids), _CHUNK):
        chunk = run_ids[start : start + _CHUNK]
        statement = (
            sa.select(t.task_run_input)
            .where(_i.task_run_id.in_(chunk))
            .order_by(_i.task_run_id, _i.parameter, _i.position)
        )
        for row in (await connection.execute(statement)).mappings():
            edges.setdefault(row["task_run_id"], []).append(row)
    return edges

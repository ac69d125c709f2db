"""Queries on flow runs (the `flow_run` table, joined with `flow` for its name)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.api_filters import FlowRunFilter, FlowRunSort
from vibepiper.server.repositories._dialect import locked
from vibepiper.server.repositories._run_filters import ordered, run_conditions

_r = t.flow_run.c
_SORTS: dict[Any, list[sa.ColumnElement[Any]]] = {
    FlowRunSort.CREATED_DESC: [ordered(_r.created, True), _r.id.desc()],
    FlowRunSort.CREATED_ASC: [ordered(_r.created, False), _r.id],
    FlowRunSort.START_TIME_DESC: [ordered(_r.start_time, True), _r.id.desc()],
    FlowRunSort.START_TIME_ASC: [ordered(_r.start_time, False), _r.id],
    FlowRunSort.END_TIME_DESC: [ordered(_r.end_time, True), _r.id.desc()],
    FlowRunSort.NAME_ASC: [_r.name, _r.id],
    FlowRunSort.NAME_DESC: [_r.name.desc(), _r.id.desc()],
    FlowRunSort.EXPECTED_START_TIME_ASC: [ordered(_r.expected_start_time, False), _r.id],
    FlowRunSort.EXPECTED_START_TIME_DESC: [ordered(_r.expected_start_time, True), _r.id.desc()],
}


def _select() -> sa.Select[Any]:
    joined = t.flow_run.outerjoin(t.flow, t.flow.c.id == _r.flow_id)
    return sa.select(t.flow_run, t.flow.c.name.label("flow_name")).select_from(joined)


async def get(connection: AsyncConnection, run_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(_select().where(_r.id == run_id))
    row: RowMapping | None = result.mappings().first()
    return row


async def get_for_update(connection: AsyncConnection, run_id: uuid.UUID) -> RowMapping | None:
    """The run's own row, locked until the transaction ends (for a state change)."""
    query = locked(connection, sa.select(t.flow_run).where(_r.id == run_id))
    result = await connection.execute(query)
    row: RowMapping | None = result.mappings().first()
    return row


async def insert(connection: AsyncConnection, values: dict[str, Any]) -> None:
    await connection.execute(sa.insert(t.flow_run).values(**values))


async def update(connection: AsyncConnection, run_id: uuid.UUID, values: dict[str, Any]) -> None:
    await connection.execute(sa.update(t.flow_run).where(_r.id == run_id).values(**values))


def _where(connection: AsyncConnection, query: FlowRunFilter) -> list[sa.ColumnElement[bool]]:
    where = run_conditions(connection, t.flow_run, query)
    if query.flow_id is not None:
        where.append(_r.flow_id.in_(query.flow_id))
    if query.flow_name is not None:
        names = sa.select(t.flow.c.id).where(t.flow.c.name.in_(query.flow_name))
        where.append(_r.flow_id.in_(names))
    if query.parent_task_run_id is not None:
        where.append(_r.parent_task_run_id.in_(query.parent_task_run_id))
    if query.parent_flow_run_id is not None:
        proxies = sa.select(t.task_run.c.id).where(
            t.task_run.c.flow_run_id == query.parent_flow_run_id
        )
        where.append(_r.parent_task_run_id.in_(proxies))
    if query.root_only:
        # Most runs are roots: through the parent index SQLite would then sort every root
        # run; hiding the column from the planner keeps the `created` index in use.
        where.append(sa.func.coalesce(_r.parent_task_run_id, None).is_(None))
    if query.deployment_id is not None:
        where.append(_r.deployment_id.in_(query.deployment_id))
    if query.work_pool_name is not None:
        where.append(_r.work_pool_name.in_(query.work_pool_name))
    if query.expected_start_time_after is not None:
        where.append(_r.expected_start_time >= query.expected_start_time_after)
    if query.expected_start_time_before is not None:
        where.append(_r.expected_start_time <= query.expected_start_time_before)
    return where


async def filter_runs(connection: AsyncConnection, query: FlowRunFilter) -> list[RowMapping]:
    statement = _select().where(*_where(connection, query)).order_by(*_SORTS[query.sort])
    result = await connection.execute(statement.limit(query.limit).offset(query.offset))
    return list(result.mappings())


async def count_runs(connection: AsyncConnection, query: FlowRunFilter) -> int:
    statement = sa.select(sa.func.count()).select_from(t.flow_run)
    result = await connection.execute(statement.where(*_where(connection, query)))
    return int(result.scalar_one())


async def delete(connection: AsyncConnection, run_id: uuid.UUID) -> bool:
    """Delete the run with its states, task runs (and theirs), logs and artifacts; False
    if absent.

    Deleted explicitly rather than by cascade: SQLite does not enforce foreign keys.
    """
    task_runs = sa.select(t.task_run.c.id).where(t.task_run.c.flow_run_id == run_id)
    for statement in (
        sa.delete(t.task_run_state).where(t.task_run_state.c.task_run_id.in_(task_runs)),
        sa.delete(t.task_run_input).where(t.task_run_input.c.task_run_id.in_(task_runs)),
        sa.delete(t.log).where(t.log.c.flow_run_id == run_id),
        sa.delete(t.artifact).where(t.artifact.c.flow_run_id == run_id),
        sa.delete(t.flow_run_input).where(t.flow_run_input.c.flow_run_id == run_id),
        sa.delete(t.task_run).where(t.task_run.c.flow_run_id == run_id),
        sa.delete(t.flow_run_state).where(t.flow_run_state.c.flow_run_id == run_id),
    ):
        await connection.execute(statement)
    result = await connection.execute(sa.delete(t.flow_run).where(_r.id == run_id))
    return bool(result.rowcount)


RELEASED_HOLDER: dict[str, Any] = {
    "worker_name": None,
    "infrastructure_pid": None,
    "heartbeat_time": None,
}
"""A flow run's columns once no worker or process holds it any more."""


async def release_holders(connection: AsyncConnection, run_ids: list[uuid.UUID]) -> None:
    """Forget which worker and process held these runs (they were reopened)."""
    statement = sa.update(t.flow_run).where(_r.id.in_(run_ids))
    await connection.execute(statement.values(**RELEASED_HOLDER))

"""What the state events of runs say about them: names, tags, flow, deployment, work
pool and queue, parent task run (read in one query per kind of run)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t

Named = tuple[str, str | None]


class FlowRunFacts(NamedTuple):
    name: str
    flow: Named
    tags: tuple[str, ...]
    deployment: Named | None
    work_queue: tuple[str, str] | None
    work_pool: tuple[str, str, str] | None
    parent_task_run: Named | None
    start_time: dt.datetime | None = None
    expected_start_time: dt.datetime | None = None


class TaskRunFacts(NamedTuple):
    name: str
    tags: tuple[str, ...]
    flow_run_id: uuid.UUID | None


def _tags(value: Any) -> tuple[str, ...]:
    return tuple(tag for tag in value or () if isinstance(tag, str))


async def flow_runs(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, FlowRunFacts]:
    """The facts of these flow runs (those that exist)."""
    if not run_ids:
        return {}
    fr, f, d = t.flow_run, t.flow, t.deployment
    wp, wq, tr = t.work_pool, t.work_queue, t.task_run
    query = (
        sa.select(
            fr.c.id,
            fr.c.name,
            fr.c.flow_id,
            f.c.name.label("flow_name"),
            fr.c.tags,
            fr.c.deployment_id,
            d.c.name.label("deployment_name"),
            wq.c.id.label("queue_id"),
            fr.c.work_queue_name,
            wp.c.id.label("pool_id"),
            fr.c.work_pool_name,
            wp.c.type.label("pool_type"),
            fr.c.parent_task_run_id,
            tr.c.name.label("parent_name"),
            fr.c.start_time,
            fr.c.expected_start_time,
        )
        .select_from(fr)
        .join(f, f.c.id == fr.c.flow_id, isouter=True)
        .join(d, d.c.id == fr.c.deployment_id, isouter=True)
        .join(wp, wp.c.name == fr.c.work_pool_name, isouter=True)
        .join(
            wq,
            sa.and_(wq.c.work_pool_id == wp.c.id, wq.c.name == fr.c.work_queue_name),
            isouter=True,
        )
        .join(tr, tr.c.id == fr.c.parent_task_run_id, isouter=True)
        .where(fr.c.id.in_(list(set(run_ids))))
    )
    found = {}
    for row in (await connection.execute(query)).mappings():
        found[row["id"]] = FlowRunFacts(
            row["name"],
            (str(row["flow_id"]), row["flow_name"]),
            _tags(row["tags"]),
            None
            if row["deployment_id"] is None
            else (str(row["deployment_id"]), row["deployment_name"]),
            None if row["queue_id"] is None else (str(row["queue_id"]), row["work_queue_name"]),
            None
            if row["pool_id"] is None
            else (str(row["pool_id"]), row["work_pool_name"], row["pool_type"] or ""),
            None
            if row["parent_task_run_id"] is None
            else (str(row["parent_task_run_id"]), row["parent_name"]),
            row["start_time"],
            row["expected_start_time"],
        )
    return found


async def task_runs(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, TaskRunFacts]:
    """The facts of these task runs (those that exist)."""
    if not run_ids:
        return {}
    tr = t.task_run
    query = sa.select(tr.c.id, tr.c.name, tr.c.tags, tr.c.flow_run_id).where(
        tr.c.id.in_(list(set(run_ids)))
    )
    return {row["id"]: task_run_facts(row) for row in (await connection.execute(query)).mappings()}


def task_run_facts(row: Mapping[Any, Any]) -> TaskRunFacts:
    """The facts of a task run's row (its `name`, `tags` and `flow_run_id`)."""
    return TaskRunFacts(row["name"], _tags(row["tags"]), row["flow_run_id"])


async def flow_runs_in_range(
    connection: AsyncConnection,
    column: str,
    since: dt.datetime,
    until: dt.datetime,
    limit: int,
    *,
    flow_ids: Sequence[uuid.UUID] = (),
    deployment_ids: Sequence[uuid.UUID] = (),
) -> list[RowMapping]:
    """(id, state_type, start_time, end_time, expected_start_time) of the flow runs whose
    `column` (`end_time` or `expected_start_time`, both indexed) is in [since, until],
    of these flows and deployments when given, the latest `limit` of them."""
    fr = t.flow_run.c
    at = fr[column]
    statement = sa.select(
        fr.id, fr.state_type, fr.start_time, fr.end_time, fr.expected_start_time
    ).where(at >= since, at <= until)
    if flow_ids:
        statement = statement.where(fr.flow_id.in_(list(flow_ids)))
    if deployment_ids:
        statement = statement.where(fr.deployment_id.in_(list(deployment_ids)))
    statement = statement.order_by(at.desc()).limit(limit)
    return list((await connection.execute(statement)).mappings())

"""Queries on workers (`worker`) and on the runs they hold."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t

_w = t.worker.c
_r = t.flow_run.c
HELD_STATES = ("PENDING", "RUNNING", "CANCELLING")
"""States of a run a worker holds (claimed and not finished)."""


async def record_heartbeat(
    connection: AsyncConnection,
    name: str,
    work_pool_name: str | None,
    interval: float,
    now: dt.datetime,
) -> None:
    """Create or refresh the worker row named `name` (one row per name)."""
    row = {
        "id": uuid.uuid4(),
        "name": name,
        "work_pool_name": work_pool_name,
        "last_heartbeat": now,
        "heartbeat_interval_seconds": interval,
        "created": now,
    }
    # a heartbeat that names no pool keeps the pool the worker claimed from
    changes: dict[str, Any] = {"last_heartbeat": now, "heartbeat_interval_seconds": interval}
    if work_pool_name is not None:
        changes["work_pool_name"] = work_pool_name
    if connection.dialect.name == "postgresql":
        insert: Any = postgresql.insert(t.worker)
    else:
        insert = sqlite.insert(t.worker)
    statement = insert.values(**row).on_conflict_do_update(index_elements=["name"], set_=changes)
    await connection.execute(statement)


async def list_workers(
    connection: AsyncConnection, work_pool_name: str | None = None
) -> list[RowMapping]:
    statement = sa.select(t.worker).order_by(_w.name)
    if work_pool_name is not None:
        statement = statement.where(_w.work_pool_name == work_pool_name)
    return list((await connection.execute(statement)).mappings())


async def held_runs(
    connection: AsyncConnection, worker_names: Sequence[str]
) -> dict[str, list[uuid.UUID]]:
    """The ids of runs each worker holds (claimed, not finished)."""
    if not worker_names:
        return {}
    statement = sa.select(_r.worker_name, _r.id).where(
        _r.worker_name.in_(worker_names), _r.state_type.in_(HELD_STATES)
    )
    held: dict[str, list[uuid.UUID]] = {name: [] for name in worker_names}
    for name, run_id in (await connection.execute(statement.order_by(_r.created))).all():
        held[name].append(run_id)
    return held


async def runs_by_id(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RowMapping]:
    statement = sa.select(_r.id, _r.state_type, _r.worker_name).where(_r.id.in_(run_ids))
    return {row["id"]: row for row in (await connection.execute(statement)).mappings()}


async def touch_runs(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID], now: dt.datetime
) -> None:
    """Record that the runs' holder is alive (only runs it still holds)."""
    if run_ids:
        statement = sa.update(t.flow_run).where(_r.id.in_(run_ids), _r.state_type.in_(HELD_STATES))
        await connection.execute(statement.values(heartbeat_time=now))


async def record_processes(connection: AsyncConnection, pids: Mapping[uuid.UUID, str]) -> None:
    """Record the "host:pid" of the process running each held run."""
    for run_id, pid in pids.items():
        statement = sa.update(t.flow_run).where(
            _r.id == run_id,
            _r.state_type.in_(HELD_STATES),
            sa.or_(_r.infrastructure_pid.is_(None), _r.infrastructure_pid != pid),
        )
        await connection.execute(statement.values(infrastructure_pid=pid))

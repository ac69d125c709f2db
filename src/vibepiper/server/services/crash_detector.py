"""The crash detector: a run whose worker stopped heartbeating is Crashed.

Every pass finds runs held by a worker (claimed: `worker_name` set) in Pending,
Running or Cancelling whose last heartbeat is older than the timeout. A Cancelling
one ends Cancelled (it was being stopped anyway); the others end Crashed with a
message naming the worker and its last heartbeat. The concurrency slots the run's
process held are released: the `concurrency_lease` rows whose holder is the run's
`infrastructure_pid` ("host:pid"), or a task of it ("task run <id> (host:pid)").

Replicas: the runs are claimed with `FOR UPDATE SKIP LOCKED` and changed with a
conditional UPDATE, so two replicas never end one run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.database import Database
from vibepiper.server.repositories._dialect import locked_skipping
from vibepiper.server.repositories.workers import HELD_STATES
from vibepiper.server.services._periodic import every
from vibepiper.server.services._transitions import transition
from vibepiper.states import State, StateType

logger = logging.getLogger("vibepiper.server.crash_detector")

_r = t.flow_run.c
_BATCH = 100


async def detect_crashes(db: Database, *, timeout: float, now: dt.datetime | None = None) -> int:
    """End the held runs whose heartbeat is older than `timeout` seconds; how many."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(seconds=timeout)
    query = (
        sa.select(t.flow_run)
        .where(
            _r.worker_name.is_not(None),
            _r.state_type.in_(HELD_STATES),
            sa.func.coalesce(_r.heartbeat_time, _r.updated) < cutoff,
        )
        .order_by(_r.heartbeat_time)
        .limit(_BATCH)
    )
    ended = 0
    async with db.write() as connection:
        rows = (await connection.execute(locked_skipping(connection, query))).mappings().all()
        for row in rows:
            if await _end(connection, row, timeout):
                ended += 1
    return ended


async def _end(connection: AsyncConnection, row: Mapping[Any, Any], timeout: float) -> bool:
    last = row["heartbeat_time"] or row["updated"]
    silent = f"worker {row['worker_name']!r} stopped heartbeating (last heartbeat at " + (
        f"{last.isoformat()}, more than {timeout:g} s ago)"
    )
    if row["state_type"] == StateType.CANCELLING.value:
        state: State[Any] = State(StateType.CANCELLED, message=f"{silent} while it was cancelled")
    else:
        state = State(StateType.CRASHED, message=silent)
    decision = await transition(connection, row, state, expect_type=row["state_type"])
    if not decision.accepted:
        return False
    released = await release_leases(connection, row["infrastructure_pid"], row["id"])
    logger.warning(
        "flow run %s: %s; now %s (%d concurrency lease rows released)",
        row["id"],
        silent,
        state.name,
        released,
    )
    return True


async def release_leases(
    connection: AsyncConnection, process: str | None, flow_run_id: uuid.UUID | None = None
) -> int:
    """Delete the concurrency leases held by the process `process` ("host:pid"), by a
    task run in it, or by a task run of `flow_run_id` ("task run <id> (...)", found even
    when the process was never recorded); returns how many rows went."""
    holder = t.concurrency_lease.c.holder
    matches = []
    if process:
        matches += [holder == process, holder.endswith(f"({process})", autoescape=True)]
    if flow_run_id is not None:
        task_runs = await connection.execute(
            sa.select(t.task_run.c.id).where(t.task_run.c.flow_run_id == flow_run_id)
        )
        prefixes = [f"task run {task_run_id} " for (task_run_id,) in task_runs]
        for chunk in range(0, len(prefixes), 500):
            matches.append(
                sa.or_(
                    *(
                        holder.startswith(prefix, autoescape=True)
                        for prefix in prefixes[chunk : chunk + 500]
                    )
                )
            )
    if not matches:
        return 0
    statement = sa.delete(t.concurrency_lease).where(sa.or_(*matches))
    return int((await connection.execute(statement)).rowcount or 0)


async def crash_detector_loop(db: Database, *, timeout: float, interval: float) -> None:
    """Every `interval` seconds, one crash-detection pass (forever; cancel it)."""
    await every(
        interval, lambda: detect_crashes(db, timeout=timeout), what="crash detection", logger=logger
    )

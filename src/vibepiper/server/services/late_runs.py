"""Late runs: a Scheduled run not started well after its time is marked Late, with why.

A pass renames (state Scheduled, name "Late") the runs due more than
`after_seconds` ago, so the dashboard and alerts see them; the message says what
holds each back: its deployment or pool or queue is paused, a concurrency limit is
full, or nothing polls for it. Late runs stay claimable.

Replicas: one pass at a time (a PostgreSQL advisory lock tried without waiting; a
replica finding it taken skips its pass), rows claimed with `SKIP LOCKED`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.deployments import DEFAULT_QUEUE
from vibepiper.server.database import Database
from vibepiper.server.repositories import claims, deployments, work_pools
from vibepiper.server.repositories._dialect import locked_skipping, try_advisory_xact_lock
from vibepiper.server.services._deployment_read import READY_WITHIN
from vibepiper.server.services._periodic import every
from vibepiper.server.services._transitions import scheduled, scheduled_details, transition

logger = logging.getLogger("vibepiper.server.late_runs")

_r = t.flow_run.c
_LATE_LOCK_KEY = 0x76_70_5F_6C_61_74_65
_BATCH = 50
_PASS_RUNS = 1000


async def mark_late_runs(
    db: Database, *, after_seconds: float, now: dt.datetime | None = None
) -> int:
    """Mark Late the Scheduled runs due more than `after_seconds` ago; how many.

    At most `_PASS_RUNS` a pass, `_BATCH` a transaction: a backfill of thousands of past
    runs is marked over several short writes (bulk ones, which requests go before), never
    one that holds SQLite's write lock for seconds."""
    now = now or dt.datetime.now(dt.UTC)
    marked = 0
    for _ in range(_PASS_RUNS // _BATCH):
        async with db.write(bulk=True) as connection:
            if not await try_advisory_xact_lock(connection, _LATE_LOCK_KEY):
                return marked
            found, accepted = await _mark_batch(connection, after_seconds, now)
        marked += accepted
        if found < _BATCH:
            break
    return marked


async def _mark_batch(
    connection: AsyncConnection, after_seconds: float, now: dt.datetime
) -> tuple[int, int]:
    """One transaction's runs: (how many were found, how many were marked)."""
    query = (
        sa.select(t.flow_run)
        .where(
            _r.state_type == "SCHEDULED",
            sa.func.coalesce(_r.state_name, "").not_in(["Late", "AwaitingRetry"]),
            _r.expected_start_time < now - dt.timedelta(seconds=after_seconds),
        )
        .order_by(_r.expected_start_time)
        .limit(_BATCH)
    )
    rows = (await connection.execute(locked_skipping(connection, query))).mappings().all()
    reasons: dict[tuple[Any, ...], str] = {}  # the same obstacle holds a batch's siblings
    marked = 0
    for row in rows:
        where = (row["deployment_id"], row["work_pool_name"], row["work_queue_name"])
        if where not in reasons:
            reasons[where] = await late_reason(connection, row, now)
        late = (now - row["expected_start_time"]).total_seconds()
        message = f"not started {late:.0f} s after its scheduled time: {reasons[where]}"
        details = scheduled_details(row["expected_start_time"])
        decision = await transition(
            connection,
            row,
            scheduled("Late", message),
            expect_type="SCHEDULED",
            details=details,
        )
        marked += decision.accepted
    return len(rows), marked


async def late_reason(connection: AsyncConnection, run: Mapping[Any, Any], now: dt.datetime) -> str:
    """Why the run has not started: the first obstacle found."""
    if run["deployment_id"] is None:
        return "nothing has started it"
    deployment = await deployments.get(connection, run["deployment_id"])
    if deployment is None:
        return "its deployment was deleted"
    if deployment["paused"]:
        return "deployment is paused"
    pool_name = run["work_pool_name"]
    if pool_name is None:
        return await _serve_reason(connection, deployment, now)
    pool = await work_pools.get_pool(connection, pool_name)
    if pool is None:
        return f"work pool {pool_name!r} does not exist"
    if pool["paused"]:
        return f"work pool {pool_name!r} is paused"
    queue_name = run["work_queue_name"] or DEFAULT_QUEUE
    queue = await work_pools.get_queue(connection, pool["id"], queue_name)
    if queue is None:
        return f"work queue {queue_name!r} does not exist in work pool {pool_name!r}"
    if queue["paused"]:
        return f"work queue {queue_name!r} is paused"
    full = await _full_limit(connection, deployment)
    if full:
        return full
    if pool["concurrency_limit"] is not None:
        held = await claims.held_counts(connection, _r.work_pool_name, [pool_name])
        if held.get(pool_name, 0) >= pool["concurrency_limit"]:
            return f"work pool concurrency limit ({pool['concurrency_limit']}) is full"
    if pool["last_polled"] is None or now - pool["last_polled"] > READY_WITHIN:
        return f"no worker has polled work pool {pool_name!r} in the last 60 s"
    return f"the workers of work pool {pool_name!r} have not claimed it yet"


async def _serve_reason(
    connection: AsyncConnection, deployment: Mapping[Any, Any], now: dt.datetime
) -> str:
    full = await _full_limit(connection, deployment)
    if full:
        return full
    if deployment["last_polled"] is None or now - deployment["last_polled"] > READY_WITHIN:
        return "no serve process polls this deployment"
    return "its serve process has not claimed it yet"


async def _full_limit(connection: AsyncConnection, deployment: Mapping[Any, Any]) -> str | None:
    limit = deployment["concurrency_limit"]
    if limit is None:
        return None
    held = await claims.held_counts(connection, _r.deployment_id, [deployment["id"]])
    if held.get(deployment["id"], 0) >= limit:
        return f"deployment concurrency limit ({limit}) is full"
    return None


async def late_runs_loop(db: Database, *, after_seconds: float, interval: float) -> None:
    """Every `interval` seconds, one late-runs pass (forever; cancel it)."""
    await every(
        interval,
        lambda: mark_late_runs(db, after_seconds=after_seconds),
        what="late-runs pass",
        logger=logger,
        report=lambda marked: logger.info("marked %d runs Late", marked),
    )

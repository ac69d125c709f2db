"""Retention: a background loop deleting runs, logs and artifacts older than a setting.

Each pass deletes in transactions of at most `batch_size` rows per table and yields to
the event loop between them, so a server with millions of old rows stays responsive
while it catches up. A failed pass is logged and retried at the next interval.

Several replicas on one PostgreSQL: each batch transaction first claims the retention
advisory lock without waiting; a replica that finds it taken ends its pass there (the
replica holding it is deleting, and the next interval tries again). Batches therefore
never run concurrently, so no row is deleted twice and retention cannot deadlock with
itself; the ids are also claimed with `SKIP LOCKED`, so retention never waits on a
row a request holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.server.database import Database
from vibepiper.server.repositories import retention
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.retention")

_STEPS: tuple[Callable[[AsyncConnection, dt.datetime, int], Awaitable[int]], ...] = (
    retention.delete_old_logs,
    retention.delete_old_task_runs,
    retention.delete_old_flow_runs,
    retention.delete_old_artifacts,
)


async def delete_older_than(db: Database, cutoff: dt.datetime, *, batch_size: int) -> int:
    """Delete every run and log line untouched since `cutoff`; returns rows deleted.

    Stops early (returning what it deleted so far) when another replica's pass holds
    the retention lock.
    """
    total = 0
    for step in _STEPS:
        while True:
            async with db.write(bulk=True) as connection:
                if not await retention.claim_pass(connection):
                    logger.debug("another replica is deleting old rows; this pass ends")
                    return total
                deleted = await step(connection, cutoff, batch_size)
            total += deleted
            if deleted < batch_size:
                break
            await asyncio.sleep(0)
    return total


async def retention_loop(db: Database, *, days: float, interval: float, batch_size: int) -> None:
    """Every `interval` seconds, delete what is older than `days` (forever; cancel it)."""

    async def one_pass() -> int:
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        deleted = await delete_older_than(db, cutoff, batch_size=batch_size)
        if deleted:
            logger.info("retention deleted %d rows older than %s", deleted, cutoff)
        return deleted

    await every(interval, one_pass, what="retention pass", logger=logger)

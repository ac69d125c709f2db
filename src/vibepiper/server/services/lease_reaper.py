"""The lease reaper: a background loop deleting expired concurrency leases.

Slot decisions already ignore expired leases, so nothing depends on this loop for
correctness: it keeps `concurrency_lease` from filling with the leases of holders
that died. Each transaction deletes at most `batch_size` rows, selected with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several replicas reap side by side
without deleting a row twice or waiting on a row a request holds; the loop yields
to the event loop between batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from vibepiper.server.database import Database
from vibepiper.server.repositories import concurrency
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.lease_reaper")

REAP_INTERVAL_S = 5.0
"""Seconds between passes."""
REAP_BATCH_SIZE = 1000
"""Leases deleted per transaction."""


async def reap_expired_leases(db: Database, *, batch_size: int = REAP_BATCH_SIZE) -> int:
    """Delete every lease expired now, in batches; returns how many were deleted."""
    total = 0
    while True:
        now = dt.datetime.now(dt.UTC)
        async with db.write(bulk=True) as connection:
            deleted = await concurrency.delete_expired_leases(connection, now, batch_size)
        total += deleted
        if deleted < batch_size:
            return total
        await asyncio.sleep(0)


async def lease_reaper_loop(
    db: Database, *, interval: float = REAP_INTERVAL_S, batch_size: int = REAP_BATCH_SIZE
) -> None:
    """Every `interval` seconds, delete the expired leases (forever; cancel it)."""
    await every(
        interval,
        lambda: reap_expired_leases(db, batch_size=batch_size),
        what="lease reaper pass",
        logger=logger,
        report=lambda deleted: logger.debug("deleted %d expired concurrency leases", deleted),
    )

"""Event retention: events older than their name's retention are deleted in bounded
batches, oldest first, through the time index (`event.occurred`) or, for a name with its
own retention, the `(event, occurred)` index: a pass never scans the table.

Default 7 days (`VIBEPIPER_SERVER_EVENTS_RETENTION_DAYS`); per-name overrides in
`VIBEPIPER_SERVER_EVENTS_RETENTION_OVERRIDES` (`name=days,...`, 0 keeps that name). The
related-resource index rows go by time once past the longest retention (a query always
joins them to their events, so one outliving its event is never seen).

Replicas take turns with the runs' retention advisory lock (one deleting batch at a time).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vibepiper.exceptions import ConfigurationError
from vibepiper.schemas.events import canonical
from vibepiper.server.database import Database
from vibepiper.server.repositories import events, retention
from vibepiper.server.services._periodic import every
from vibepiper.server.settings import ServerSettings

logger = logging.getLogger("vibepiper.server.retention")


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep events: `days` for any name, `overrides` by exact name (0: forever)."""

    days: float = 7.0
    overrides: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> RetentionPolicy:
        return cls(
            settings.server_events_retention_days,
            parse_overrides(settings.server_events_retention_overrides),
        )

    def longest(self) -> float | None:
        """The longest retention in days (None: some name is kept forever)."""
        values = [self.days, *self.overrides.values()]
        return None if 0 in values else max(values)


def parse_overrides(text: str) -> dict[str, float]:
    """`name=days,name=days` as a dict; ConfigurationError naming the bad part."""
    found: dict[str, float] = {}
    for part in filter(None, (item.strip() for item in text.split(","))):
        name, sep, days = part.rpartition("=")
        try:
            value = float(days)
        except ValueError:
            value = -1.0
        if not sep or not name.strip() or not value >= 0:
            raise ConfigurationError(
                f"VIBEPIPER_SERVER_EVENTS_RETENTION_OVERRIDES: {part!r} is not NAME=DAYS"
            )
        found[canonical(name.strip())] = value
    return found


async def delete_old_events(
    db: Database, policy: RetentionPolicy, *, batch_size: int, now: dt.datetime | None = None
) -> int:
    """One pass: delete every event past its retention; returns how many went (stops
    early when another replica is deleting)."""
    now = now or dt.datetime.now(dt.UTC)
    total = 0
    passes: list[tuple[str | None, float]] = [(None, policy.days)]
    passes.extend((name, days) for name, days in policy.overrides.items() if days > 0)
    for name, days in passes:
        cutoff = now - dt.timedelta(days=days)
        excluded = list(policy.overrides) if name is None else []
        deleted, finished = await _in_batches(
            db, events.delete_old, cutoff, batch_size, name=name, except_names=excluded
        )
        total += deleted
        if not finished:
            return total
    longest = policy.longest()
    if longest is not None:
        cutoff = now - dt.timedelta(days=longest)
        for delete in (events.delete_old_related, events.delete_old_subjects):
            _, finished = await _in_batches(db, delete, cutoff, batch_size)
            if not finished:
                return total
    return total


async def _in_batches(
    db: Database, delete: Callable[..., Awaitable[int]], *args: Any, **kwargs: Any
) -> tuple[int, bool]:
    """Run `delete(connection, *args, **kwargs)` (one bounded batch) in write
    transactions until it deletes nothing: how many rows went, and False when it stopped
    because another replica holds the retention pass."""
    total = 0
    while True:
        async with db.write(bulk=True) as connection:
            if not await retention.claim_pass(connection):
                return total, False
            deleted = await delete(connection, *args, **kwargs)
        total += deleted
        if deleted == 0:
            return total, True
        await asyncio.sleep(0)


async def event_retention_loop(
    db: Database, *, policy: RetentionPolicy, interval: float, batch_size: int
) -> None:
    """Every `interval` seconds, a pass of `delete_old_events` (forever; cancel it)."""

    async def one_pass() -> int:
        deleted = await delete_old_events(db, policy, batch_size=batch_size)
        if deleted:
            logger.info("event retention deleted %d events", deleted)
        return deleted

    await every(interval, one_pass, what="event retention pass", logger=logger)

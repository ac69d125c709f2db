"""Freshness of assets: is each asset materialized recently enough for its policy?

A policy (`Freshness` in `vibepiper.assets`, recorded with each materialization) says
`within` (stale past it), optionally `warn_within` (a warning sooner) and `cron` (in
`timezone`, UTC by default). Without a cron an asset is stale when its last successful
materialization is older than `within`; with one it must be materialized within
`within` after each tick: it is stale when the latest tick whose allowance has run out
had no materialization after it (a cron alone: stale until materialized after its
latest tick).

Only a running server evaluates freshness (`freshness_loop`; `vibepiper server start`
or `serve()`): each pass takes at most `BATCH` assets, least recently evaluated first
(`SKIP LOCKED` on PostgreSQL, so replicas share them). A status that changes is written
with a conditional UPDATE and announced, in the same transaction, by an event
`vibepiper.asset.freshness.fresh|warn|stale` that automations can react to.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Mapping
from typing import Any

from vibepiper.server.database import Database
from vibepiper.server.repositories import assets as repo
from vibepiper.server.services import _wake, asset_catalogue, lifecycle_events
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.assets")

BATCH = 1000
"""Most assets one pass evaluates."""
FRESHNESS_INTERVAL = 5.0
"""Seconds between passes of the server's freshness loop."""
MAX_TICKS = 10_000
"""Most cron ticks walked back to find the one whose allowance ran out."""


def _tick_before(policy: Mapping[str, Any], window: dt.timedelta, now: dt.datetime) -> dt.datetime:
    """The latest cron tick `t` with `t + window <= now`."""
    from croniter import croniter

    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(policy.get("timezone") or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    ticks = croniter(policy["cron"], (now - window).astimezone(zone))
    tick: dt.datetime = ticks.get_prev(dt.datetime)
    return tick.astimezone(dt.UTC)


def _overdue(
    policy: Mapping[str, Any], seconds: float, last: dt.datetime | None, now: dt.datetime
) -> bool:
    window = dt.timedelta(seconds=seconds)
    if policy.get("cron"):
        tick = _tick_before(policy, window, now)
        return last is None or last < tick
    return last is None or now - last > window


def freshness_status(
    policy: Mapping[str, Any], last_succeeded: dt.datetime | None, now: dt.datetime
) -> str:
    """`fresh`, `warn` or `stale`, for an asset last materialized at `last_succeeded`."""
    within, warn = policy.get("within_seconds"), policy.get("warn_within_seconds")
    if within is None and warn is None:  # a cron alone: materialized since its last tick
        within = 0.0
    if within is not None and _overdue(policy, within, last_succeeded, now):
        return "stale"
    if warn is not None and _overdue(policy, warn, last_succeeded, now):
        return "warn"
    return "fresh"


async def evaluate_freshness(
    db: Database, now: dt.datetime | None = None, *, limit: int = BATCH
) -> list[tuple[str, str | None, str]]:
    """Evaluate up to `limit` assets at `now` (default: the clock); (key, previous,
    status) of each that changed, each announced by an event."""
    now = now or dt.datetime.now(dt.UTC)
    await asset_catalogue.catch_up(db)
    changed: list[tuple[str, str | None, str]] = []
    async with db.write() as connection:
        rows = await repo.due_for_freshness(connection, limit)
        for row in rows:
            policy = row["freshness"]
            try:
                status = freshness_status(policy, row["last_succeeded"], now)
            except (KeyError, TypeError, ValueError) as exc:  # a cron croniter refuses
                logger.warning("freshness of asset %r cannot be evaluated: %s", row["key"], exc)
                continue
            previous = row["freshness_status"]
            if status == previous:
                continue
            if not await repo.change_freshness(connection, row["key"], previous, status):
                continue
            resource = {"vibepiper.resource.id": row["key"]}
            if row["name"]:
                resource["vibepiper.resource.name"] = row["name"]
            last = row["last_succeeded"]
            payload = {
                "status": status,
                "previous": previous,
                "last_materialized": None if last is None else last.isoformat(),
                "policy": policy,
            }
            await lifecycle_events.emit(
                connection, f"vibepiper.asset.freshness.{status}", resource, payload=payload
            )
            changed.append((row["key"], previous, status))
        await repo.mark_evaluated(connection, [row["key"] for row in rows], now)
    if changed:
        _wake.wake(db, "events")
    return changed


async def freshness_loop(db: Database, *, interval: float = FRESHNESS_INTERVAL) -> None:
    """Evaluate freshness every `interval` seconds, forever."""

    async def one_pass() -> int:
        return len(await evaluate_freshness(db))

    await every(interval, one_pass, what="asset freshness", logger=logger)

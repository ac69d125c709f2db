"""Events: recording what clients send, and the queries (pages, counts) over them.

Pages are keyset pages: a next-page token carries the filter, the page size and the
(occurred, id) of the last event given, so the next page starts right after it through
the same index, however deep.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import datetime as dt
import json
import math
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from vibepiper.schemas import event_filters as f
from vibepiper.schemas.events import Event, ReceivedEvent
from vibepiper.server.database import Database
from vibepiper.server.repositories import events
from vibepiper.server.services import _wake
from vibepiper.server.services._errors import invalid

Countable = Literal["day", "time", "event", "resource"]
MAX_BUCKETS = 1000
"""Most time buckets one count-by answer holds."""


async def record(db: Database, items: Sequence[Event]) -> None:
    """Record `items` (those recorded already are skipped)."""
    if not items:
        return
    received = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    for item in items:
        row, related = events.rows_of(item, received)
        rows.append(row)
        index.extend(related)
    async with db.write() as connection:
        await events.insert(connection, rows, index)
    _wake.wake(db, "events")


def received_event(row: Any) -> ReceivedEvent:
    return ReceivedEvent.model_validate(
        {
            "id": row["id"],
            "occurred": row["occurred"],
            "event": row["event"],
            "resource": row["resource"],
            "related": row["related"],
            "payload": row["payload"],
            "received": row["received"],
            "follows": row["follows"],
        }
    )


async def read_page(
    db: Database,
    spec: f.EventFilter,
    limit: int,
    next_url: str,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> f.EventPage:
    """One page of events matching `spec`; `next_url` + a token is the next page's URL."""
    async with db.read() as connection:
        rows = await events.read(connection, spec, limit + 1, after)
        total = await events.count(connection, spec, f.MAX_COUNTED_TOTAL)
    found = [received_event(row) for row in rows[:limit]]
    next_page = None
    if len(rows) > limit and found:
        last = found[-1]
        token = _token(spec, limit, (last.occurred, last.id))
        next_page = f"{next_url}?page-token={token}"
    return f.EventPage(events=found, total=total, next_page=next_page)


async def read_next_page(db: Database, token: str, next_url: str) -> f.EventPage:
    """The page a token names (422 for a token this server did not make)."""
    spec, limit, after = _untoken(token)
    return await read_page(db, spec, limit, next_url, after)


def _token(spec: f.EventFilter, limit: int, after: tuple[dt.datetime, uuid.UUID]) -> str:
    data = {
        "filter": f.dump_filter(spec),
        "limit": limit,
        "after": [after[0].isoformat(), str(after[1])],
    }
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _untoken(token: str) -> tuple[f.EventFilter, int, tuple[dt.datetime, uuid.UUID]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        spec = f.EventFilter.model_validate(data["filter"])
        limit = int(data["limit"])
        after = (dt.datetime.fromisoformat(data["after"][0]), uuid.UUID(data["after"][1]))
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error, ValidationError):
        raise invalid(("query", "page-token"), "not a page token of this server") from None
    if not 0 < limit <= f.MAX_EVENT_PAGE_SIZE:
        raise invalid(("query", "page-token"), "not a page token of this server")
    return spec, limit, after


async def count_by(
    db: Database, countable: Countable, request: f.EventCountRequest
) -> list[f.EventCount]:
    """Counts of the events matching the filter by day, time bucket, name or resource."""
    spec = request.filter
    if countable in ("event", "resource"):
        async with db.read() as connection:
            rows = await events.count_by_column(connection, spec, countable)
        return [
            f.EventCount(
                value=str(row["value"]),
                label=str(row["label"]),
                count=int(row["count"]),
                start_time=_aware(row["start_time"]),
                end_time=_aware(row["end_time"]),
            )
            for row in rows
        ]
    since, until = spec.occurred.since, spec.occurred.until
    if countable == "day":
        span = 86400.0
        start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        span = request.time_unit.seconds() * request.time_interval
        start = since
    buckets = math.floor((until - start).total_seconds() / span) + 1
    if buckets > MAX_BUCKETS:
        raise invalid(("body", "time_interval"), f"more than {MAX_BUCKETS} buckets in the range")
    async with db.read() as connection:
        counts = await events.count_by_time(connection, spec, start, span)
    answer = []
    for index in range(max(buckets, 0)):
        begin = start + dt.timedelta(seconds=index * span)
        end = begin + dt.timedelta(seconds=span) - dt.timedelta(microseconds=1)
        value = begin.date().isoformat() if countable == "day" else begin.isoformat()
        answer.append(
            f.EventCount(
                value=value,
                label=value,
                count=counts.get(index, 0),
                start_time=begin,
                end_time=end,
            )
        )
    return answer


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


RECEIVED_LOOKBACK = dt.timedelta(seconds=2)
"""How far before the newest event it has seen a live stream looks again: a transaction
that stamped its events earlier may commit after one that stamped later (the stream
follows the server's `received` stamp, not the events' own time, so a client's late
batch or skewed clock is streamed all the same)."""
POLL_SECONDS = 0.5
PAGE = 1000
MAX_PAGES = 50
"""At most this many pages a look (50,000 events); the rest follow at the next."""
MAX_BACKFILL = 500


async def follow(
    db: Database, spec: f.EventFilter, backfill: int, poll: float = POLL_SECONDS
) -> AsyncIterator[ReceivedEvent]:
    """The events matching `spec`: first up to `backfill` recent ones (oldest first),
    then each new one as it is recorded, forever (any replica's writes included: it
    reads the database, every `poll` seconds)."""
    seen: collections.OrderedDict[uuid.UUID, None] = collections.OrderedDict()

    def fresh(event: ReceivedEvent) -> bool:
        if event.id in seen:
            return False
        seen[event.id] = None
        if len(seen) > 20_000:
            seen.popitem(last=False)
        return True

    # before the backfill's read: what is recorded meanwhile is streamed, not lost
    started = dt.datetime.now(dt.UTC)
    if backfill > 0:
        recent = spec.model_copy(update={"order": f.EventOrder.DESC})
        async with db.read() as connection:
            rows = await events.read(connection, recent, min(backfill, MAX_BACKFILL))
        for row in reversed(rows):
            event = received_event(row)
            if fresh(event):
                yield event
    live = spec.model_copy(
        update={
            "occurred": f.EventOccurredFilter(
                since=spec.occurred.since, until=started + dt.timedelta(days=3650)
            ),
            "order": f.EventOrder.ASC,
        }
    )
    newest = started
    while True:
        # what was recorded since the last look, page after page (a burst of thousands
        # of events is streamed whole), looking back RECEIVED_LOOKBACK for events of
        # transactions that committed after later ones (the ids seen are skipped)
        after: tuple[dt.datetime, uuid.UUID] | None = None
        since = newest - RECEIVED_LOOKBACK
        for _ in range(MAX_PAGES):
            async with db.read() as connection:
                rows = await events.read_received(connection, live, since, PAGE, after)
            for row in rows:
                event = received_event(row)
                # recorded before the stream began: that was the backfill's to give
                if event.received >= started and fresh(event):
                    yield event
            if rows:
                last = rows[-1]
                after = (last["received"], last["id"])
                newest = max(newest, _aware(last["received"]))
            if len(rows) < PAGE:
                break
        await asyncio.sleep(poll)

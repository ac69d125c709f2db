"""In-process wake-ups for the automations' loops: "events arrived" (the evaluator) and
"actions were queued" (the runner), so an event this replica records is evaluated, and
the actions its firing queues are carried out, at once rather than at the loops' next
tick. Other replicas' events are found at the tick; nothing depends on a wake-up."""

from __future__ import annotations

import asyncio
import weakref
from typing import Literal

from vibepiper.server.database import Database
from vibepiper.utilities.waits import wait_within

Topic = Literal["events", "actions"]

_events: weakref.WeakKeyDictionary[Database, dict[Topic, asyncio.Event]] = (
    weakref.WeakKeyDictionary()
)


def _event(db: Database, topic: Topic) -> asyncio.Event:
    topics = _events.get(db)
    if topics is None:
        topics = _events[db] = {}
    found = topics.get(topic)
    if found is None:
        found = topics[topic] = asyncio.Event()
    return found


def wake(db: Database, topic: Topic) -> None:
    """Something for `topic` was committed on `db` (call after the commit)."""
    _event(db, topic).set()


async def pause(db: Database, topic: Topic, seconds: float) -> None:
    """Sleep `seconds`, or less when `wake(db, topic)` is called meanwhile."""
    event = _event(db, topic)
    await wait_within(event.wait(), seconds)
    event.clear()

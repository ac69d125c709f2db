"""In-process wake-ups for the background-task queue's long polls.

Two topics per database: "queued" (a run became claimable here: `delay()`, a release),
which wakes waiting claims, and "finished" (a task run reached a final state here: a
batch, a `set_state`), which wakes waiting `wait` calls. Other replicas cannot wake
them: every long poll also re-checks the database every `RECHECK_SECONDS`, so nothing
depends on a wake-up, it only makes the common case (one server) answer at once.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable
from typing import Literal

from vibepiper.server.database import Database
from vibepiper.server.services._notify import Notifier
from vibepiper.server.services.state_events import StateChange
from vibepiper.states import TERMINAL_STATE_TYPES

RECHECK_SECONDS = 0.1

Topic = Literal["queued", "finished"]


_topics: weakref.WeakKeyDictionary[Database, dict[Topic, Notifier]] = weakref.WeakKeyDictionary()


def _generation(db: Database, topic: Topic) -> Notifier:
    topics = _topics.get(db)
    if topics is None:
        topics = _topics[db] = {}
    found = topics.get(topic)
    if found is None:
        found = topics[topic] = Notifier()
    return found


def notify(db: Database, topic: Topic) -> None:
    """Wake this process's long polls on `db` waiting for `topic` (after the commit)."""
    _generation(db, topic).notify()


async def wait(db: Database, topic: Topic, timeout: float) -> bool:
    """Return on `notify(db, topic)` (True), after `RECHECK_SECONDS` or after `timeout`
    (False)."""
    return await _generation(db, topic).wait(max(0.0, min(timeout, RECHECK_SECONDS)))


def finished_runs(changes: Iterable[StateChange]) -> list[uuid.UUID]:
    """The runs of `changes` that are final now: they leave the background-task queue
    in the same transaction, and their waits are woken (`notify(db, "finished")`) after
    it commits."""
    return [change.run_id for change in changes if change.state.type in TERMINAL_STATE_TYPES]

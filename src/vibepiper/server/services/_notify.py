"""In-process wake-ups for long-polling claims: "runs may have become claimable".

A claim waiting for work (`wait_seconds`) sleeps on its database's notifier and is
woken when this process creates or reschedules a run, so a run created while a
worker waits is handed out within milliseconds. Other replicas cannot wake it; the
waiting claim also re-checks the database every `RECHECK_SECONDS` for their runs and
for runs that simply came due. A stopping server `drain`s: waiting claims answer at
once with what they have (nothing) instead of being cut off at the end of the shutdown
grace period with a 500.

A second notifier per database wakes the long-polls that wait for flow-run states to
change (a paused run waiting to be resumed, a run watching for a pause request).
"""

from __future__ import annotations

import asyncio
import weakref

from vibepiper.server.database import Database
from vibepiper.utilities.waits import wait_within

RECHECK_SECONDS = 0.1


class Notifier:
    """Waiters of the current generation; `notify` wakes them all and starts the next
    (also the task queue's topics, `_task_notify`)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.draining = False

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """Wait for the next `notify`, at most `timeout` seconds; whether it came."""
        return await wait_within(self._event.wait(), timeout)


_notifiers: weakref.WeakKeyDictionary[Database, Notifier] = weakref.WeakKeyDictionary()


def _notifier(db: Database) -> Notifier:
    notifier = _notifiers.get(db)
    if notifier is None:
        notifier = _notifiers[db] = Notifier()
    return notifier


def runs_changed(db: Database) -> None:
    """Wake the claims waiting on `db` in this process (call after the commit)."""
    _notifier(db).notify()


async def wait_for_runs(db: Database, timeout: float) -> None:
    """Return when `runs_changed(db)` is called or after `timeout` seconds."""
    await _notifier(db).wait(max(0.0, min(timeout, RECHECK_SECONDS)))


_state_notifiers: weakref.WeakKeyDictionary[Database, Notifier] = weakref.WeakKeyDictionary()


def states_changed(db: Database) -> None:
    """Wake the flow-run state waits on `db` in this process (a resume, a pause
    request): after the commit."""
    notifier = _state_notifiers.get(db)
    if notifier is not None:
        notifier.notify()


async def wait_for_states(db: Database, timeout: float) -> None:
    """Return when `states_changed(db)` is called or after `timeout` seconds."""
    notifier = _state_notifiers.get(db)
    if notifier is None:
        notifier = _state_notifiers[db] = Notifier()
    await notifier.wait(max(0.0, timeout))


def drain(db: Database) -> None:
    """The server is stopping: claims waiting on `db` stop waiting (within
    `RECHECK_SECONDS`). A plain flag: safe to set from a signal handler or a thread."""
    _notifier(db).draining = True


def draining(db: Database) -> bool:
    return _notifier(db).draining

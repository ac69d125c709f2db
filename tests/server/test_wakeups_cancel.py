"""Shutting a server down cancels its service loops; a loop whose wait was woken in the
same moment as the cancel must still end (on Python 3.11 `asyncio.wait_for` returned the
wait's result then and dropped the cancel, so the loop went on and shutdown hung)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from vibepiper.server.services import _notify, _task_notify, _wake
from vibepiper.server.services.concurrency import _released


class _Db:
    """Stands for a Database: the wake-up registries only key on it (weakly)."""


async def _cancel_while_woken(wait: Callable[[], Awaitable[Any]], wake: Callable[[], None]) -> None:
    async def loop() -> None:
        while True:
            await wait()

    task = asyncio.create_task(loop())
    for _ in range(5):  # let the loop reach its wait
        await asyncio.sleep(0)
    wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done, "the loop went on after it was cancelled"
    assert task.cancelled()


def _cases(db: Any) -> dict[str, tuple[Callable[[], Awaitable[Any]], Callable[[], None]]]:
    return {
        "automation wake-up": (
            lambda: _wake.pause(db, "events", 30),
            lambda: _wake.wake(db, "events"),
        ),
        "flow-run notifier": (
            lambda: _notify.wait_for_runs(db, 30),
            lambda: _notify.runs_changed(db),
        ),
        "task-queue notifier": (
            lambda: _task_notify.wait(db, "queued", 30),
            lambda: _task_notify.notify(db, "queued"),
        ),
        "concurrency release": (
            lambda: _released(db).wait(["limit"], 30),
            lambda: _released(db).notify_all("limit"),
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["automation wake-up", "flow-run notifier", "task-queue notifier", "concurrency release"],
)
def test_a_wait_woken_as_it_is_cancelled_still_ends(case: str) -> None:
    async def main() -> None:
        db = _Db()
        wait, wake = _cases(db)[case]
        await _cancel_while_woken(wait, wake)

    asyncio.run(main())

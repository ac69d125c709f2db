"""CPU-bound work with a time budget, in child processes, never on the event loop.

Schedule arithmetic (croniter, dateutil) is pure Python and some rrules make dateutil
walk for seconds inside one call. `run_with_deadline(function, ...)` runs it in a child
process (`vibepiper.utilities.child_calls`): the server's own threads keep the GIL, so
requests are not slowed down while it runs, and a call past its budget is ended by
killing the child (`DeadlineExceeded`); a new child takes its place on the next call.

At most `MAX_CHILDREN` children run at once; a call waits for a free one. Children are
started on first use (or by `start_children()` when the server starts) and stopped by
`stop_children()`; a child also exits by itself when the server's end of its pipe
closes, so it never outlives the server.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")

MAX_CHILDREN = 2


class DeadlineExceeded(TimeoutError):
    """The call ran past its budget; its child process was killed."""


class _Child:
    """One child process and the two ends of its pipes held by the server."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vibepiper.utilities.child_calls"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.answers = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()

    def call(
        self, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Send a call and wait for its answer (blocking: runs on a thread)."""
        self.requests.send((function, args, kwargs))
        ok, value = self.answers.recv()
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        for end in (self.requests, self.answers):
            end.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class _Children:
    """The idle children and how many exist, for one event loop."""

    def __init__(self) -> None:
        self.idle: list[_Child] = []
        self.count = 0
        self.freed = asyncio.Condition()

    async def take(self) -> _Child:
        async with self.freed:
            while not self.idle and self.count >= MAX_CHILDREN:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop()
            self.count += 1
        try:
            return await asyncio.to_thread(_Child)
        except BaseException:
            await self.give_back(None)
            raise

    async def give_back(self, child: _Child | None) -> None:
        """Return a child that is ready for another call, or None for one that is gone."""
        async with self.freed:
            if child is None:
                self.count -= 1
            else:
                self.idle.append(child)
            self.freed.notify()


_pools: dict[asyncio.AbstractEventLoop, _Children] = {}


def _children() -> _Children:
    loop = asyncio.get_running_loop()
    if loop not in _pools:
        for stale in [other for other in _pools if other.is_closed()]:
            del _pools[stale]
        _pools[loop] = _Children()
    return _pools[loop]


async def run_with_deadline(
    function: Callable[..., T], *args: Any, timeout: float, what: str, **kwargs: Any
) -> T:
    """`function(*args, **kwargs)` in a child process; `DeadlineExceeded` naming `what`
    when it has not answered within `timeout` seconds (waiting for a free child does
    not count). Exceptions the function raises are raised here."""
    children = _children()
    child = await children.take()
    begun = time.monotonic()
    call = asyncio.ensure_future(asyncio.to_thread(child.call, function, args, kwargs))
    try:
        done, _ = await asyncio.wait({call}, timeout=timeout)
    except BaseException:  # cancelled: the child may be mid-call, so it cannot be reused
        call.add_done_callback(_ignore_outcome)
        child.stop()
        await children.give_back(None)
        raise
    if not done:
        call.add_done_callback(_ignore_outcome)
        child.stop()  # the thread waiting on its pipe sees EOF and ends
        await children.give_back(None)
        spent = time.monotonic() - begun
        raise DeadlineExceeded(
            f"{what} took longer than {timeout:g} s ({spent:.1f} s) and was stopped"
        )
    try:
        value: T = call.result()
    except (EOFError, OSError):  # the child died
        child.stop()
        await children.give_back(None)
        raise
    except BaseException:
        await children.give_back(child)  # the function raised; the child is fine
        raise
    await children.give_back(child)
    return value


def _ignore_outcome(call: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a call abandoned at its deadline (its pipe closed)."""
    if not call.cancelled():
        call.exception()


async def start_children(*modules: str) -> None:
    """Start a child now and have it import `modules` (at server start), so that the
    first call does not wait for a process to start and import what it needs."""
    from vibepiper.utilities.child_calls import preload

    await run_with_deadline(preload, *modules, timeout=60, what="starting a child process")


async def stop_children() -> None:
    """Stop this event loop's children (server shutdown)."""
    children = _pools.pop(asyncio.get_running_loop(), None)
    if children is not None:
        for child in children.idle:
            child.stop()
        children.idle.clear()

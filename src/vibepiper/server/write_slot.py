"""The SQLite server's one write slot: requests go before bulk chunks.

SQLite lets one writer in at a time, so the server queues its own writers (see
`database.py`). A backfill or a scheduler pass writes thousands of runs as a series of
chunk transactions; queued first-come first-served, every request write that arrived
behind them waited for several chunks, and on a loaded machine that passed the pool
timeout (a 503). Here a request waits for at most the chunk in progress: a waiting
request gets the slot before any waiting chunk, and a chunk still gets every
`BULK_TURN`th hand-over while requests keep coming, so a busy API never starves a
backfill.
"""

from __future__ import annotations

import asyncio
import collections

BULK_TURN = 8
"""While both kinds wait, one hand-over in this many goes to a bulk writer."""


class WriteSlot:
    """A mutex for one event loop with two queues: requests first, then bulk writers."""

    def __init__(self) -> None:
        self._held = False
        self._requests: collections.deque[asyncio.Future[None]] = collections.deque()
        self._bulk: collections.deque[asyncio.Future[None]] = collections.deque()
        self._requests_in_a_row = 0

    async def acquire(self, *, bulk: bool) -> None:
        if not self._held and not self._requests and not self._bulk:
            self._held = True
            return
        queue = self._bulk if bulk else self._requests
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the slot as the wait was given up: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        """Hand the slot to the next waiter, or free it."""
        bulk_turn = self._requests_in_a_row >= BULK_TURN - 1
        order = (self._bulk, self._requests) if bulk_turn else (self._requests, self._bulk)
        for queue in order:
            while queue:
                waiter = queue.popleft()
                if waiter.done():  # given up (timed out) before its turn
                    continue
                waiter.set_result(None)
                self._requests_in_a_row = (
                    self._requests_in_a_row + 1 if queue is self._requests else 0
                )
                return
        self._held = False
        self._requests_in_a_row = 0

"""Bounded waits that never lose a cancel.

On Python 3.11 `asyncio.wait_for(x, timeout)` returns x's result when the waiting task
is cancelled in the same loop turn as x finishes, and the cancel is gone: a service loop
woken just as the server shuts down then goes on waiting, and shutdown hangs.
`asyncio.timeout` keeps the cancel; these helpers wrap it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def wait_within(awaitable: Awaitable[object], seconds: float) -> bool:
    """Await `awaitable` for at most `seconds`: True when it finished, False when the
    time ran out (it is then cancelled). A cancel of the caller always propagates."""
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        return False
    return True

"""The shape every background service of the server shares: one pass every few seconds.

A pass that fails is logged and tried again at the next tick (a database that is
briefly away must not end the service); a pass that did something may say so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(
    interval: float,
    one_pass: Callable[[], Awaitable[int]],
    *,
    what: str,
    logger: logging.Logger,
    report: Callable[[int], None] | None = None,
) -> None:
    """Await `one_pass()` every `interval` seconds, forever (cancel the task to stop);
    `report(count)` when a pass returns a count above zero."""
    while True:
        try:
            count = await one_pass()
        except Exception:
            logger.exception("%s failed; retrying in %s s", what, interval)
        else:
            if count and report is not None:
                report(count)
        await asyncio.sleep(interval)

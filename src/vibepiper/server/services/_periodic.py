"""The shape every background service of the server shares: one pass every few seconds.

A pass that fails is logged and tried again at the next tick (a database that is
briefly away must not end the service); a pass that did something may say so. A pass
that found the database busy (no write slot in time, a lock, a lost deadlock) is
normal under load and says so in one line, without a traceback.
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
    pause: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """Await `one_pass()` every `interval` seconds, forever (cancel the task to stop);
    `report(count)` when a pass returns a count above zero; `pause(interval)` instead of
    sleeping when given (a wait that something may cut short)."""
    while True:
        try:
            count = await one_pass()
        except Exception as error:
            if _transient(error):
                logger.warning("%s skipped: %s; trying again in %s s", what, error, interval)
            else:
                logger.exception("%s failed; retrying in %s s", what, interval)
        else:
            if count and report is not None:
                report(count)
        await (asyncio.sleep(interval) if pause is None else pause(interval))


def _transient(error: Exception) -> bool:
    from sqlalchemy import exc as sa_exc

    from vibepiper.server.conflicts import lost_to_another

    if isinstance(error, sa_exc.TimeoutError | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    return lost_to_another(error)

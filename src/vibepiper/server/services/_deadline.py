"""Blocking work with a time budget, off the event loop.

Schedule arithmetic is CPU-bound pure Python (croniter, dateutil): run on the event
loop it would stall every request, and some rrules make dateutil walk for seconds
inside one call. `run_with_deadline` runs such a call on its own daemon thread and,
past the budget, raises an exception inside that thread (which stops it at its next
bytecode) and `DeadlineExceeded` to the caller.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from vibepiper.utilities.threads import raise_in_thread

T = TypeVar("T")


class DeadlineExceeded(TimeoutError):
    """The call ran past its deadline and was stopped."""


class _Stop(BaseException):
    """Raised inside a thread whose call ran past its deadline (not an `Exception`, so
    the call's own `except Exception` blocks do not swallow it)."""


async def run_with_deadline(call: Callable[[], T], timeout: float, *, what: str) -> T:
    """Run the blocking `call` on a daemon thread without blocking the event loop; if it
    has not returned after `timeout` seconds, stop it and raise `DeadlineExceeded`."""
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if outcome.done():
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(value)

    def run() -> None:
        try:
            value = call()
        except _Stop:
            return
        except BaseException as exc:
            _deliver(loop, settle, None, exc)
        else:
            _deliver(loop, settle, value, None)

    thread = threading.Thread(target=run, name=f"vibepiper-{what}", daemon=True)
    thread.start()
    try:
        return await asyncio.wait_for(asyncio.shield(outcome), timeout)
    except TimeoutError:
        if thread.ident is not None and thread.is_alive():
            raise_in_thread(thread.ident, _Stop)
        raise DeadlineExceeded(f"{what} took longer than {timeout:g} s and was stopped") from None


def _deliver(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[Any, BaseException | None], None],
    value: Any,
    error: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(settle, value, error)
    except RuntimeError:  # the loop closed meanwhile: nobody is waiting
        pass

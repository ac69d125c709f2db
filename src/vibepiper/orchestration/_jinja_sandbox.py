"""The Jinja sandbox that user templates run in (webhooks, automation actions).

`BoundedSandbox` is jinja2's ImmutableSandboxedEnvironment (attributes starting with
`_` and anything that changes a value are refused, `range` is at most 100,000 items)
where `*` and `**` cannot build huge values. `time_limit` stops a template that runs too
long: a timer signal in the main thread, which is where the server's child processes
(`server.services._deadline`) run these functions, so the child is reused; the caller's
deadline is the backstop that kills the child if even that fails (a long call in C).
"""

from __future__ import annotations

import contextlib
import operator
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_REPEAT = 100_000
"""Longest string or list `*` may build."""
MAX_EXPONENT = 1_000
"""Largest exponent `**` may take."""


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with `*` and `**` bounded (`MAX_REPEAT`, `MAX_EXPONENT`)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"an exponent above {MAX_EXPONENT} is not allowed")
            return operator.pow(left, right)
        for value, times in ((left, right), (right, left)):
            sized = isinstance(value, str | list | tuple) and isinstance(times, int)
            if sized and len(value) * times > MAX_REPEAT:
                raise SecurityError(f"'*' may build at most {MAX_REPEAT} items")
        return operator.mul(left, right)


class _OutOfTime(BaseException):
    """Raised by the timer: not an `Exception`, so neither Jinja nor pydantic handle it
    on its way out to `time_limit`."""


@contextlib.contextmanager
def time_limit(seconds: float | None, too_slow: Callable[[str], Exception]) -> Iterator[None]:
    """Raise `too_slow(message)` in this thread after `seconds` (the main thread only,
    where signals are delivered: in a child process, or a CLI; elsewhere no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not seconds or not usable:
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _OutOfTime:
        raise too_slow(f"the template took longer than {seconds:g} s and was stopped") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

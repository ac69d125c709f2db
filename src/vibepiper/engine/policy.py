"""Engine decisions with no I/O: what state a return value or an exception leads to,
whether to retry and after how long.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from vibepiper.exceptions import FlowRunTimeoutError, TaskRunTimeoutError
from vibepiper.futures import PrefectFuture
from vibepiper.states import Completed, Failed, State, StateType, TimedOut


def retry_delay(
    delays: float | Sequence[float] | None, attempt: int, jitter_factor: float | None = None
) -> float:
    """Seconds to wait before the attempt after `attempt` (1-based) failed.

    A list gives one delay per retry; past its end, the last one repeats.
    `jitter_factor` spreads the delay uniformly over `delay * (1 ± factor)`.
    """
    if delays is None:
        delay = 0.0
    elif isinstance(delays, int | float):
        delay = float(delays)
    else:
        seq = list(delays)
        delay = float(seq[min(attempt - 1, len(seq) - 1)]) if seq else 0.0
    if jitter_factor and delay > 0:
        low = max(0.0, delay * (1 - jitter_factor))
        delay = random.uniform(low, delay * (1 + jitter_factor))
    return delay


def exception_to_state(exc: BaseException, *, what: str = "Task run") -> State[Any]:
    """The Failed (or TimedOut) state an exception in user code ends a run with."""
    if isinstance(exc, TaskRunTimeoutError | FlowRunTimeoutError):
        return TimedOut(message=str(exc), data=exc)
    return Failed(message=f"{what} encountered an exception {type(exc).__name__}: {exc}", data=exc)


def interrupted_message(exc: BaseException) -> str:
    """The message of the Crashed state an interrupt (KeyboardInterrupt, SystemExit, a
    termination signal) ends a run with."""
    if isinstance(exc, KeyboardInterrupt):
        return "Execution was aborted by an interrupt signal"
    detail = str(exc)
    return f"Execution was interrupted by {type(exc).__name__}" + (f": {detail}" if detail else "")


def _is_state_collection(value: Any) -> bool:
    return (
        isinstance(value, list | tuple | set)
        and len(value) > 0
        and all(isinstance(item, State | PrefectFuture) for item in value)
    )


def return_value_to_state(value: Any) -> State[Any]:
    """The final state a flow or task reaches by returning `value`.

    A returned State becomes the final state; a future becomes its task's final state;
    a collection of states (or futures) fails if any of them failed. Anything else is
    the data of a Completed state.
    """
    if isinstance(value, State):
        return value
    if isinstance(value, PrefectFuture):
        state = value.wait()
        assert state is not None
        return state
    if _is_state_collection(value):
        states = [_as_state(item) for item in value]
        return _aggregate(states, value)
    return Completed(data=value)


def _as_state(item: State[Any] | PrefectFuture[Any]) -> State[Any]:
    if isinstance(item, PrefectFuture):
        state = item.wait()
        assert state is not None
        return state
    return item


def _aggregate(states: Iterable[State[Any]], original: Any) -> State[Any]:
    states = list(states)
    bad = [s for s in states if s.type in (StateType.FAILED, StateType.CRASHED)]
    if bad:
        return Failed(
            message=f"{len(bad)}/{len(states)} states failed.",
            data=bad[0].data if isinstance(bad[0].data, BaseException) else None,
        )
    cancelled = [s for s in states if s.type is StateType.CANCELLED]
    if cancelled:
        from vibepiper.states import Cancelled

        return Cancelled(message=f"{len(cancelled)}/{len(states)} states cancelled.")
    unfinished = [s for s in states if not s.is_final()]
    if unfinished:
        return Failed(message=f"{len(unfinished)}/{len(states)} states are not final.")
    return Completed(message=f"All {len(states)} states completed.", data=original)

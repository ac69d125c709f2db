"""Engine decisions with no I/O: what state a return value or an exception leads to,
whether to retry and after how long.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from types import GeneratorType
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
    """A non-empty list, tuple or set of states and futures only (what Prefect aggregates)."""
    return (
        isinstance(value, list | tuple | set)
        and len(value) > 0
        and all(isinstance(item, State | PrefectFuture) for item in value)
    )


def _made_by_user(state: State[Any]) -> bool:
    """A state the user's code built (`Completed(...)`), not one a run went through."""
    details = state.state_details
    return details.flow_run_id is None and details.task_run_id is None


def return_value_to_state(value: Any) -> State[Any]:
    """The final state a flow or task reaches by returning `value` (Prefect's rules).

    A State the user built becomes the final state as it is. A run's state (or a
    future: its task's final state) and a list, tuple or set of them add up to one
    state, holding `value`: Completed when all completed, else Cancelled when any was
    cancelled, Paused when any is paused, and Failed otherwise. Anything else is the
    data of a Completed state.
    """
    if isinstance(value, State) and _made_by_user(value):
        return value
    if isinstance(value, State | PrefectFuture):
        return _aggregate([_as_state(value)], value)
    if _is_state_collection(value):
        return _aggregate([_as_state(item) for item in value], value)
    if isinstance(value, GeneratorType):  # not portable: its items, as Prefect does
        return Completed(data=list(value))
    return Completed(data=value)


def _as_state(item: State[Any] | PrefectFuture[Any]) -> State[Any]:
    if isinstance(item, PrefectFuture):
        item.wait()
        return item.state
    return item


def _aggregate(states: list[State[Any]], original: Any) -> State[Any]:
    total = len(states)
    counts = Counter(state.type for state in states)
    if counts[StateType.COMPLETED] == total:
        return Completed(message="All states completed.", data=original)
    if counts[StateType.CANCELLED]:
        message = f"{counts[StateType.CANCELLED]}/{total} states cancelled."
        return State(StateType.CANCELLED, message=message, data=original)
    if counts[StateType.PAUSED]:
        message = f"{counts[StateType.PAUSED]}/{total} states paused."
        return State(StateType.PAUSED, message=message, data=original)
    failed = counts[StateType.FAILED] + counts[StateType.CRASHED]
    if failed:
        message = f"{failed}/{total} states failed."
    else:
        unfinished = sum(1 for state in states if not state.is_final())
        if unfinished:
            message = f"{unfinished}/{total} states are not final."
        else:
            listed = ", ".join(f"{kind.value}: {n}" for kind, n in sorted(counts.items()))
            message = f"Given states: {listed}"
    return Failed(message=message, data=original)

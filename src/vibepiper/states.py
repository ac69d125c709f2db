"""Run states: what a flow run or task run is doing, and what it produced.

A state has a canonical `type` (drives orchestration) and a display `name`
(`Retrying` is a RUNNING state, `Cached` a COMPLETED one, `TimedOut` a FAILED one).
States are plain slotted objects rather than pydantic models: the engine creates
several per task run and must not pay for validation on that path.
"""

from __future__ import annotations

import datetime as _dt
import enum
import sys
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any, Generic, TypeGuard, TypeVar

from vibepiper.exceptions import CancelledRun, CrashedRun, FailedRun, PausedRun, UnfinishedRun
from vibepiper.utilities.ids import new_id

R = TypeVar("R")

_UTC = _dt.UTC


def now() -> _dt.datetime:
    """The current time as an aware UTC datetime."""
    return _dt.datetime.now(_UTC)


class StateType(enum.StrEnum):
    """The canonical kinds of state; names match Prefect's."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATE_TYPES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
)


class StateDetails:
    """Bookkeeping carried by a state: which run it belongs to, when to retry, cache keys."""

    __slots__ = (
        "cache_expiration",
        "cache_key",
        "flow_run_id",
        "pause_key",
        "pause_reschedule",
        "pause_timeout",
        "result",
        "retriable",
        "run_input_keyset",
        "scheduled_time",
        "task_run_id",
        "untrackable_result",
    )

    def __init__(
        self,
        flow_run_id: uuid.UUID | None = None,
        task_run_id: uuid.UUID | None = None,
        scheduled_time: _dt.datetime | None = None,
        cache_key: str | None = None,
        cache_expiration: _dt.datetime | None = None,
        retriable: bool | None = None,
        pause_timeout: _dt.datetime | None = None,
        untrackable_result: bool = False,
        result: dict[str, Any] | None = None,
        pause_key: str | None = None,
        pause_reschedule: bool = False,
        run_input_keyset: dict[str, str] | None = None,
    ) -> None:
        self.flow_run_id = flow_run_id
        self.task_run_id = task_run_id
        self.scheduled_time = scheduled_time
        self.cache_key = cache_key
        self.cache_expiration = cache_expiration
        self.retriable = retriable
        self.pause_timeout = pause_timeout
        self.untrackable_result = untrackable_result
        # where the state's value is persisted (a ResultRecord as JSON), if it is
        self.result = result
        # a Paused state: which pause it is (a pause happens once per key), whether its
        # process exits (Suspended: a worker or `flow-run resume` starts it again), and
        # the flow-run-input keys of the input it waits for (schema, description, response)
        self.pause_key = pause_key
        self.pause_reschedule = pause_reschedule
        self.run_input_keyset = run_input_keyset

    def to_json(self) -> dict[str, Any]:
        """The details as JSON-ready values; unset fields are left out."""
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None or value is False:
                continue
            if isinstance(value, uuid.UUID):
                value = str(value)
            elif isinstance(value, _dt.datetime):
                value = value.isoformat()
            out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StateDetails:
        """Details read back from `to_json` (what does not parse is left unset)."""
        details = cls(
            flow_run_id=_uuid_or_none(data.get("flow_run_id")),
            task_run_id=_uuid_or_none(data.get("task_run_id")),
            scheduled_time=_datetime_or_none(data.get("scheduled_time")),
            cache_expiration=_datetime_or_none(data.get("cache_expiration")),
            pause_timeout=_datetime_or_none(data.get("pause_timeout")),
            untrackable_result=data.get("untrackable_result") is True,
            pause_reschedule=data.get("pause_reschedule") is True,
        )
        for name in ("cache_key", "pause_key"):
            if isinstance(data.get(name), str):
                setattr(details, name, data[name])
        if isinstance(data.get("retriable"), bool):
            details.retriable = data["retriable"]
        for name in ("result", "run_input_keyset"):
            if isinstance(data.get(name), dict):
                setattr(details, name, data[name])
        return details

    def __repr__(self) -> str:
        return f"StateDetails({self.to_json()!r})"


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _datetime_or_none(value: Any) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class State(Generic[R]):
    """The state of a run at one moment, with the data it produced (a value or an exception)."""

    __slots__ = ("data", "id", "message", "name", "state_details", "timestamp", "type")

    def __init__(
        self,
        type: StateType,
        name: str | None = None,
        message: str | None = None,
        data: Any = None,
        timestamp: _dt.datetime | None = None,
        state_details: StateDetails | None = None,
        id: uuid.UUID | None = None,
    ) -> None:
        self.type = StateType(type)
        self.name = name or _default_name(self.type)
        self.message = message
        self.data = data
        self.timestamp = timestamp or now()
        self.state_details = state_details or StateDetails()
        self.id = id or new_id()

    # --- type checks ---------------------------------------------------------------
    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_cancelling(self) -> bool:
        return self.type is StateType.CANCELLING

    def is_paused(self) -> bool:
        return self.type is StateType.PAUSED

    def is_final(self) -> bool:
        return self.type in TERMINAL_STATE_TYPES

    # --- data ----------------------------------------------------------------------
    def result(
        self,
        raise_on_failure: bool = True,
        fetch: bool = True,
        retry_result_failure: bool = True,
        *,
        _sync: bool | None = None,
    ) -> R:
        """The value this state holds.

        For a Failed, Crashed or Cancelled state, raises the exception the run ended
        with (or returns it when `raise_on_failure=False`). A state that has not
        finished raises `UnfinishedRun`.

        As in Prefect, in async code (an async flow or task, or a running event loop
        outside any run) this returns a coroutine to await: `await state.result()`.
        `aresult()` is always awaitable; `_sync=True` always answers at once.
        """
        if _sync is None:
            _sync = not _in_async_context()
        if _sync:
            return _state_result(self, raise_on_failure)  # type: ignore[no-any-return]
        return self.aresult(raise_on_failure, retry_result_failure)  # type: ignore[return-value]

    async def aresult(self, raise_on_failure: bool = True, retry_result_failure: bool = True) -> R:
        """The value this state holds (see `result`), awaited; a persisted value is
        read from its storage in a thread."""
        if self.type is StateType.COMPLETED and hasattr(self.data, "load_result"):
            import asyncio

            return await asyncio.to_thread(_state_result, self, raise_on_failure)  # type: ignore[no-any-return]
        return _state_result(self, raise_on_failure)  # type: ignore[no-any-return]

    def copy(self, **changes: Any) -> State[R]:
        """A new state with the same fields except `changes` (and a fresh id)."""
        fields = {
            "type": self.type,
            "name": self.name,
            "message": self.message,
            "data": self.data,
            "timestamp": self.timestamp,
            "state_details": self.state_details,
        }
        fields.update(changes)
        return State(**fields)

    def __repr__(self) -> str:
        message = f"message={self.message!r}, " if self.message else ""
        return f"{self.name}({message}type={self.type.value})"

    def __str__(self) -> str:
        return f"{self.name}({self.message!r})" if self.message else f"{self.name}()"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return self.type is other.type and self.name == other.name and self.message == other.message

    __hash__ = object.__hash__


def _default_name(type: StateType) -> str:
    return type.value.capitalize()


def _state(type: StateType, default_name: str, kwargs: dict[str, Any]) -> State[Any]:
    kwargs.setdefault("name", default_name)
    scheduled_time = kwargs.pop("scheduled_time", None)
    if scheduled_time is not None:
        details = kwargs.setdefault("state_details", StateDetails())
        details.scheduled_time = scheduled_time
    return State(type, **kwargs)


def Scheduled(scheduled_time: _dt.datetime | None = None, **kwargs: Any) -> State[Any]:
    """A run that will begin at `scheduled_time` (default: now)."""
    return _state(
        StateType.SCHEDULED, "Scheduled", {"scheduled_time": scheduled_time or now(), **kwargs}
    )


def Late(scheduled_time: _dt.datetime | None = None, **kwargs: Any) -> State[Any]:
    """A scheduled run whose start time has passed without it starting."""
    return _state(
        StateType.SCHEDULED, "Late", {"scheduled_time": scheduled_time or now(), **kwargs}
    )


def AwaitingRetry(scheduled_time: _dt.datetime | None = None, **kwargs: Any) -> State[Any]:
    """A failed attempt that will run again at `scheduled_time`."""
    return _state(
        StateType.SCHEDULED, "AwaitingRetry", {"scheduled_time": scheduled_time or now(), **kwargs}
    )


def Pending(**kwargs: Any) -> State[Any]:
    return _state(StateType.PENDING, "Pending", kwargs)


def Running(**kwargs: Any) -> State[Any]:
    return _state(StateType.RUNNING, "Running", kwargs)


def Retrying(**kwargs: Any) -> State[Any]:
    """A RUNNING state for the second and later attempts."""
    return _state(StateType.RUNNING, "Retrying", kwargs)


def Completed(**kwargs: Any) -> State[Any]:
    return _state(StateType.COMPLETED, "Completed", kwargs)


def Cached(**kwargs: Any) -> State[Any]:
    """A COMPLETED state whose value came from the cache instead of a call."""
    return _state(StateType.COMPLETED, "Cached", kwargs)


def Failed(**kwargs: Any) -> State[Any]:
    return _state(StateType.FAILED, "Failed", kwargs)


def TimedOut(**kwargs: Any) -> State[Any]:
    """A FAILED state for a run that exceeded its `timeout_seconds`."""
    return _state(StateType.FAILED, "TimedOut", kwargs)


def Crashed(**kwargs: Any) -> State[Any]:
    """A run ended by something outside the user's code (interrupt, killed process)."""
    return _state(StateType.CRASHED, "Crashed", kwargs)


def Cancelling(**kwargs: Any) -> State[Any]:
    return _state(StateType.CANCELLING, "Cancelling", kwargs)


def Cancelled(**kwargs: Any) -> State[Any]:
    return _state(StateType.CANCELLED, "Cancelled", kwargs)


def Paused(**kwargs: Any) -> State[Any]:
    return _state(StateType.PAUSED, "Paused", kwargs)


def Suspended(**kwargs: Any) -> State[Any]:
    """A PAUSED run whose process exited; it resumes in a new one."""
    return _state(StateType.PAUSED, "Suspended", kwargs)


def Submitting(**kwargs: Any) -> State[Any]:
    """A PENDING run being handed to the infrastructure that will run it."""
    return _state(StateType.PENDING, "Submitting", kwargs)


def InfrastructurePending(**kwargs: Any) -> State[Any]:
    """A PENDING run whose infrastructure (a process, a container) is starting."""
    return _state(StateType.PENDING, "InfrastructurePending", kwargs)


def get_state_exception(state: State[Any]) -> BaseException:
    """The exception a failed, crashed or cancelled state carries (or one built for it)."""
    data = state.data
    if isinstance(data, BaseException):
        return data
    # a flow that returned states ends in the state they add up to, holding them:
    # its exception is the first failure among them (as in Prefect)
    inner = [data] if isinstance(data, State) else _state_items(data)
    for item in inner:
        if item.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
            return get_state_exception(item)
    message = state.message or f"Run ended in state {state.name}"
    if isinstance(data, str):
        message = data
    if state.type is StateType.CRASHED:
        return CrashedRun(message)
    if state.type is StateType.CANCELLED:
        return CancelledRun(message)
    if state.type is StateType.PAUSED:
        return PausedRun(message)
    return FailedRun(message)


def _state_items(data: Any) -> list[State[Any]]:
    """The states of a non-empty list, tuple or set holding only states, else []."""
    if isinstance(data, list | tuple | set) and data and all(isinstance(x, State) for x in data):
        return list(data)
    return []


def _in_async_context() -> bool:
    """Prefect's rule for `State.result()`: inside a run, whether its flow or task is
    async; outside any run, whether an event loop runs in this thread."""
    # read through sys.modules: states sit below the run context in the layers (the
    # schemas and the server use them), and no run exists before `vibepiper.context` loads
    context = sys.modules.get("vibepiper.context")
    if context is not None:
        task_ctx = context.TaskRunContext.get()
        if task_ctx is not None:
            return bool(task_ctx.task.isasync)
        flow_ctx = context.FlowRunContext.get()
        if flow_ctx is not None:
            return bool(flow_ctx.flow.isasync)
    asyncio = sys.modules.get("asyncio")  # not imported: no loop can be running
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _state_result(state: State[Any], raise_on_failure: bool) -> Any:
    if state.type is StateType.COMPLETED:
        data = state.data
        loader = getattr(data, "load_result", None)
        return loader() if loader is not None else data
    if state.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        if raise_on_failure:
            raise get_state_exception(state)
        data = state.data
        if data is None:
            return get_state_exception(state)
        # what the run ended with: its exception, or the states a flow returned
        loader = getattr(data, "load_result", None)
        return loader() if loader is not None else data
    if isinstance(state.data, BaseException):
        exc = state.data  # e.g. the UpstreamTaskError of a task that could not start
    elif state.type is StateType.PAUSED:
        exc = PausedRun(state.message or "Run is paused")
    else:
        exc = UnfinishedRun(f"Run is in {state.type.value} state; its result is not available yet.")
    if raise_on_failure:
        raise exc
    return exc


def raise_state_exception(state: State[Any]) -> None:
    """Raise the exception of a failed, crashed or cancelled state; return otherwise."""
    if state.type in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        raise get_state_exception(state)


def is_state(obj: Any) -> TypeGuard[State[Any]]:
    """Whether `obj` is a state (not the State class itself)."""
    return isinstance(obj, State)


def is_state_iterable(obj: Any) -> TypeGuard[Iterable[State[Any]]]:
    """Whether `obj` is a non-empty list, tuple or set holding only states.

    Other iterables (dicts, generators, data frames) are never state iterables, even
    when they hold states.
    """
    return isinstance(obj, list | tuple | set) and bool(obj) and all(is_state(o) for o in obj)


class StateGroup:
    """Counts over several states: how many completed, failed, are final, ...

    What a run that returns several states is judged by (`all_completed()`,
    `any_failed()`, ...); `counts_message()` spells the counts out.
    """

    def __init__(self, states: Iterable[State[Any]]) -> None:
        self.states = list(states)
        self.type_counts: Counter[StateType] = Counter(state.type for state in self.states)
        self.total_count = len(self.states)
        self.final_count = sum(1 for state in self.states if state.is_final())
        self.not_final_count = self.total_count - self.final_count
        self.cancelled_count = self.type_counts[StateType.CANCELLED]
        self.paused_count = self.type_counts[StateType.PAUSED]

    @property
    def fail_count(self) -> int:
        """Failed and crashed states."""
        return self.type_counts[StateType.FAILED] + self.type_counts[StateType.CRASHED]

    def all_completed(self) -> bool:
        return self.type_counts[StateType.COMPLETED] == self.total_count

    def all_final(self) -> bool:
        return self.final_count == self.total_count

    def any_cancelled(self) -> bool:
        return self.cancelled_count > 0

    def any_failed(self) -> bool:
        return self.fail_count > 0

    def any_paused(self) -> bool:
        return self.paused_count > 0

    def counts_message(self) -> str:
        """`total=3, 'COMPLETED'=2, 'FAILED'=1` (with `not_final=N` when some are not)."""
        parts = [f"total={self.total_count}"]
        if self.not_final_count:
            parts.append(f"not_final={self.not_final_count}")
        parts.extend(f"{kind.value!r}={count}" for kind, count in self.type_counts.items() if count)
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"StateGroup<{self.counts_message()}>"


__all__ = [
    "AwaitingRetry",
    "Cached",
    "Cancelled",
    "Cancelling",
    "Completed",
    "Crashed",
    "Failed",
    "InfrastructurePending",
    "Late",
    "Paused",
    "Pending",
    "Retrying",
    "Running",
    "Scheduled",
    "State",
    "StateDetails",
    "StateGroup",
    "StateType",
    "Submitting",
    "Suspended",
    "TERMINAL_STATE_TYPES",
    "TimedOut",
    "get_state_exception",
    "is_state",
    "is_state_iterable",
    "now",
    "raise_state_exception",
]

"""States: constructors, type checks, timestamps and `.result()`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from vibepiper import State
from vibepiper.exceptions import CancelledRun, CrashedRun, FailedRun, UnfinishedRun
from vibepiper.states import (
    AwaitingRetry,
    Cached,
    Cancelled,
    Cancelling,
    Completed,
    Crashed,
    Failed,
    Late,
    Paused,
    Pending,
    Retrying,
    Running,
    Scheduled,
    StateType,
    Suspended,
    TimedOut,
)

Constructor = Callable[..., State[Any]]

CONSTRUCTORS: list[tuple[Constructor, StateType, str]] = [
    (Scheduled, StateType.SCHEDULED, "Scheduled"),
    (Late, StateType.SCHEDULED, "Late"),
    (AwaitingRetry, StateType.SCHEDULED, "AwaitingRetry"),
    (Pending, StateType.PENDING, "Pending"),
    (Running, StateType.RUNNING, "Running"),
    (Retrying, StateType.RUNNING, "Retrying"),
    (Completed, StateType.COMPLETED, "Completed"),
    (Cached, StateType.COMPLETED, "Cached"),
    (Failed, StateType.FAILED, "Failed"),
    (TimedOut, StateType.FAILED, "TimedOut"),
    (Crashed, StateType.CRASHED, "Crashed"),
    (Cancelling, StateType.CANCELLING, "Cancelling"),
    (Cancelled, StateType.CANCELLED, "Cancelled"),
    (Paused, StateType.PAUSED, "Paused"),
    (Suspended, StateType.PAUSED, "Suspended"),
]


def test_state_types_are_prefects() -> None:
    assert {t.value for t in StateType} == {
        "SCHEDULED",
        "PENDING",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "CRASHED",
        "PAUSED",
        "CANCELLING",
    }


@pytest.mark.parametrize(
    ("constructor", "state_type", "name"),
    CONSTRUCTORS,
    ids=[name for _, _, name in CONSTRUCTORS],
)
def test_constructor_sets_type_and_name(
    constructor: Constructor, state_type: StateType, name: str
) -> None:
    state = constructor()
    assert isinstance(state, State)
    assert state.type is state_type
    assert state.name == name


@pytest.mark.parametrize(
    "constructor", [c for c, _, _ in CONSTRUCTORS], ids=[n for _, _, n in CONSTRUCTORS]
)
def test_constructor_keeps_message_and_stamps_aware_utc_time(constructor: Constructor) -> None:
    before = dt.datetime.now(dt.UTC)
    state = constructor(message="hello")
    after = dt.datetime.now(dt.UTC)
    assert state.message == "hello"
    assert state.timestamp.tzinfo is not None
    assert state.timestamp.utcoffset() == dt.timedelta(0)
    assert before <= state.timestamp <= after


def test_message_defaults_to_none() -> None:
    assert Completed().message is None


def test_a_custom_name_overrides_the_default() -> None:
    state = Failed(name="Exploded")
    assert state.type is StateType.FAILED
    assert state.name == "Exploded"


@pytest.mark.parametrize("constructor", [Scheduled, Late, AwaitingRetry])
def test_scheduled_states_carry_their_scheduled_time(constructor: Constructor) -> None:
    when = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert constructor(scheduled_time=when).state_details.scheduled_time == when


PREDICATES = [
    "is_scheduled",
    "is_pending",
    "is_running",
    "is_completed",
    "is_failed",
    "is_crashed",
    "is_cancelled",
    "is_paused",
]

TRUE_PREDICATE = {
    StateType.SCHEDULED: "is_scheduled",
    StateType.PENDING: "is_pending",
    StateType.RUNNING: "is_running",
    StateType.COMPLETED: "is_completed",
    StateType.FAILED: "is_failed",
    StateType.CRASHED: "is_crashed",
    StateType.CANCELLED: "is_cancelled",
    StateType.PAUSED: "is_paused",
    StateType.CANCELLING: None,
}


@pytest.mark.parametrize(
    ("constructor", "state_type", "name"),
    CONSTRUCTORS,
    ids=[name for _, _, name in CONSTRUCTORS],
)
def test_exactly_one_type_check_is_true(
    constructor: Constructor, state_type: StateType, name: str
) -> None:
    state = constructor()
    expected = TRUE_PREDICATE[state_type]
    for predicate in PREDICATES:
        assert getattr(state, predicate)() is (predicate == expected), (name, predicate)


@pytest.mark.parametrize(
    ("constructor", "final"),
    [
        (Scheduled, False),
        (Late, False),
        (AwaitingRetry, False),
        (Pending, False),
        (Running, False),
        (Retrying, False),
        (Paused, False),
        (Suspended, False),
        (Cancelling, False),
        (Completed, True),
        (Cached, True),
        (Failed, True),
        (TimedOut, True),
        (Crashed, True),
        (Cancelled, True),
    ],
)
def test_is_final(constructor: Constructor, final: bool) -> None:
    assert constructor().is_final() is final


# --- result ---------------------------------------------------------------------------------


def test_completed_result_is_its_data() -> None:
    assert Completed(data={"rows": 3}).result() == {"rows": 3}
    assert Completed().result() is None


def test_cached_result_is_its_data() -> None:
    assert Cached(data=42).result() == 42


def test_failed_result_raises_its_exception() -> None:
    error = ValueError("bad row")
    with pytest.raises(ValueError, match="bad row") as info:
        Failed(data=error).result()
    assert info.value is error


def test_failed_result_returns_its_exception_when_not_raising() -> None:
    error = ValueError("bad row")
    assert Failed(data=error).result(raise_on_failure=False) is error


def test_timed_out_result_raises_its_exception() -> None:
    with pytest.raises(TimeoutError):
        TimedOut(data=TimeoutError("too slow")).result()


def test_failed_without_exception_raises_failed_run_with_its_message() -> None:
    with pytest.raises(FailedRun, match="it broke"):
        Failed(message="it broke").result()
    returned = Failed(message="it broke").result(raise_on_failure=False)
    assert isinstance(returned, FailedRun)


def test_crashed_result_raises_crashed_run() -> None:
    with pytest.raises(CrashedRun, match="killed"):
        Crashed(message="killed").result()


def test_cancelled_result_raises_cancelled_run() -> None:
    with pytest.raises(CancelledRun, match="stopped"):
        Cancelled(message="stopped").result()


@pytest.mark.parametrize("constructor", [Pending, Running, Scheduled, Retrying, AwaitingRetry])
def test_unfinished_state_result_raises_unfinished_run(constructor: Constructor) -> None:
    with pytest.raises(UnfinishedRun):
        constructor().result()

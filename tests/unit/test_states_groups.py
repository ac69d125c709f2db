"""`vibepiper.states`: `StateGroup`, `is_state_iterable`, the PENDING states of
infrastructure, `aresult()`, and `raise_state_exception` on states holding states."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from vibepiper import quote
from vibepiper.states import (
    Cancelled,
    Completed,
    Crashed,
    Failed,
    InfrastructurePending,
    Pending,
    Running,
    State,
    StateGroup,
    StateType,
    Submitting,
    is_state,
    is_state_iterable,
    raise_state_exception,
)


def test_is_state() -> None:
    assert is_state(Completed())
    assert not is_state(None)
    assert not is_state(State)


@pytest.mark.parametrize("kind", [list, tuple, set])
def test_is_state_iterable(kind: Callable[[Any], Any]) -> None:
    assert is_state_iterable(kind([Completed(), Failed()]))
    assert not is_state_iterable(kind())
    assert not is_state_iterable(kind([Completed(), 1]))


def test_other_iterables_are_not_state_iterables() -> None:
    assert not is_state_iterable({"a": Completed()})
    assert not is_state_iterable(Completed() for _ in range(2))
    assert not is_state_iterable(quote([Completed()]))


def test_state_group_counts() -> None:
    group = StateGroup([Completed(), Failed(), Crashed(), Cancelled(), Running(), Completed()])
    assert group.total_count == 6
    assert group.fail_count == 2
    assert group.cancelled_count == 1
    assert group.not_final_count == 1
    assert group.any_failed() and group.any_cancelled()
    assert not group.all_completed() and not group.all_final() and not group.any_paused()
    message = group.counts_message()
    assert message.startswith("total=6, not_final=1")
    for part in ("'COMPLETED'=2", "'FAILED'=1", "'CRASHED'=1", "'CANCELLED'=1", "'RUNNING'=1"):
        assert part in message
    assert repr(group) == f"StateGroup<{message}>"
    assert StateGroup([Completed(), Completed()]).all_completed()
    assert StateGroup(iter([Completed()])).total_count == 1


def test_pending_states_of_infrastructure() -> None:
    makers = {"Submitting": Submitting, "InfrastructurePending": InfrastructurePending}
    for name, make in makers.items():
        state = make(message="starting")
        assert state.type is StateType.PENDING
        assert state.name == name
        assert state.is_pending()
    assert Pending().name == "Pending"


def test_aresult() -> None:
    assert asyncio.run(Completed(data=3).aresult()) == 3
    error = ValueError("bad")
    with pytest.raises(ValueError, match="bad"):
        asyncio.run(Failed(data=error).aresult())
    assert asyncio.run(Failed(data=error).aresult(raise_on_failure=False)) is error


@pytest.mark.parametrize("make", [Failed, Crashed, Cancelled])
class TestRaiseStateException:
    def test_the_states_exception(self, make: Callable[..., State[Any]]) -> None:
        with pytest.raises(ValueError, match="own"):
            raise_state_exception(make(data=ValueError("own")))

    def test_a_state_that_did_not_fail_raises_nothing(
        self, make: Callable[..., State[Any]]
    ) -> None:
        assert raise_state_exception(Completed(data=make())) is None  # type: ignore[func-returns-value]

    def test_a_nested_state(self, make: Callable[..., State[Any]]) -> None:
        with pytest.raises(KeyError, match="inner"):
            raise_state_exception(make(data=Failed(data=KeyError("inner"))))

    @pytest.mark.parametrize("kind", [list, tuple])
    def test_the_first_failure_of_several_states(
        self, make: Callable[..., State[Any]], kind: Callable[[Any], Any]
    ) -> None:
        states = kind(
            [
                Completed(data=1),
                Failed(data=ValueError("first")),
                Crashed(data=ValueError("second")),
            ]
        )
        with pytest.raises(ValueError, match="first"):
            raise_state_exception(make(data=states))

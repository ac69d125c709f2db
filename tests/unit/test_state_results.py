"""`State.result()` in sync and async code, and what a flow that returns states ends in.

Both follow Prefect 3: `result()` is awaitable where the caller is async (an async flow
or task, or a running event loop outside any run) and `aresult()` always is; a flow
returning a State, a future or a collection of states ends in the state they add up to,
and the call gives back what Prefect's does.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.exceptions import FailedRun
from vibepiper.states import Completed, Failed, State


@task
def ok() -> int:
    return 1


@task
def boom() -> int:
    raise ValueError("boom")


# --- State.result() / aresult() ---------------------------------------------------------


def test_result_in_sync_code_is_the_value() -> None:
    assert Completed(data=3).result() == 3


def test_result_with_a_running_loop_and_no_run_is_awaitable() -> None:
    async def main() -> tuple[bool, Any]:
        pending = Completed(data=3).result()
        return inspect.isawaitable(pending), await pending

    assert asyncio.run(main()) == (True, 3)


def test_aresult_is_always_awaitable() -> None:
    async def main() -> Any:
        return await Completed(data="x").aresult()

    assert asyncio.run(main()) == "x"


def test_aresult_raises_the_failure_and_returns_it_when_asked() -> None:
    failed: State[Any] = Failed(message="nope", data=KeyError("k"))

    async def main() -> Any:
        with pytest.raises(KeyError):
            await failed.aresult()
        return await failed.aresult(raise_on_failure=False)

    assert isinstance(asyncio.run(main()), KeyError)


def test_result_inside_an_async_flow_must_be_awaited() -> None:
    @flow
    async def parent() -> tuple[bool, int]:
        state = await async_child(return_state=True)
        pending = state.result()
        return inspect.isawaitable(pending), await pending

    @flow
    async def async_child() -> int:
        return 7

    assert asyncio.run(parent()) == (True, 7)


def test_result_inside_a_sync_flow_called_from_async_code_is_the_value() -> None:
    @flow
    def sync_flow() -> int:
        return ok(return_state=True).result()

    async def main() -> int:
        return sync_flow()

    assert asyncio.run(main()) == 1


def test_result_sync_override_answers_at_once_in_async_code() -> None:
    async def main() -> Any:
        return Completed(data=5).result(_sync=True)

    assert asyncio.run(main()) == 5


def test_future_results_stay_synchronous_in_an_async_flow() -> None:
    @flow
    async def fan_out() -> int:
        futures = [ok.submit() for _ in range(3)]
        return sum(f.result() for f in futures)

    assert asyncio.run(fan_out()) == 3


# --- flows returning states ----------------------------------------------------------------


def test_a_flow_returning_a_completed_and_a_failed_state() -> None:
    @flow
    def mixed() -> list[State[Any]]:
        return [ok(return_state=True), boom(return_state=True)]

    returned = mixed()
    # as in Prefect, the call returns the collection itself, without raising
    assert isinstance(returned, list) and [s.type.value for s in returned] == [
        "COMPLETED",
        "FAILED",
    ]
    state = mixed(return_state=True)
    assert state.is_failed() and state.message == "1/2 states failed."
    with pytest.raises(ValueError, match="boom"):
        state.result()  # the first failed state's exception
    assert [s.type.value for s in state.result(raise_on_failure=False)] == [
        "COMPLETED",
        "FAILED",
    ]


def test_a_flow_returning_completed_states_completes_with_them() -> None:
    @flow
    def both() -> tuple[State[Any], State[Any]]:
        return ok(return_state=True), ok(return_state=True)

    state = both(return_state=True)
    assert state.is_completed() and state.message == "All states completed."
    first, second = state.result()
    assert first.result() == 1 and second.result() == 1


def test_a_flow_returning_submitted_futures_returns_their_states() -> None:
    @flow
    def submitted() -> list[Any]:
        return [ok.submit(), boom.submit()]

    states = submitted()
    assert all(isinstance(s, State) for s in states)
    assert [s.type.value for s in states] == ["COMPLETED", "FAILED"]


def test_a_flow_returning_one_failed_task_state_raises_its_exception() -> None:
    @flow
    def one() -> State[Any]:
        return boom(return_state=True)

    with pytest.raises(ValueError, match="boom"):
        one()
    state = one(return_state=True)
    assert state.is_failed() and state.message == "1/1 states failed."
    inner = state.result(raise_on_failure=False)
    assert isinstance(inner, State) and inner.is_failed()


def test_a_flow_returning_one_completed_task_state_returns_that_state() -> None:
    @flow
    def one() -> State[Any]:
        return ok(return_state=True)

    returned = one()
    assert isinstance(returned, State) and returned.result() == 1


def test_a_flow_returning_a_state_it_made_ends_in_that_state() -> None:
    @flow
    def chooses() -> State[Any]:
        return Failed(message="bad input")

    state = chooses(return_state=True)
    assert state.is_failed() and state.message == "bad input"
    with pytest.raises(FailedRun, match="bad input"):
        chooses()

    @flow
    def fine() -> State[Any]:
        return Completed(message="nothing to do", data=4)

    assert fine() == 4


def test_cancelled_outweighs_failed_in_a_collection() -> None:
    from vibepiper.states import Cancelled

    @flow
    def several() -> list[State[Any]]:
        return [boom(return_state=True), Cancelled(), ok(return_state=True)]

    state = several(return_state=True)
    assert state.is_cancelled() and state.message == "1/3 states cancelled."

"""Retries cover every failed attempt, as in Prefect 3: a timeout (task or flow) and a
returned Failed state are retried like a raised exception."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from vibepiper import flow, task
from vibepiper.states import Completed, Failed, State


def test_a_task_that_timed_out_is_retried() -> None:
    calls: list[int] = []

    @task(timeout_seconds=0.3, retries=1)
    def slow_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(3)
        return "second try"

    @flow
    def pipeline() -> State[Any]:
        return slow_once(return_state=True)

    state = pipeline(return_state=True)
    assert state.is_completed()
    assert len(calls) == 2


def test_an_async_task_that_timed_out_is_retried() -> None:
    calls: list[int] = []

    @task(timeout_seconds=0.2, retries=2)
    async def slow_twice() -> int:
        calls.append(1)
        if len(calls) < 3:
            await asyncio.sleep(3)
        return len(calls)

    @flow
    async def pipeline() -> int:
        return await slow_twice()

    assert asyncio.run(pipeline()) == 3


def test_a_flow_that_timed_out_is_retried() -> None:
    calls: list[int] = []

    @flow(timeout_seconds=0.3, retries=1)
    def slow_flow() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(3)
        return "done"

    started = time.monotonic()
    assert slow_flow() == "done"
    assert len(calls) == 2 and time.monotonic() - started < 2.5


def test_an_async_flow_that_timed_out_is_retried() -> None:
    calls: list[int] = []

    @flow(timeout_seconds=0.2, retries=1)
    async def slow_flow() -> int:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(3)
        return len(calls)

    assert asyncio.run(slow_flow()) == 2


def test_a_flow_that_times_out_every_time_ends_timed_out() -> None:
    @flow(timeout_seconds=0.2, retries=1)
    def always_slow() -> None:
        time.sleep(2)

    state = always_slow(return_state=True)
    assert state.name == "TimedOut" and state.is_failed()


def test_a_flow_returning_a_failed_state_is_retried(
    flow_state_names: Any,
) -> None:
    calls: list[int] = []

    @flow(retries=2)
    def picky() -> State[Any]:
        calls.append(1)
        if len(calls) < 3:
            return Failed(message=f"attempt {len(calls)} not good enough")
        return Completed(message="fine", data=len(calls))

    state = picky(return_state=True)
    assert state.is_completed() and state.result() == 3
    names = flow_state_names(state.state_details.flow_run_id)
    assert names.count("AwaitingRetry") == 2


def test_a_flow_returning_failed_task_states_is_retried() -> None:
    calls: list[int] = []

    @task
    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("first call fails")
        return 1

    @flow(retries=1)
    def collect() -> list[State[Any]]:
        return [flaky(return_state=True)]

    state = collect(return_state=True)
    assert state.is_completed() and len(calls) == 2


def test_a_task_returning_a_failed_state_is_retried() -> None:
    calls: list[int] = []

    @task(retries=1)
    def picky() -> Any:
        calls.append(1)
        if len(calls) == 1:
            return Failed(message="not yet")
        return "ok"

    @flow
    def pipeline() -> Any:
        return picky()

    assert pipeline() == "ok" and len(calls) == 2


def test_retry_condition_sees_the_returned_failed_state() -> None:
    seen: list[str | None] = []

    def never(task: Any, task_run: Any, state: State[Any]) -> bool:
        seen.append(state.message)
        return False

    @task(retries=3, retry_condition_fn=never)
    def picky() -> State[Any]:
        return Failed(message="give up")

    @flow
    def pipeline() -> State[Any]:
        return picky(return_state=True)

    state = pipeline(return_state=True)
    assert state.is_failed() and seen == ["give up"]

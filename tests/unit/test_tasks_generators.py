"""Generator tasks (sync and async) as in Prefect 3, `.map(return_state=True)`, and a
task that would wait for itself."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.exceptions import TaskRunTimeoutError
from vibepiper.states import State
from vibepiper.store.memory import MemoryStore
from vibepiper.task_runners import ThreadPoolTaskRunner


def _task_states(store: MemoryStore, name: str) -> list[str | None]:
    runs = [r for fr in store.read_flow_runs() for r in store.read_task_runs(fr.id)]
    return [r.state_name for r in runs if r.task_name == name]


# --- sync generators ------------------------------------------------------------------------


def test_a_generator_task_yields_its_items_and_completes(store: MemoryStore) -> None:
    @task
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    @flow
    def pipeline() -> list[int]:
        return [x * 10 for x in numbers(3)]

    assert pipeline() == [0, 10, 20]
    assert _task_states(store, "numbers") == ["Completed"]


def test_the_run_starts_when_the_first_item_is_read(store: MemoryStore) -> None:
    @task
    def numbers() -> Iterator[int]:
        yield 1

    @flow
    def pipeline() -> int:
        gen = numbers()
        assert _task_states(store, "numbers") == []
        return sum(gen)

    assert pipeline() == 1


def test_a_failing_generator_is_retried_from_its_start() -> None:
    attempts: list[int] = []

    @task(retries=1)
    def flaky() -> Iterator[str]:
        attempts.append(1)
        yield "a"
        if len(attempts) == 1:
            raise ConnectionError("lost")
        yield "b"

    @flow
    def pipeline() -> list[str]:
        return list(flaky())

    assert pipeline() == ["a", "a", "b"]  # as in Prefect: the retry yields again


def test_a_generator_failing_for_good_raises_to_the_reader(store: MemoryStore) -> None:
    @task
    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("gone")

    @flow
    def pipeline() -> list[int]:
        return list(broken())

    with pytest.raises(KeyError):
        pipeline()
    assert _task_states(store, "broken") == ["Failed"]


def test_a_generator_timeout_counts_from_the_start_and_retries() -> None:
    attempts: list[int] = []

    @task(timeout_seconds=0.4, retries=1)
    def slow() -> Iterator[int]:
        attempts.append(1)
        yield 1
        if len(attempts) == 1:
            time.sleep(3)
        yield 2

    @flow
    def pipeline() -> list[int]:
        return list(slow())

    started = time.monotonic()
    assert pipeline() == [1, 1, 2]
    assert time.monotonic() - started < 2.5


def test_a_generator_that_always_times_out_ends_timed_out(store: MemoryStore) -> None:
    @task(timeout_seconds=0.2)
    def stuck() -> Iterator[int]:
        yield 1
        time.sleep(2)
        yield 2

    @flow
    def pipeline() -> list[int]:
        return list(stuck())

    with pytest.raises(TaskRunTimeoutError):
        pipeline()
    assert _task_states(store, "stuck") == ["TimedOut"]


def test_return_state_is_refused_when_the_items_are_read() -> None:
    @task
    def numbers() -> Iterator[int]:
        yield 1

    @flow
    def pipeline() -> None:
        gen: Any = numbers(return_state=True)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="generator task must be 'result'"):
            next(gen)

    pipeline()


def test_closing_the_generator_early_completes_the_run(store: MemoryStore) -> None:
    @task
    def endless() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    @flow
    def pipeline() -> list[int]:
        taken = []
        for item in endless():
            if item == 3:
                break
            taken.append(item)
        return taken

    assert pipeline() == [0, 1, 2]
    assert _task_states(store, "endless") == ["Completed"]


def test_a_submitted_generator_task_gives_its_items_as_a_list() -> None:
    @task
    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    @flow
    def pipeline() -> Any:
        return numbers.submit(3).result()

    assert pipeline() == [0, 1, 2]


# --- async generators -------------------------------------------------------------------------


def test_an_async_generator_task_yields_and_retries() -> None:
    attempts: list[int] = []

    @task(retries=1)
    async def stream() -> AsyncIterator[int]:
        attempts.append(1)
        yield 1
        await asyncio.sleep(0)
        if len(attempts) == 1:
            raise ConnectionError("lost")
        yield 2

    @flow
    async def pipeline() -> list[int]:
        return [item async for item in stream()]

    assert asyncio.run(pipeline()) == [1, 1, 2]


def test_an_async_generator_timeout(store: MemoryStore) -> None:
    @task(timeout_seconds=0.2)
    async def stuck() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(3)
        yield 2

    @flow
    async def pipeline() -> list[int]:
        return [item async for item in stuck()]

    with pytest.raises(TaskRunTimeoutError):
        asyncio.run(pipeline())
    assert _task_states(store, "stuck") == ["TimedOut"]


# --- map(return_state=True) and waiting for itself ------------------------------------------------


def test_map_with_return_state_gives_the_states() -> None:
    @task
    def check(x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    @flow
    def pipeline() -> list[State[Any]]:
        return check.map([1, -1, 2], return_state=True)  # type: ignore[return-value]

    states = pipeline()
    assert [s.type.value for s in states] == ["COMPLETED", "FAILED", "COMPLETED"]
    assert states[0].result() == 1


def test_a_task_waiting_for_itself_is_refused() -> None:
    @task
    def step() -> int:
        return 1

    @flow
    def pipeline() -> None:
        with pytest.raises(ValueError, match="contains the task itself"):
            step.submit(wait_for=[step])
        with pytest.raises(ValueError, match="contains the task itself"):
            step(wait_for=[step])

    pipeline()


def test_a_run_whose_wait_for_holds_its_own_future_fails_instead_of_hanging() -> None:
    gate = threading.Event()

    @task
    def blocker() -> None:
        gate.wait(10)

    @task
    def step() -> int:
        return 1

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
    def pipeline() -> State[Any]:
        blocker.submit()  # holds the only thread until the wait_for list is complete
        later: list[Any] = []
        future = step.submit(wait_for=later)
        later.append(future)  # the run would wait for itself
        gate.set()
        future.wait(timeout=10)
        assert future.done()
        return future.state

    inner = pipeline(return_state=True).result(raise_on_failure=False)
    assert isinstance(inner, State)
    assert inner.is_failed() and "waits for its own future" in (inner.message or "")

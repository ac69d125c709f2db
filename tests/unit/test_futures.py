"""Futures: `.result()`, `.wait()`, `.state`, `.task_run_id`, `wait()` and `as_completed()`."""

from __future__ import annotations

import threading
import time

import pytest

from vibepiper import State, flow, task
from vibepiper.futures import PrefectFuture, as_completed, wait
from vibepiper.store.memory import MemoryStore


@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def explode() -> None:
    raise ValueError("future broke")


def test_future_exposes_its_task_run_id(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[bool, str]:
        future = nap.submit(0)
        future.wait()
        return isinstance(future, PrefectFuture), str(future.task_run_id)

    is_future, task_run_id = pipeline()
    assert is_future
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run_id == str(task_run.id)


def test_result_waits_and_returns_the_value(store: MemoryStore) -> None:
    @flow
    def pipeline() -> float:
        return nap.submit(0.05).result()

    assert pipeline() == 0.05


def test_result_raises_the_task_exception_or_returns_it(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        future = explode.submit()
        with pytest.raises(ValueError, match="future broke"):
            future.result()
        returned = future.result(raise_on_failure=False)
        return type(returned).__name__

    assert pipeline() == "ValueError"


def test_result_with_timeout_raises_timeout_error_when_not_done(store: MemoryStore) -> None:
    @flow
    def pipeline() -> float:
        future = nap.submit(0.5)
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            future.result(timeout=0.05)
        assert time.monotonic() - start < 0.4
        return future.result(timeout=5)

    assert pipeline() == 0.5


def test_wait_returns_none_and_the_future_holds_the_final_state(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[object, bool, str, float]:
        future = nap.submit(0.01)
        returned = future.wait()  # None, as in Prefect 3
        state = future.state
        assert isinstance(state, State)
        return returned, state.is_completed(), state.name, state.result()

    assert pipeline() == (None, True, "Completed", 0.01)


def test_wait_with_timeout_returns_when_not_done(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[bool, bool]:
        future = nap.submit(0.5)
        start = time.monotonic()
        future.wait(timeout=0.05)
        assert time.monotonic() - start < 0.4
        early = future.done()
        future.wait(timeout=5)
        return early, future.state.is_completed()

    assert pipeline() == (False, True)


def test_state_is_running_while_running_then_final(store: MemoryStore) -> None:
    started = threading.Event()
    release = threading.Event()

    @task
    def blocked() -> str:
        started.set()
        release.wait(5)
        return "done"

    @flow
    def pipeline() -> tuple[str, str]:
        future = blocked.submit()
        assert started.wait(5)
        during = future.state.name
        release.set()
        future.wait(5)
        return during, future.state.name

    assert pipeline() == ("Running", "Completed")


def test_state_of_a_failed_future(store: MemoryStore) -> None:
    @flow
    def pipeline() -> bool:
        future = explode.submit()
        future.wait()
        return future.state.is_failed()

    assert pipeline() is True


# --- wait() ---------------------------------------------------------------------------------


def test_wait_for_all_futures(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[int, int]:
        futures = [nap.submit(0.01 * i) for i in range(4)]
        done, not_done = wait(futures)
        return len(done), len(not_done)

    assert pipeline() == (4, 0)


def test_wait_with_timeout_splits_done_and_not_done(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[bool, bool, float]:
        fast = nap.submit(0.01)
        slow = nap.submit(0.6)
        fast.wait(5)
        start = time.monotonic()
        done, not_done = wait([fast, slow], timeout=0.1)
        elapsed = time.monotonic() - start
        return done == {fast}, not_done == {slow}, elapsed

    fast_done, slow_pending, elapsed = pipeline()
    assert fast_done
    assert slow_pending
    assert elapsed < 0.5


def test_wait_result_has_named_fields(store: MemoryStore) -> None:
    @flow
    def pipeline() -> tuple[int, int]:
        result = wait([nap.submit(0)])
        return len(result.done), len(result.not_done)

    assert pipeline() == (1, 0)


# --- as_completed() -------------------------------------------------------------------------


def test_as_completed_yields_in_completion_order(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[float]:
        futures = [nap.submit(0.3), nap.submit(0.05), nap.submit(0.15)]
        return [future.result() for future in as_completed(futures)]

    assert pipeline() == [0.05, 0.15, 0.3]


def test_as_completed_yields_already_finished_futures(store: MemoryStore) -> None:
    @flow
    def pipeline() -> int:
        futures = [nap.submit(0), nap.submit(0)]
        wait(futures)
        return len(list(as_completed(futures)))

    assert pipeline() == 2


def test_as_completed_raises_timeout_error(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[float]:
        futures = [nap.submit(0.01), nap.submit(0.8)]
        seen: list[float] = []
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            for future in as_completed(futures, timeout=0.2):
                seen.append(future.result())
        assert time.monotonic() - start < 0.6
        return seen

    assert pipeline() == [0.01]

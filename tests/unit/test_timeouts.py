"""`timeout_seconds` on tasks and flows: runs end TimedOut on time, even when stuck in a thread.

Stuck calls here are a busy loop (`while True`), `time.sleep(30)` and `asyncio.sleep(30)`;
each test checks the run ended within 1 s of its limit and the caller went on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest

from vibepiper import State, flow, task
from vibepiper.store.memory import MemoryStore

Names = Callable[[uuid.UUID], list[str]]

LIMIT = 0.3
GRACE = 1.0


def busy_loop(counter: list[int]) -> None:
    while True:
        counter[0] += 1


def assert_timed_out(state: State[object] | None) -> None:
    assert state is not None
    assert state.is_failed()
    assert state.name == "TimedOut"
    assert "timeout" in (state.message or "").lower()
    with pytest.raises(TimeoutError):
        state.result()


def assert_stopped(counter: list[int]) -> None:
    """The busy loop no longer runs: its thread was interrupted, not left spinning."""
    time.sleep(0.1)
    before = counter[0]
    time.sleep(0.1)
    assert counter[0] == before


# --- tasks called directly ---------------------------------------------------------------------


def test_direct_busy_loop_task_times_out_and_fails_the_flow(
    store: MemoryStore, task_state_names: Names
) -> None:
    counter = [0]

    @task(timeout_seconds=LIMIT)
    def spin() -> None:
        busy_loop(counter)

    @flow
    def pipeline() -> None:
        spin()

    start = time.monotonic()
    with pytest.raises(TimeoutError):
        pipeline()
    assert time.monotonic() - start < LIMIT + GRACE
    (flow_run,) = store.read_flow_runs()
    assert flow_run.state_type == "FAILED"
    (task_run,) = store.read_task_runs(flow_run.id)
    assert (task_run.state_type, task_run.state_name) == ("FAILED", "TimedOut")
    assert task_state_names(task_run.id) == ["Pending", "Running", "TimedOut"]
    assert counter[0] > 0
    assert_stopped(counter)


def test_direct_sleeping_task_times_out_and_the_flow_goes_on(store: MemoryStore) -> None:
    @task(timeout_seconds=LIMIT)
    def stuck() -> None:
        time.sleep(30)

    @flow
    def pipeline() -> tuple[State[None], float]:
        start = time.monotonic()
        state = stuck(return_state=True)
        return state, time.monotonic() - start

    start = time.monotonic()
    state, task_elapsed = pipeline()
    assert time.monotonic() - start < LIMIT + GRACE
    assert LIMIT * 0.9 <= task_elapsed < LIMIT + GRACE
    assert_timed_out(state)
    (flow_run,) = store.read_flow_runs()
    assert flow_run.state_type == "COMPLETED"


def test_task_timeout_outside_a_flow(store: MemoryStore) -> None:
    @task(timeout_seconds=LIMIT)
    def stuck() -> None:
        time.sleep(30)

    start = time.monotonic()
    with pytest.raises(TimeoutError):
        stuck()
    assert time.monotonic() - start < LIMIT + GRACE


def test_a_fast_task_with_a_timeout_returns_normally(store: MemoryStore) -> None:
    @task(timeout_seconds=5)
    def quick(x: int) -> int:
        return x + 1

    @flow
    def pipeline() -> int:
        return quick(1)

    assert pipeline() == 2


def test_a_task_with_a_timeout_still_sees_its_run_context(store: MemoryStore) -> None:
    from vibepiper import get_run_logger
    from vibepiper.runtime import task_run

    @task(timeout_seconds=5)
    def aware() -> str | None:
        get_run_logger().info("inside the deadline thread")
        return task_run.name

    @flow(timeout_seconds=5)
    def pipeline() -> str | None:
        return aware()

    assert pipeline() == "aware-0"
    (flow_run,) = store.read_flow_runs()
    (run,) = store.read_task_runs(flow_run.id)
    logs = store.read_logs(flow_run.id, task_run_id=run.id)
    assert "inside the deadline thread" in [log.message for log in logs]


def test_a_task_exception_inside_the_timeout_is_an_ordinary_failure(store: MemoryStore) -> None:
    @task(timeout_seconds=5)
    def broken() -> None:
        raise KeyError("not a timeout")

    @flow
    def pipeline() -> State[None]:
        return broken(return_state=True)

    # as in Prefect, a flow that returned a failed state holds it
    state = pipeline(return_state=True).result(raise_on_failure=False)
    assert isinstance(state.result(raise_on_failure=False), KeyError)
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_run.state_name == "Failed"


# --- submitted tasks -------------------------------------------------------------------------


def test_submitted_busy_loop_task_times_out(store: MemoryStore) -> None:
    counter = [0]

    @task(timeout_seconds=LIMIT)
    def spin() -> None:
        busy_loop(counter)

    @flow
    def pipeline() -> tuple[State[None] | None, float]:
        start = time.monotonic()
        future = spin.submit()
        future.wait()
        return future.state, time.monotonic() - start

    state, elapsed = pipeline()
    assert elapsed < LIMIT + GRACE
    assert_timed_out(state)
    assert_stopped(counter)


def test_submitted_sleeping_task_times_out_and_the_flow_goes_on(store: MemoryStore) -> None:
    @task(timeout_seconds=LIMIT)
    def stuck() -> None:
        time.sleep(30)

    @task
    def after() -> str:
        return "after"

    @flow
    def pipeline() -> tuple[State[None] | None, str]:
        future = stuck.submit()
        future.wait()
        return future.state, after()

    start = time.monotonic()
    state, value = pipeline()
    assert time.monotonic() - start < LIMIT + GRACE
    assert value == "after"
    assert_timed_out(state)


def test_a_timed_out_attempt_is_retried(store: MemoryStore, task_state_names: Names) -> None:
    attempts: list[int] = []

    @task(timeout_seconds=LIMIT, retries=1)
    def slow_then_fast() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            time.sleep(30)
        return "second try"

    @flow
    def pipeline() -> str:
        return slow_then_fast()

    start = time.monotonic()
    assert pipeline() == "second try"
    assert time.monotonic() - start < LIMIT + GRACE
    (flow_run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(flow_run.id)
    assert task_state_names(task_run.id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


# --- async tasks ------------------------------------------------------------------------------


def test_async_task_times_out(store: MemoryStore) -> None:
    @task(timeout_seconds=LIMIT)
    async def stuck() -> None:
        await asyncio.sleep(30)

    @flow
    async def pipeline() -> dict[str, State[None]]:
        # in a dict: a returned State (or list of states) would become the flow's own state
        return {"state": await stuck(return_state=True)}

    start = time.monotonic()
    state = asyncio.run(pipeline())["state"]
    assert time.monotonic() - start < LIMIT + GRACE
    assert_timed_out(state)


def test_submitted_async_task_times_out(store: MemoryStore) -> None:
    @task(timeout_seconds=LIMIT)
    async def stuck() -> None:
        await asyncio.sleep(30)

    @flow
    def pipeline() -> dict[str, State[None] | None]:
        return {"state": stuck.submit(return_state=True)}  # type: ignore[dict-item]

    start = time.monotonic()
    state = pipeline()["state"]
    assert time.monotonic() - start < LIMIT + GRACE
    assert_timed_out(state)


# --- flows ------------------------------------------------------------------------------------


def test_busy_loop_flow_times_out(store: MemoryStore, flow_state_names: Names) -> None:
    counter = [0]

    @flow(timeout_seconds=LIMIT)
    def spinning_flow() -> None:
        busy_loop(counter)

    start = time.monotonic()
    state = spinning_flow(return_state=True)
    assert time.monotonic() - start < LIMIT + GRACE
    assert_timed_out(state)
    (run,) = store.read_flow_runs()
    assert (run.state_type, run.state_name) == ("FAILED", "TimedOut")
    assert flow_state_names(run.id) == ["Pending", "Running", "TimedOut"]
    assert_stopped(counter)


def test_sleeping_flow_times_out_and_raises(store: MemoryStore) -> None:
    @flow(timeout_seconds=LIMIT)
    def sleeping_flow() -> None:
        time.sleep(30)

    start = time.monotonic()
    with pytest.raises(TimeoutError):
        sleeping_flow()
    assert time.monotonic() - start < LIMIT + GRACE
    (run,) = store.read_flow_runs()
    assert run.state_name == "TimedOut"


def test_async_flow_times_out(store: MemoryStore) -> None:
    @flow(timeout_seconds=LIMIT)
    async def sleeping_flow() -> None:
        await asyncio.sleep(30)

    start = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(sleeping_flow())
    assert time.monotonic() - start < LIMIT + GRACE
    (run,) = store.read_flow_runs()
    assert (run.state_type, run.state_name) == ("FAILED", "TimedOut")


def test_flow_timeout_does_not_wait_for_its_stuck_tasks(store: MemoryStore) -> None:
    @task
    def stuck() -> None:
        time.sleep(30)

    @flow(timeout_seconds=LIMIT)
    def waiting_flow() -> None:
        stuck.submit().result()

    start = time.monotonic()
    state = waiting_flow(return_state=True)
    assert time.monotonic() - start < LIMIT + GRACE
    assert_timed_out(state)


def test_a_flow_finishing_inside_its_timeout_completes(store: MemoryStore) -> None:
    @flow(timeout_seconds=5)
    def quick_flow(x: int) -> int:
        return x * 2

    assert quick_flow(4) == 8
    (run,) = store.read_flow_runs()
    assert run.state_name == "Completed"


def test_timed_out_subflow_fails_its_proxy(store: MemoryStore) -> None:
    @flow(timeout_seconds=LIMIT)
    def child() -> None:
        time.sleep(30)

    @flow
    def parent() -> str:
        return child(return_state=True).name

    start = time.monotonic()
    assert parent() == "TimedOut"
    assert time.monotonic() - start < LIMIT + GRACE
    parent_run = next(r for r in store.read_flow_runs() if r.flow_name == "parent")
    (proxy,) = store.read_task_runs(parent_run.id)
    assert (proxy.state_type, proxy.state_name) == ("FAILED", "TimedOut")

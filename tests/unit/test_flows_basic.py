"""Calling flows: values, failures, final states, and what the store records."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable

import pytest

from vibepiper import State, flow, task
from vibepiper.exceptions import FailedRun
from vibepiper.schemas.views import FlowRunView
from vibepiper.states import Cancelled, Completed, Failed, StateType
from vibepiper.store.memory import MemoryStore

Names = Callable[[uuid.UUID], list[str]]


def only_flow_run(store: MemoryStore) -> FlowRunView:
    runs = store.read_flow_runs()
    assert len(runs) == 1
    return runs[0]


# --- sync ----------------------------------------------------------------------------------


def test_calling_a_sync_flow_returns_its_value(store: MemoryStore, flow_state_names: Names) -> None:
    @flow
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    run = only_flow_run(store)
    assert run.flow_name == "add"
    assert run.state_type == "COMPLETED"
    assert run.state_name == "Completed"
    assert run.parameters == {"a": 1, "b": 2}
    assert run.run_count == 1
    assert run.start_time is not None and run.end_time is not None
    assert run.parent_task_run_id is None
    assert flow_state_names(run.id) == ["Pending", "Running", "Completed"]


def test_each_call_is_a_new_flow_run(store: MemoryStore) -> None:
    @flow
    def noop() -> None:
        return None

    noop()
    noop()
    runs = store.read_flow_runs()
    assert len(runs) == 2
    assert runs[0].id != runs[1].id


def test_flow_name_defaults_to_function_name_with_dashes(store: MemoryStore) -> None:
    @flow
    def load_daily_sales() -> None:
        return None

    assert load_daily_sales.name == "load-daily-sales"
    load_daily_sales()
    assert only_flow_run(store).flow_name == "load-daily-sales"


def test_a_flow_calling_tasks_returns_their_combined_value(store: MemoryStore) -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    def pipeline(x: int) -> int:
        return double(x) + double(x + 1)

    assert pipeline(3) == 14
    run = only_flow_run(store)
    task_runs = store.read_task_runs(run.id)
    assert sorted(t.name for t in task_runs) == ["double-0", "double-1"]
    assert all(t.flow_run_id == run.id for t in task_runs)
    assert all(t.state_name == "Completed" for t in task_runs)


def test_an_exception_in_the_flow_body_fails_it_and_raises_to_the_caller(
    store: MemoryStore, flow_state_names: Names
) -> None:
    @flow
    def broken() -> None:
        raise KeyError("missing column")

    with pytest.raises(KeyError, match="missing column"):
        broken()
    run = only_flow_run(store)
    assert run.state_type == "FAILED"
    assert "missing column" in (run.state_message or "")
    assert flow_state_names(run.id) == ["Pending", "Running", "Failed"]


def test_a_failing_task_fails_its_flow_and_raises_to_the_caller(
    store: MemoryStore, task_state_names: Names
) -> None:
    @task
    def explode() -> None:
        raise ZeroDivisionError("divided by zero")

    @flow
    def pipeline() -> str:
        explode()
        return "unreachable"

    with pytest.raises(ZeroDivisionError, match="divided by zero"):
        pipeline()
    run = only_flow_run(store)
    assert run.state_type == "FAILED"
    (task_run,) = store.read_task_runs(run.id)
    assert task_run.state_type == "FAILED"
    assert "divided by zero" in (task_run.state_message or "")
    assert task_state_names(task_run.id) == ["Pending", "Running", "Failed"]


# --- return_state -----------------------------------------------------------------------------


def test_return_state_gives_the_final_completed_state(store: MemoryStore) -> None:
    @flow
    def answer() -> int:
        return 42

    state = answer(return_state=True)
    assert isinstance(state, State)
    assert state.is_completed()
    assert state.result() == 42
    assert state.state_details.flow_run_id == only_flow_run(store).id


def test_return_state_gives_the_failed_state_instead_of_raising(store: MemoryStore) -> None:
    @flow
    def broken() -> None:
        raise ValueError("nope")

    state = broken(return_state=True)
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ValueError)
    with pytest.raises(ValueError, match="nope"):
        state.result()
    assert only_flow_run(store).state_type == "FAILED"


# --- a flow returning a state -------------------------------------------------------------------


def test_a_flow_returning_completed_sets_its_final_state(store: MemoryStore) -> None:
    @flow
    def done() -> State[None]:
        return Completed(message="all good")

    state = done(return_state=True)
    assert state.is_completed()
    assert state.message == "all good"
    run = only_flow_run(store)
    assert (run.state_type, run.state_message) == ("COMPLETED", "all good")


def test_a_flow_returning_failed_fails_and_raises(store: MemoryStore) -> None:
    @flow
    def give_up() -> State[None]:
        return Failed(message="upstream data missing")

    with pytest.raises(FailedRun, match="upstream data missing"):
        give_up()
    run = only_flow_run(store)
    assert (run.state_type, run.state_message) == ("FAILED", "upstream data missing")


def test_a_flow_returning_cancelled_ends_cancelled(store: MemoryStore) -> None:
    @flow
    def stop() -> State[None]:
        return Cancelled(message="not today")

    state = stop(return_state=True)
    assert state.type is StateType.CANCELLED
    assert only_flow_run(store).state_type == "CANCELLED"


def test_a_flow_returning_a_failed_task_state_fails(store: MemoryStore) -> None:
    @task
    def explode() -> None:
        raise RuntimeError("task broke")

    @flow
    def pipeline() -> State[None]:
        return explode(return_state=True)

    with pytest.raises(RuntimeError, match="task broke"):
        pipeline()
    assert only_flow_run(store).state_type == "FAILED"


def test_a_flow_returning_a_failed_future_fails(store: MemoryStore) -> None:
    @task
    def explode() -> None:
        raise RuntimeError("task broke")

    @flow
    def pipeline():  # type: ignore[no-untyped-def]
        return explode.submit()

    with pytest.raises(RuntimeError, match="task broke"):
        pipeline()
    assert only_flow_run(store).state_type == "FAILED"


def test_failed_submitted_tasks_the_flow_does_not_return_leave_it_completed(
    store: MemoryStore,
) -> None:
    @task
    def explode() -> None:
        raise RuntimeError("ignored")

    @flow
    def pipeline() -> str:
        explode.submit().wait()
        return "fine"

    assert pipeline() == "fine"
    run = only_flow_run(store)
    assert run.state_type == "COMPLETED"
    (task_run,) = store.read_task_runs(run.id)
    assert task_run.state_type == "FAILED"


# --- async -------------------------------------------------------------------------------------


def test_calling_an_async_flow_returns_a_coroutine_of_its_value(
    store: MemoryStore, flow_state_names: Names
) -> None:
    @flow
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01)
        return n * 10

    call = fetch(4)
    assert inspect.iscoroutine(call)
    assert asyncio.run(call) == 40
    run = only_flow_run(store)
    assert run.state_type == "COMPLETED"
    assert flow_state_names(run.id) == ["Pending", "Running", "Completed"]


def test_an_async_flow_with_sync_and_async_tasks(store: MemoryStore) -> None:
    @task
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01)
        return n + 1

    @task
    def square(n: int) -> int:
        return n * n

    @flow
    async def pipeline(n: int) -> int:
        fetched = await fetch(n)
        return square(fetched)

    assert asyncio.run(pipeline(2)) == 9
    run = only_flow_run(store)
    assert sorted(t.task_name for t in store.read_task_runs(run.id)) == ["fetch", "square"]


def test_a_failing_async_flow_raises_to_the_awaiting_caller(store: MemoryStore) -> None:
    @task
    async def explode() -> None:
        raise LookupError("async task broke")

    @flow
    async def pipeline() -> None:
        await explode()

    with pytest.raises(LookupError, match="async task broke"):
        asyncio.run(pipeline())
    run = only_flow_run(store)
    assert run.state_type == "FAILED"
    (task_run,) = store.read_task_runs(run.id)
    assert task_run.state_type == "FAILED"


def test_async_flow_return_state(store: MemoryStore) -> None:
    @flow
    async def broken() -> None:
        raise ValueError("async nope")

    state = asyncio.run(broken(return_state=True))
    assert state.is_failed()
    assert isinstance(state.result(raise_on_failure=False), ValueError)


def test_async_tasks_submitted_in_an_async_flow_run_concurrently(store: MemoryStore) -> None:
    @task
    async def nap(n: int) -> int:
        await asyncio.sleep(0.3)
        return n

    @flow
    async def pipeline() -> list[int]:
        futures = [nap.submit(i) for i in range(5)]
        return [f.result() for f in futures]

    loop_time = asyncio.run(_timed(pipeline))
    value, elapsed = loop_time
    assert value == [0, 1, 2, 3, 4]
    assert elapsed < 1.2


async def _timed(make):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    start = loop.time()
    value = await make()
    return value, loop.time() - start

"""Prefect's future classes: the abstract base, wrapped and concurrent futures, and
futures that wait for a run through the store by its id."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
import uuid
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.exceptions import MissingResult
from vibepiper.futures import (
    PrefectConcurrentFuture,
    PrefectDistributedFuture,
    PrefectFlowRunFuture,
    PrefectFuture,
    PrefectTaskRunFuture,
    PrefectWrappedFuture,
    TaskRunFuture,
    as_completed,
    wait,
)
from vibepiper.states import Completed, Failed, State
from vibepiper.store.memory import MemoryStore


@task
def double(x: int) -> int:
    return 2 * x


@task(persist_result=True)
def kept(x: int) -> int:
    return x + 1


def test_submit_returns_a_concurrent_future(store: MemoryStore) -> None:
    @flow
    def pipeline() -> list[bool]:
        future = double.submit(2)
        checks = [
            isinstance(future, PrefectConcurrentFuture),
            isinstance(future, PrefectWrappedFuture),
            isinstance(future, PrefectTaskRunFuture),
            isinstance(future, PrefectFuture),
            isinstance(future.wrapped_future, concurrent.futures.Future),
        ]
        assert future.wait() is None
        checks.append(future.wrapped_future.result() is future.state)
        return checks

    assert all(pipeline())
    assert TaskRunFuture is PrefectConcurrentFuture


def test_the_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        PrefectFuture()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        PrefectWrappedFuture(uuid.uuid4(), None)  # type: ignore[abstract]


def test_a_concurrent_future_made_by_hand() -> None:
    task_run_id = uuid.uuid4()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future: PrefectConcurrentFuture[int] = PrefectConcurrentFuture(
            task_run_id, pool.submit(lambda: Completed(data=5))
        )
        called: list[PrefectFuture[int]] = []
        future.add_done_callback(called.append)
        assert future.wait() is None
        assert future.task_run_id == task_run_id
        assert future.state.is_completed()
        assert future.result() == 5
        assert called == [future]
        future.add_done_callback(called.append)  # already done: at once
        assert called == [future, future]

        raw = PrefectConcurrentFuture(uuid.uuid4(), pool.submit(lambda: "plain"))
        assert raw.result() == "plain"  # a result that is not a state is returned as is

        failed = PrefectConcurrentFuture(
            uuid.uuid4(), pool.submit(lambda: Failed(data=ValueError("bad")))
        )
        with pytest.raises(ValueError, match="bad"):
            failed.result()
        assert isinstance(failed.result(raise_on_failure=False), ValueError)


def test_a_concurrent_future_times_out() -> None:
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        slow = pool.submit(lambda: release.wait(5) and Completed(data=1))
        future: PrefectConcurrentFuture[int] = PrefectConcurrentFuture(uuid.uuid4(), slow)
        assert future.wait(timeout=0.05) is None
        assert not future.done()
        with pytest.raises(TimeoutError, match=r"did not complete within 0\.05 seconds"):
            future.result(timeout=0.05)
        release.set()
        assert future.result(timeout=5) == 1


def test_a_hand_made_future_is_an_upstream_like_any_other(store: MemoryStore) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        upstream_id = uuid.uuid4()
        upstream = PrefectConcurrentFuture(upstream_id, pool.submit(lambda: Completed(data=21)))

        @flow
        def pipeline() -> int:
            return double(upstream)

        assert pipeline() == 42
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    assert task_run.task_inputs == {"x": [{"input_type": "task_run", "id": str(upstream_id)}]}


def test_wait_and_as_completed_take_any_future(store: MemoryStore) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = [
            PrefectConcurrentFuture(uuid.uuid4(), pool.submit(lambda v=v: Completed(data=v)))
            for v in range(3)
        ]
        done, not_done = wait(futures, timeout=5)
        assert done == set(futures) and not not_done
        assert sorted(f.result() for f in as_completed(futures)) == [0, 1, 2]


# --- through the store --------------------------------------------------------------------


def test_a_distributed_future_reads_a_finished_run(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        return str(kept.submit(1).task_run_id)

    task_run_id = uuid.UUID(pipeline())
    future: PrefectDistributedFuture[int] = PrefectDistributedFuture(task_run_id)
    assert future.task_run_id == task_run_id
    assert future.wait() is None
    assert future.state.is_completed()
    assert future.result() == 2
    assert future == PrefectDistributedFuture(task_run_id)
    assert len({future, PrefectDistributedFuture(task_run_id)}) == 1
    called: list[Any] = []
    future.add_done_callback(called.append)
    assert called == [future]


def test_a_distributed_future_waits_for_a_run_in_flight(store: MemoryStore) -> None:
    release = threading.Event()

    @task(persist_result=True)
    def held() -> str:
        release.wait(5)
        return "released"

    @flow
    def pipeline() -> tuple[str, float, list[Any]]:
        running = held.submit()
        distributed: PrefectDistributedFuture[str] = PrefectDistributedFuture(running.task_run_id)
        called: list[Any] = []
        distributed.add_done_callback(called.append)
        start = time.monotonic()
        distributed.wait(timeout=0.1)  # still running: returns after the timeout
        assert not distributed.done()
        with pytest.raises(TimeoutError, match="did not complete within"):
            distributed.result(timeout=0.05)
        threading.Timer(0.1, release.set).start()
        value = distributed.result(timeout=10)
        for _ in range(100):
            if called:
                break
            time.sleep(0.02)
        return value, time.monotonic() - start, called

    value, elapsed, called = pipeline()
    assert value == "released"
    assert elapsed < 5
    assert len(called) == 1


def test_a_distributed_future_of_an_unknown_run_times_out() -> None:
    future: PrefectDistributedFuture[Any] = PrefectDistributedFuture(uuid.uuid4())
    assert future.state.name == "Pending"
    future.wait(timeout=0.1)
    assert not future.done()
    with pytest.raises(TimeoutError):
        future.result(timeout=0.1)


def test_an_unpersisted_result_cannot_be_read_back(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        return str(double.submit(1).task_run_id)

    future: PrefectDistributedFuture[int] = PrefectDistributedFuture(uuid.UUID(pipeline()))
    with pytest.raises(MissingResult, match="was not persisted"):
        future.result()


def test_waiting_on_the_event_loop(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        return str(kept.submit(4).task_run_id)

    future: PrefectDistributedFuture[int] = PrefectDistributedFuture(uuid.UUID(pipeline()))
    assert asyncio.run(future.result_async(timeout=5)) == 5


def test_a_flow_run_future(store: MemoryStore) -> None:
    @flow(persist_result=True)
    def answer() -> int:
        return 42

    state = answer(return_state=True)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    future: PrefectFlowRunFuture[int] = PrefectFlowRunFuture(flow_run_id)
    assert future.flow_run_id == flow_run_id
    assert future.result(timeout=5) == 42
    assert isinstance(future.state, State) and future.state.is_completed()
    with pytest.raises(AttributeError):
        future.task_run_id  # noqa: B018

"""`task.delay()` / `apply_async()` and task workers in this process, with no server (the
queue in the embedded database, through the in-process API) and against real servers on
SQLite and PostgreSQL: values come back through `PrefectDistributedFuture`, the task's
retries, hooks, caching and async functions work in the worker, runs are recorded like
any task run, and bad calls are refused before anything is queued."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from vibepiper import task
from vibepiper.client._background_tasks import shared_sync_client
from vibepiper.engine.background import CallNotSerializable, queue_key
from vibepiper.futures import PrefectDistributedFuture
from vibepiper.task_worker import TaskWorker

CALLS: list[tuple[str, Any]] = []
ATTEMPTS: dict[str, int] = {}


@task
def add(x: int, y: int) -> int:
    CALLS.append(("add", (x, y)))
    return x + y


@task(retries=1, retry_delay_seconds=0)
def flaky(label: str) -> str:
    ATTEMPTS[label] = ATTEMPTS.get(label, 0) + 1
    if ATTEMPTS[label] == 1:
        raise RuntimeError(f"first attempt of {label} fails")
    return f"{label} after {ATTEMPTS[label]}"


@task
def broken(message: str) -> None:
    raise ValueError(message)


@task
async def slow_double(x: int) -> int:
    await asyncio.sleep(0.05)
    return 2 * x


@task(cache_key_fn=lambda context, parameters: f"square-{parameters['x']}-{RUN_TAG}")
def square(x: int) -> int:
    CALLS.append(("square", x))
    return x * x


@task
def record(label: str) -> str:
    CALLS.append(("record", label))
    return label


@add.on_completion
def _noted(tsk: Any, run: Any, state: Any) -> None:
    CALLS.append(("hook", state.type.value))


RUN_TAG = uuid.uuid4().hex


@contextmanager
def serving(*tasks: Any, **options: Any) -> Iterator[TaskWorker]:
    """A task worker in a thread of this process, stopped afterwards."""
    worker = TaskWorker(*tasks, **options)
    thread = threading.Thread(target=worker.start, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(30)
        assert not thread.is_alive(), "the task worker did not stop"


def _run(run_id: uuid.UUID) -> Any:
    return shared_sync_client().read_task_run(run_id)


def _queued(tsk: Any) -> int:
    return shared_sync_client().count_background_tasks(queue_key(tsk))


def test_delay_returns_a_future_a_worker_resolves(api_target: str | None) -> None:
    CALLS.clear()
    future = add.delay(2, 3)
    assert isinstance(future, PrefectDistributedFuture)
    queued = _run(future.task_run_id)
    assert queued.state.type.value == "SCHEDULED" and queued.flow_run_id is None
    assert _queued(add) == 1
    with serving(add):
        assert future.result(timeout=30) == 5
        assert add.apply_async(kwargs={"x": 10, "y": 1}).result(timeout=30) == 11
        others = [add.delay(i, i) for i in range(5)]
        assert [f.result(timeout=30) for f in others] == [0, 2, 4, 6, 8]
    assert future.state.is_completed()
    run = _run(future.task_run_id)
    assert run.state.type.value == "COMPLETED" and run.run_count == 1
    assert run.task_key == add.task_key and run.name.startswith("add-")
    assert CALLS.count(("add", (2, 3))) == 1
    assert CALLS.count(("hook", "COMPLETED")) == 7, "on_completion ran in the worker"
    assert _queued(add) == 0, "finished runs leave the queue"
    with shared_sync_client() as client:
        history = [s.type.value for s in client.read_task_run_states(future.task_run_id)]
    assert history == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]


def test_retries_and_failures_happen_in_the_worker(api_target: str | None) -> None:
    label = uuid.uuid4().hex
    with serving(flaky, broken):
        assert flaky.delay(label).result(timeout=30) == f"{label} after 2"
        failed = broken.delay("no good")
        with pytest.raises(Exception, match="no good"):
            failed.result(timeout=30)
        assert failed.state.is_failed()
        error = failed.result(timeout=30, raise_on_failure=False)
        assert isinstance(error, BaseException) and "no good" in str(error)
    assert ATTEMPTS[label] == 2


def test_async_tasks_run_on_the_workers_loop(api_target: str | None) -> None:
    with serving(slow_double, limit=5):
        started = time.monotonic()
        futures = [slow_double.delay(i) for i in range(5)]
        assert [f.result(timeout=30) for f in futures] == [0, 2, 4, 6, 8]
    assert time.monotonic() - started < 20


def test_caching_applies_in_the_worker(api_target: str | None) -> None:
    CALLS.clear()
    with serving(square):
        first = square.delay(7)
        assert first.result(timeout=30) == 49
        second = square.delay(7)
        assert second.result(timeout=30) == 49
        assert second.state.name == "Cached"
    assert CALLS.count(("square", 7)) == 1


def test_wait_for_orders_background_runs(api_target: str | None) -> None:
    CALLS.clear()
    with serving(record, limit=4):
        first = record.delay("first")
        second = record.apply_async(("second",), wait_for=[first])
        assert second.result(timeout=30) == "second"
    assert [c for c in CALLS if c[0] == "record"] == [("record", "first"), ("record", "second")]
    edges = _run(second.task_run_id).task_inputs
    assert [ref.id for ref in edges["wait_for"]] == [first.task_run_id]


def test_a_future_without_a_worker_times_out(api_target: str | None) -> None:
    future = record.delay("nobody serves me")
    started = time.monotonic()
    future.wait(timeout=0.3)
    assert not future.done() and 0.3 <= time.monotonic() - started < 5
    with pytest.raises(TimeoutError, match="did not complete within"):
        future.result(timeout=0.2)
    assert asyncio.run(_wait_async(future)) is False


async def _wait_async(future: PrefectDistributedFuture[Any]) -> bool:
    await future.wait_async(timeout=0.1)
    return future.done()


def test_arguments_that_cannot_travel_are_named(api_target: str | None) -> None:
    before = _queued(record)
    with pytest.raises(CallNotSerializable, match="parameter 'label' cannot be serialized"):
        record.delay(threading.Lock())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="missing a required argument"):
        add.delay(1)  # type: ignore[call-arg]
    assert _queued(record) == before, "nothing was queued"


def test_a_worker_needs_tasks() -> None:
    with pytest.raises(ValueError, match="at least one task"):
        TaskWorker()
    with pytest.raises(TypeError, match="serves tasks"):
        TaskWorker(print)  # type: ignore[arg-type]

"""Task runners: the default thread pool and the process pool."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from vibepiper import flow, get_run_logger, task
from vibepiper.store.memory import MemoryStore
from vibepiper.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

# --- ThreadPoolTaskRunner --------------------------------------------------------------------


def test_thread_pool_is_the_default(store: MemoryStore) -> None:
    @flow
    def pipeline() -> str:
        from vibepiper.context import FlowRunContext

        ctx = FlowRunContext.get()
        assert ctx is not None
        return type(ctx.task_runner).__name__

    assert isinstance(pipeline.task_runner, ThreadPoolTaskRunner)
    assert isinstance(pipeline.task_runner, TaskRunner)
    assert pipeline() == "ThreadPoolTaskRunner"


def test_submitted_tasks_run_concurrently_on_threads(store: MemoryStore) -> None:
    @task
    def nap() -> int:
        time.sleep(0.3)
        return threading.get_ident()

    @flow
    def pipeline() -> tuple[list[int], float]:
        start = time.monotonic()
        idents = [f.result() for f in [nap.submit() for _ in range(4)]]
        return idents, time.monotonic() - start

    idents, elapsed = pipeline()
    assert elapsed < 0.9
    assert len(set(idents)) == 4
    assert threading.get_ident() not in idents


def test_max_workers_limits_concurrency(store: MemoryStore) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    @task
    def nap(_: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def pipeline() -> None:
        nap.map(range(6)).wait()

    pipeline()
    assert peak == 2


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ThreadPoolTaskRunner(max_workers=0)
    with pytest.raises(ValueError):
        ProcessPoolTaskRunner(max_workers=0)


def test_a_task_runner_class_is_accepted(store: MemoryStore) -> None:
    @task
    def one() -> int:
        return 1

    @flow(task_runner=ThreadPoolTaskRunner)
    def pipeline() -> int:
        return one.submit().result()

    assert isinstance(pipeline.task_runner, ThreadPoolTaskRunner)
    assert pipeline() == 1


def test_submitted_async_tasks_run_concurrently_in_a_sync_flow(store: MemoryStore) -> None:
    @task
    async def nap(n: int) -> int:
        await asyncio.sleep(0.3)
        return n

    @flow
    def pipeline() -> tuple[list[int], float]:
        start = time.monotonic()
        values = nap.map(range(5)).result()
        return values, time.monotonic() - start

    values, elapsed = pipeline()
    assert values == [0, 1, 2, 3, 4]
    assert elapsed < 0.9


# --- ProcessPoolTaskRunner -------------------------------------------------------------------


@task
def pid_of(x: int) -> tuple[int, int]:
    return x, os.getpid()


@task
def log_in_process(x: int) -> int:
    get_run_logger().info("hello from process %s", x)
    return os.getpid()


@task
def explode_in_process() -> None:
    raise KeyError("raised in a process")


@task(retries=2)
def flaky_in_process(marker: str) -> int:
    path = Path(marker)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise ValueError(f"attempt {attempts} in {os.getpid()}")
    return attempts


@task(timeout_seconds=0.5)
def stuck_in_process(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(30)


@task
async def async_in_process(x: int) -> tuple[int, int]:
    await asyncio.sleep(0.01)
    return x, os.getpid()


@task
def runtime_in_process() -> tuple[str | None, str | None, str | None]:
    from vibepiper.runtime import flow_run, task_run

    return task_run.id, task_run.name, flow_run.id


def test_process_pool_submit_and_map_run_in_other_processes(store: MemoryStore) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=2))
    def pipeline() -> list[tuple[int, int]]:
        first = pid_of.submit(0).result()
        return [first, *pid_of.map([1, 2, 3]).result()]

    results = pipeline()
    assert [x for x, _ in results] == [0, 1, 2, 3]
    pids = {pid for _, pid in results}
    assert os.getpid() not in pids
    (run,) = store.read_flow_runs()
    task_runs = store.read_task_runs(run.id)
    assert len(task_runs) == 4
    assert all(t.state_type == "COMPLETED" for t in task_runs)


def test_process_pool_runs_async_tasks_in_other_processes(store: MemoryStore) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> tuple[int, int]:
        return async_in_process.submit(5).result()

    value, pid = pipeline()
    assert value == 5
    assert pid != os.getpid()


def test_process_pool_tasks_see_their_runtime(store: MemoryStore) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> tuple[str | None, str | None, str | None]:
        return runtime_in_process.submit().result()

    task_run_id, task_run_name, flow_run_id = pipeline()
    (run,) = store.read_flow_runs()
    (stored,) = store.read_task_runs(run.id)
    assert (task_run_id, task_run_name, flow_run_id) == (str(stored.id), stored.name, str(run.id))


def test_process_pool_task_failure_is_recorded_and_raised(store: MemoryStore) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> None:
        explode_in_process.submit().result()

    with pytest.raises(KeyError, match="raised in a process"):
        pipeline()
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    assert task_run.state_type == "FAILED"
    assert "raised in a process" in (task_run.state_message or "")


def test_process_pool_retries(store: MemoryStore, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> int:
        return flaky_in_process.submit(str(marker)).result()

    assert pipeline() == 3
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    assert task_run.run_count == 3
    names = [row.name for row in store.read_task_run_states(task_run.id)]
    assert names == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_process_pool_timeout_kills_the_process(store: MemoryStore, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> tuple[str, str, float, int]:
        pid_of.submit(0).result()  # start the worker so the limit times the task alone
        start = time.monotonic()
        state = stuck_in_process.submit(str(pid_file), return_state=True)
        elapsed = time.monotonic() - start
        after = pid_of.submit(1).result()[1]
        return state.type.value, state.name, elapsed, after

    state_type, state_name, elapsed, later_pid = pipeline()
    assert (state_type, state_name) == ("FAILED", "TimedOut")
    assert elapsed < 10, f"the 0.5 s limit ended a 30 s task after {elapsed:.1f} s"
    stuck_pid = int(pid_file.read_text())
    assert not _process_alive(stuck_pid)
    # a fresh worker takes the killed one's place
    assert later_pid != stuck_pid


def test_process_pool_logs_are_stored_for_their_task_run(store: MemoryStore) -> None:
    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> int:
        return log_in_process.submit(7).result()

    child_pid = pipeline()
    assert child_pid != os.getpid()
    (run,) = store.read_flow_runs()
    (task_run,) = store.read_task_runs(run.id)
    logs = store.read_logs(run.id, task_run_id=task_run.id)
    assert "hello from process 7" in [log.message for log in logs]


def test_process_pool_print_with_log_prints_is_stored(store: MemoryStore) -> None:
    @task(log_prints=True)
    def chatty() -> None:
        print("printed in a process")

    @flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
    def pipeline() -> None:
        chatty.submit().wait()

    pipeline()
    (run,) = store.read_flow_runs()
    assert "printed in a process" in [log.message for log in store.read_logs(run.id)]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0; look at its state
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return status != "Z"

"""One behaviour suite for the task runners that call task functions on a cluster.

`tests/integration/test_dask_runner.py` and `test_ray_runner.py` subclass
`RemoteRunnerSuite` and provide a `remote_runner` fixture: a callable returning a new
runner connected to the module's (shared) cluster. The task functions live here, at
module level, so that cloudpickle sends them by reference and workers import this
module; attempt counts travel through files because the functions run elsewhere.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vibepiper import flow, get_run_logger, task
from vibepiper.cache_policies import INPUTS
from vibepiper.task_runners import TaskRunner

RunnerFactory = Callable[[], TaskRunner]


@task
def where(x: int, nap: float = 0.0) -> tuple[int, int]:
    time.sleep(nap)
    return x * 10, os.getpid()


@task
def chatty(x: int) -> int:
    get_run_logger().info("hello from worker %s", x)
    return os.getpid()


@task
async def async_where(x: int) -> tuple[int, int]:
    import asyncio

    await asyncio.sleep(0.01)
    return x, os.getpid()


@task(retries=2)
def flaky(marker: str) -> int:
    path = Path(marker)
    attempts = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise ValueError(f"attempt {attempts} fails")
    return attempts


@task(timeout_seconds=1)
def stuck() -> None:
    time.sleep(30)


@task(cache_policy=INPUTS)
def counted(x: int, marker: str) -> int:
    path = Path(marker)
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))
    return x + 1


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def runtime_ids() -> tuple[str | None, str | None, str | None, int]:
    from vibepiper.runtime import flow_run, task_run

    return task_run.id, task_run.name, flow_run.id, os.getpid()


@task
def explode() -> None:
    raise KeyError("raised on a worker")


def _only_flow_run(store: Any) -> Any:
    (run,) = store.read_flow_runs()
    return run


class RemoteRunnerSuite:
    """The contract every cluster-backed runner keeps (the fixture is the subclass's)."""

    def test_map_runs_in_worker_processes(self, remote_runner: RunnerFactory) -> None:
        from vibepiper.store import get_store

        @flow(task_runner=remote_runner())
        def pipeline() -> list[tuple[int, int]]:
            return where.map(range(20), nap=0.2).result()

        results = pipeline()
        assert [value for value, _ in results] == [x * 10 for x in range(20)]
        pids = {pid for _, pid in results}
        assert os.getpid() not in pids
        assert len(pids) >= 2
        store = get_store()
        run = _only_flow_run(store)
        assert run.state_type == "COMPLETED"
        task_runs = store.read_task_runs(run.id)
        assert len(task_runs) == 20
        for task_run in task_runs:
            names = [row.name for row in store.read_task_run_states(task_run.id)]
            assert names == ["Pending", "Running", "Completed"], task_run.name

    def test_submit_of_an_async_task_runs_on_a_worker(self, remote_runner: RunnerFactory) -> None:
        @flow(task_runner=remote_runner())
        def pipeline() -> tuple[int, int]:
            return async_where.submit(5).result()

        value, pid = pipeline()
        assert value == 5
        assert pid != os.getpid()

    def test_logs_are_stored_for_their_task_run(self, remote_runner: RunnerFactory) -> None:
        from vibepiper.store import get_store

        @flow(task_runner=remote_runner())
        def pipeline() -> int:
            return chatty.submit(7).result()

        assert pipeline() != os.getpid()
        store = get_store()
        run = _only_flow_run(store)
        (task_run,) = store.read_task_runs(run.id)
        messages = [log.message for log in store.read_logs(run.id, task_run_id=task_run.id)]
        assert "hello from worker 7" in messages

    def test_tasks_see_their_runtime(self, remote_runner: RunnerFactory) -> None:
        from vibepiper.store import get_store

        @flow(task_runner=remote_runner())
        def pipeline() -> tuple[str | None, str | None, str | None, int]:
            return runtime_ids.submit().result()

        task_run_id, task_run_name, flow_run_id, pid = pipeline()
        assert pid != os.getpid()
        store = get_store()
        run = _only_flow_run(store)
        (stored,) = store.read_task_runs(run.id)
        assert (task_run_id, task_run_name, flow_run_id) == (
            str(stored.id),
            stored.name,
            str(run.id),
        )

    def test_failure_is_recorded_and_raised(self, remote_runner: RunnerFactory) -> None:
        import pytest

        from vibepiper.store import get_store

        @flow(task_runner=remote_runner())
        def pipeline() -> None:
            explode.submit().result()

        with pytest.raises(KeyError, match="raised on a worker"):
            pipeline()
        store = get_store()
        (task_run,) = store.read_task_runs(_only_flow_run(store).id)
        assert task_run.state_type == "FAILED"
        assert "raised on a worker" in (task_run.state_message or "")

    def test_retries(self, remote_runner: RunnerFactory, tmp_path: Path) -> None:
        from vibepiper.store import get_store

        marker = tmp_path / "attempts"

        @flow(task_runner=remote_runner())
        def pipeline() -> int:
            return flaky.submit(str(marker)).result()

        assert pipeline() == 3
        assert marker.read_text() == "3"
        store = get_store()
        (task_run,) = store.read_task_runs(_only_flow_run(store).id)
        assert task_run.run_count == 3
        assert [row.name for row in store.read_task_run_states(task_run.id)] == [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "AwaitingRetry",
            "Retrying",
            "Completed",
        ]

    def test_timeout_ends_the_task_run_timed_out(self, remote_runner: RunnerFactory) -> None:
        @flow(task_runner=remote_runner())
        def pipeline() -> tuple[str, str, float]:
            where.submit(0).result()  # the cluster is up: the limit times the task alone
            start = time.monotonic()
            future = stuck.submit()
            future.wait()
            state = future.state
            return state.type.value, state.name, time.monotonic() - start

        state_type, state_name, elapsed = pipeline()
        assert (state_type, state_name) == ("FAILED", "TimedOut")
        assert elapsed < 10, f"the 1 s limit ended a 30 s task after {elapsed:.1f} s"

    def test_cache_hit_does_not_call_the_function_again(
        self, remote_runner: RunnerFactory, tmp_path: Path
    ) -> None:
        from vibepiper.store import get_store

        marker = tmp_path / f"calls-{uuid.uuid4().hex}"

        @flow(task_runner=remote_runner())
        def pipeline() -> list[int]:
            first = counted.submit(1, str(marker)).result()
            second = counted.submit(1, str(marker)).result()
            return [first, second]

        assert pipeline() == [2, 2]
        assert marker.read_text() == "1"
        store = get_store()
        runs = {r.name: r for r in store.read_task_runs(_only_flow_run(store).id)}
        assert runs["counted-0"].state_name == "Completed"
        assert runs["counted-1"].state_name == "Cached"

    def test_futures_as_arguments_resolve_and_record_the_edge(
        self, remote_runner: RunnerFactory
    ) -> None:
        from vibepiper.store import get_store

        @flow(task_runner=remote_runner())
        def pipeline() -> int:
            a = add.submit(1, 2)
            b = add.submit(10, 20)
            return add.submit(a, b).result()

        assert pipeline() == 33
        store = get_store()
        runs = {r.name: r for r in store.read_task_runs(_only_flow_run(store).id)}

        def edge(name: str) -> list[dict[str, str]]:
            return [{"input_type": "task_run", "id": str(runs[name].id)}]

        assert runs["add-2"].task_inputs == {"a": edge("add-0"), "b": edge("add-1")}

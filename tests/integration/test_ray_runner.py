"""RayTaskRunner on a real local Ray runtime (2 CPUs), shared by the module's tests.

Runners made without `address=` find Ray already initialised and use it, so they
neither start nor stop it; one test checks a runner that starts its own runtime.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.remote_runner_suite import RemoteRunnerSuite, RunnerFactory, where
from vibepiper import flow
from vibepiper.task_runners import TaskRunner

ray = pytest.importorskip("ray", reason="the ray wheel is not installed on this machine")

from vibepiper.integrations.ray import RayTaskRunner  # noqa: E402

pytestmark = pytest.mark.slow


def test_a_runner_that_starts_ray_shuts_it_down() -> None:
    # first in the module, before the shared runtime below is started
    assert not ray.is_initialized()

    @flow(task_runner=RayTaskRunner(init_kwargs={"num_cpus": 1}))
    def pipeline() -> tuple[int, int]:
        return where.submit(3).result()

    value, pid = pipeline()
    assert value == 30
    assert pid != os.getpid()
    assert not ray.is_initialized()


def test_ray_started_on_a_task_thread_outlives_that_thread() -> None:
    # Ray's local processes die with the thread that started them: the runner must
    # not start Ray on a task thread that can exit while the flow still runs
    assert not ray.is_initialized()
    runner = RayTaskRunner(init_kwargs={"num_cpus": 1})
    starter = threading.Thread(target=runner._ensure_ray)
    starter.start()
    starter.join()
    try:
        time.sleep(1.0)
        assert ray.get(ray.remote(_answer).remote(), timeout=20) == 42
    finally:
        runner.shutdown()
    assert not ray.is_initialized()


def _answer() -> int:
    return 42


@pytest.fixture(scope="module")
def worker_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The VIBEPIPER_HOME the workers see: it must stay without a database."""
    return tmp_path_factory.mktemp("ray-worker-home")


@pytest.fixture(scope="module")
def ray_runtime(worker_home: Path) -> Iterator[None]:
    if ray.is_initialized():
        pytest.fail("Ray was already initialised before this module's tests")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"VIBEPIPER_HOME": str(worker_home)}},
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def remote_runner(ray_runtime: None) -> RunnerFactory:
    return RayTaskRunner


class TestRayTaskRunner(RemoteRunnerSuite):
    def test_workers_never_open_the_store(
        self, remote_runner: RunnerFactory, worker_home: Path
    ) -> None:
        @flow(task_runner=remote_runner())
        def pipeline() -> list[tuple[int, int]]:
            return where.map(range(4)).result()

        pipeline()
        assert ray.is_initialized()  # the runner did not start Ray, so did not stop it
        assert not (worker_home / "vibepiper.db").exists()
        assert list(worker_home.rglob("*")) == []


def test_duplicate_keeps_the_settings() -> None:
    runner = RayTaskRunner(address="auto", init_kwargs={"num_cpus": 1})
    copy = runner.duplicate()
    assert copy is not runner
    assert (copy.address, copy.init_kwargs) == ("auto", {"num_cpus": 1})
    assert copy._remote is None


def test_both_import_paths_give_the_same_class() -> None:
    import vibepiper.task_runners

    assert vibepiper.task_runners.RayTaskRunner is RayTaskRunner
    assert issubclass(RayTaskRunner, TaskRunner)

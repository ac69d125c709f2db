"""DaskTaskRunner on a real `distributed.LocalCluster` with two worker processes.

One cluster serves the whole module (passed to each runner as `address=`); one test
starts the runner's own default cluster to check it is closed at the end of the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.remote_runner_suite import RemoteRunnerSuite, RunnerFactory, where
from vibepiper import flow
from vibepiper.task_runners import TaskRunner

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

from vibepiper.integrations.dask import DaskTaskRunner  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worker_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The VIBEPIPER_HOME the workers see: it must stay without a database."""
    return tmp_path_factory.mktemp("dask-worker-home")


@pytest.fixture(scope="module")
def cluster_address(worker_home: Path) -> Iterator[str]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: other clusters may hold 8787
        scheduler_kwargs={"dashboard": False},
        env={"VIBEPIPER_HOME": str(worker_home)},
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def remote_runner(cluster_address: str) -> RunnerFactory:
    return lambda: DaskTaskRunner(address=cluster_address)


class TestDaskTaskRunner(RemoteRunnerSuite):
    def test_workers_never_open_the_store(self, remote_runner: RunnerFactory) -> None:
        @flow(task_runner=remote_runner())
        def pipeline() -> list[tuple[int, int]]:
            return where.map(range(4)).result()

        pipeline()
        # the worker processes were started with worker_home as their VIBEPIPER_HOME
        assert all(p.name != "vibepiper.db" for p in _worker_home_files(remote_runner))


def _worker_home_files(remote_runner: RunnerFactory) -> list[Path]:
    runner = remote_runner()
    assert isinstance(runner, DaskTaskRunner)
    try:
        homes = runner.client.run(lambda: os.environ.get("VIBEPIPER_HOME"))
    finally:
        runner.shutdown()
    files: list[Path] = []
    for home in set(homes.values()):
        assert home is not None
        files.extend(Path(home).rglob("*"))
    return files


def test_default_runner_starts_a_local_cluster_and_closes_it() -> None:
    runner = DaskTaskRunner()

    @flow(task_runner=runner)
    def pipeline() -> list[tuple[int, int]]:
        return where.map(range(4), nap=0.1).result()

    values = pipeline()
    assert [v for v, _ in values] == [0, 10, 20, 30]
    assert os.getpid() not in {pid for _, pid in values}
    # the flow run used a copy: the runner given to @flow was never started
    assert runner._cluster is None
    copy = runner.duplicate()
    copy.client  # noqa: B018 - starts the cluster
    cluster = copy._cluster
    assert cluster is not None
    assert len(cluster.workers) == 2
    copy.shutdown()
    assert cluster.status.name == "closed"
    assert copy._client is None


def test_duplicate_keeps_the_settings_and_is_not_started(cluster_address: str) -> None:
    runner = DaskTaskRunner(
        cluster_kwargs={"n_workers": 1}, client_kwargs={"timeout": 5}, adapt_kwargs={"maximum": 2}
    )
    copy = runner.duplicate()
    assert copy is not runner
    assert (copy.cluster_class, copy.cluster_kwargs, copy.client_kwargs, copy.adapt_kwargs) == (
        None,
        {"n_workers": 1},
        {"timeout": 5},
        {"maximum": 2},
    )
    assert copy._client is None and copy._cluster is None
    assert DaskTaskRunner(address=cluster_address).duplicate().address == cluster_address


def test_address_and_cluster_settings_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="address"):
        DaskTaskRunner(address="tcp://127.0.0.1:8786", cluster_kwargs={"n_workers": 1})


def test_both_import_paths_give_the_same_class() -> None:
    import vibepiper.task_runners

    assert vibepiper.task_runners.DaskTaskRunner is DaskTaskRunner
    assert issubclass(DaskTaskRunner, TaskRunner)


_PROBE = """
import json, sys
import vibepiper, vibepiper.task_runners, vibepiper.integrations.dask
import vibepiper.integrations.ray
heavy = {"dask", "distributed", "ray"}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_importing_vibepiper_and_the_runner_modules_loads_no_dask_or_ray() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []

"""`vibepiper_dask` (what `prefect_dask` imports become): the runner, and
`get_dask_client` inside tasks and flows, on a real `distributed.LocalCluster`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibepiper import flow, task

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")

import vibepiper_dask  # noqa: E402
from vibepiper_dask import DaskTaskRunner, get_async_dask_client, get_dask_client  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("dask-worker-home")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
        env={"VIBEPIPER_HOME": str(home)},
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_the_module_paths_of_prefect_dask() -> None:
    import vibepiper.integrations.dask as ours
    from vibepiper_dask.task_runners import DaskTaskRunner as from_task_runners
    from vibepiper_dask.utils import get_dask_client as from_utils

    assert DaskTaskRunner is from_task_runners is ours.DaskTaskRunner
    assert from_utils is get_dask_client is ours.get_dask_client
    assert sorted(vibepiper_dask.__all__) == [
        "DaskTaskRunner",
        "get_async_dask_client",
        "get_dask_client",
    ]


@task
def fan_out_inside(n: int) -> tuple[int, str]:
    with get_dask_client() as client:
        squares = client.gather(client.map(lambda x: x * x, range(n)))
        return sum(squares), str(client.scheduler.address)


def test_a_task_gets_a_client_on_its_own_cluster(cluster_address: str) -> None:
    @flow(task_runner=DaskTaskRunner(address=cluster_address))
    def pipeline() -> tuple[int, str]:
        return fan_out_inside.submit(4).result()

    total, address = pipeline()
    assert total == 0 + 1 + 4 + 9
    assert address == cluster_address


def test_a_flow_gets_a_client_on_its_runners_cluster(cluster_address: str) -> None:
    @flow(task_runner=DaskTaskRunner(address=cluster_address))
    def pipeline() -> tuple[int, str]:
        with get_dask_client(timeout="10s") as client:
            return client.submit(sum, [1, 2, 3]).result(), str(client.scheduler.address)

    assert pipeline() == (6, cluster_address)


def test_the_async_client(cluster_address: str) -> None:
    async def use() -> int:
        async with get_async_dask_client(address=cluster_address) as client:
            return int(await client.submit(sum, [4, 5]))

    assert asyncio.run(use()) == 9

"""A docker worker killed with SIGKILL leaves its container running: the server's crash
detector ends the run Crashed (no heartbeat), and the next docker worker on the pool
stops and removes the leftover container."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.docker_support import (
    containers_of,
    docker_pool,
    mounted_job,
    state_message,
)
from tests.e2e.workers_support import Worker, deploy, wait_final, wait_for
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.schemas.deployments import DeploymentFlowRunCreate

pytestmark = [pytest.mark.slow, pytest.mark.solo, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {"VIBEPIPER_SERVER_RUN_HEARTBEAT_TIMEOUT": "5"}


def test_a_killed_workers_container_is_removed_by_the_next_worker(
    server: Server,
    client: SyncVibePiperClient,
    docker_project: Path,
    vibepiper_image: str,
    engine_env: dict[str, str],
    tmp_path: Path,
) -> None:
    pool = docker_pool(client)
    deployment = deploy(
        client,
        docker_project,
        "sleeper",
        pool=pool,
        job_variables=mounted_job(docker_project, vibepiper_image),
    )
    run = client.create_flow_run_from_deployment(
        deployment.id, DeploymentFlowRunCreate(parameters={"seconds": 300})
    )
    first = Worker(server, pool, tmp_path / "first.log", env=engine_env)
    try:
        started = docker_project / "out" / f"started-{run.id}"
        wait_for(started.exists, 120, "the flow body to start")
        first.stop(signal.SIGKILL)
        # the container outlives its worker ...
        (container,) = containers_of(run.id)
        assert container.status == "running"
        # ... the server ends the run when the worker's heartbeats stop ...
        final = wait_final(client, run.id, timeout=60)
        assert final.state_type is not None and final.state_type.value == "CRASHED"
        assert "heartbeat" in state_message(final), state_message(final)
    finally:
        first.stop(signal.SIGKILL)
    # ... and the next worker on the pool stops and removes the leftover
    second = Worker(server, pool, tmp_path / "second.log", env=engine_env)
    try:
        wait_for(lambda: not containers_of(run.id), 60, "the leftover container to go")
        assert "Removed leftover container" in second.output(), second.output()
    finally:
        second.stop()

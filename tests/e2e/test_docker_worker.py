"""A `docker` work pool on a real container engine (Podman's Docker-compatible API): a
real `vibepiper worker start` runs each flow run in a container of the project image,
and a run that ends without recording a final state is explained from the engine's
record (out of memory, exit code, missing image)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server
from tests.e2e.docker_support import (
    containers_of,
    docker_pool,
    mounted_job,
    run_to_the_end,
    state_message,
)
from tests.e2e.workers_support import (
    deploy,
    wait_final,
    wait_for,
    wait_state,
    workers,
)
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.schemas.api_filters import LogFilter
from vibepiper.schemas.deployments import DeploymentFlowRunCreate
from vibepiper.schemas.event_filters import EventFilter

# the first test may wait for `make image` (the fixture builds the image when it is stale)
pytestmark = [pytest.mark.slow, pytest.mark.solo, pytest.mark.timeout(900)]


def test_a_run_completes_in_a_container_with_its_job_variables_and_output(
    server: Server,
    client: SyncVibePiperClient,
    docker_project: Path,
    vibepiper_image: str,
    engine_env: dict[str, str],
    tmp_path: Path,
) -> None:
    pool = docker_pool(client, env={"A": "pool", "B": "pool"}, labels={"team": "data"})
    deployment = deploy(
        client,
        docker_project,
        "adder",
        pool=pool,
        job_variables=mounted_job(
            docker_project,
            vibepiper_image,
            env={
                "WORKER_TEST_OUT": str(docker_project / "out"),
                "B": "deployment",
                "C": "deployment",
                # the result lands in the mounted project, readable here at the same path
                "VIBEPIPER_RESULTS_PERSIST_BY_DEFAULT": "true",
                "VIBEPIPER_RESULTS_DEFAULT_STORAGE": str(docker_project / "results"),
            },
            mem_limit="256m",
            cpus=0.5,
        ),
    )
    body = DeploymentFlowRunCreate(
        parameters={"a": 1}, job_variables={"env": {"C": "run"}, "mem_limit": "128m"}
    )
    run = client.create_flow_run_from_deployment(deployment.id, body)
    with workers(server, pool, tmp_path, env=engine_env) as started:
        final = wait_final(client, run.id, timeout=120)
        output = started[0].output()
    assert final.state_name == "Completed", (final.state, output)
    assert client.read_flow_run(run.id).state.result() == 3
    assert "(type docker" in output
    seen = json.loads((docker_project / "out" / f"seen-{run.id}").read_text())
    assert seen["cwd"] == str(docker_project)
    assert seen["hostname"] == f"vp-{run.id.hex[:12]}"
    # the pool's env < the deployment's < the run's
    assert (seen["A"], seen["B"], seen["C"]) == ("pool", "deployment", "run")
    # what the container printed outside the run's logger is a log of the run
    logs = client.read_logs(LogFilter(flow_run_id=[run.id]))
    container_lines = [log.message for log in logs if log.name == "vibepiper.container"]
    assert "a raw line on stderr" in container_lines, [(line.name, line.message) for line in logs]
    assert any("adding 1 and 2" in log.message for log in logs)
    # kept (auto_remove is off by default), labelled with the run, pool and worker
    (container,) = containers_of(run.id)
    labels = container.labels
    assert labels["io.vibepiper.work-pool"] == pool
    assert labels["io.vibepiper.role"] == "run"
    assert labels["team"] == "data"  # the pool's default
    assert container.attrs["State"]["ExitCode"] == 0
    # the run's mem_limit replaces the deployment's; the deployment's cpus stays
    host = container.attrs["HostConfig"]
    assert (host["Memory"], host["NanoCpus"], host["Privileged"]) == (128 << 20, 500_000_000, False)
    container.remove(force=True)


def test_out_of_memory_ends_the_run_crashed_with_the_reason(
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
        "hog",
        pool=pool,
        job_variables=mounted_job(
            docker_project, vibepiper_image, mem_limit="64m", memswap_limit="64m", auto_remove=True
        ),
    )
    run, output = run_to_the_end(server, client, pool, deployment.id, tmp_path, engine_env, mb=512)
    final = run
    assert final.state_type is not None and final.state_type.value == "CRASHED", output
    message = state_message(final)
    assert "killed: out of memory (limit 64 MiB)" in message, message
    states = client.read_flow_run_states(run.id)
    assert states[-1].state_details.get("crash_reason") == "oom"
    logs = client.read_logs(LogFilter(flow_run_id=[run.id]))
    assert any("allocating 512 MiB" in log.message for log in logs)
    # the crash is an event an automation can react to, carrying the message
    crashed = client.read_events(
        EventFilter.model_validate(
            {
                "event": {"name": ["vibepiper.flow-run.Crashed"]},
                "resource": {"id": [f"vibepiper.flow-run.{run.id}"]},
            }
        )
    ).events
    assert len(crashed) == 1
    assert "out of memory" in crashed[0].resource.root.get("vibepiper.state-message", "")
    # auto_remove: nothing is left once the run is settled
    wait_for(lambda: not containers_of(run.id), 20, "the container to be removed")


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        ({"image": "localhost/vp-missing:1"}, "image 'localhost/vp-missing:1' not found"),
        ({"command": "no-such-binary-xyz"}, "command not found"),
        ({"command": "sh -c 'echo boom-line; exit 3'"}, "exited with code 3"),
    ],
    ids=["missing-image", "missing-command", "exit-code"],
)
def test_a_container_that_cannot_run_the_flow_ends_crashed_naming_why(
    server: Server,
    client: SyncVibePiperClient,
    docker_project: Path,
    vibepiper_image: str,
    engine_env: dict[str, str],
    tmp_path: Path,
    job: dict[str, Any],
    expected: str,
) -> None:
    pool = docker_pool(client)
    variables = mounted_job(docker_project, vibepiper_image, auto_remove=True) | job
    deployment = deploy(client, docker_project, "adder", pool=pool, job_variables=variables)
    run, output = run_to_the_end(server, client, pool, deployment.id, tmp_path, engine_env, a=1)
    final = run
    assert final.state_type is not None and final.state_type.value == "CRASHED", output
    assert expected in (state_message(final)), state_message(final)
    if "exit" in expected:
        assert "boom-line" in (state_message(final))  # the container's last lines
    wait_for(lambda: not containers_of(run.id), 20, "no container left behind")


def test_cancelling_stops_the_container_and_runs_the_hook(
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
        job_variables=mounted_job(docker_project, vibepiper_image, auto_remove=True),
    )
    run = client.create_flow_run_from_deployment(
        deployment.id, DeploymentFlowRunCreate(parameters={"seconds": 120})
    )
    started_file = docker_project / "out" / f"started-{run.id}"
    with workers(server, pool, tmp_path, env=engine_env) as started:
        try:
            wait_state(client, run.id, "RUNNING", timeout=120)
            wait_for(started_file.exists, 60, "the flow body to start")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{started[0].output()}") from None
        client.cancel_flow_run(run.id)
        final = wait_final(client, run.id, timeout=30)
        output = started[0].output()
    assert final.state_type is not None and final.state_type.value == "CANCELLED", output
    assert (docker_project / "out" / f"hook-{run.id}").read_text() == "CANCELLED"
    wait_for(lambda: not containers_of(run.id), 20, "the container to be removed")


def test_a_docker_worker_without_an_engine_says_so_in_one_line(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    pool = docker_pool(client)
    env = {**os.environ, "VIBEPIPER_API_URL": server.url}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", pool],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Cannot reach a container engine at unix://" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_worker_of_another_type_than_its_pool_is_refused_in_one_line(
    server: Server, client: SyncVibePiperClient
) -> None:
    pool = docker_pool(client)
    env = {**os.environ, "VIBEPIPER_API_URL": server.url}
    done = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", pool, "-t", "process"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"work pool {pool!r} is of type 'docker', not 'process'" in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_registry_credentials_come_from_a_block_and_a_failed_login_names_the_registry(
    server: Server,
    client: SyncVibePiperClient,
    docker_project: Path,
    vibepiper_image: str,
    engine_env: dict[str, str],
    tmp_path: Path,
) -> None:
    block = f"registry-{uuid.uuid4().hex[:6]}"
    placeholder = "{{ vibepiper.blocks.docker-registry-credentials.NAME }}".replace("NAME", block)
    save = (
        "from vibepiper.blocks.docker import DockerRegistryCredentials\n"
        "DockerRegistryCredentials(username='ci', password='hunter2-secret', "
        f"registry_url='127.0.0.1:1').save({block!r})\n"
    )
    env = {**os.environ, "VIBEPIPER_API_URL": server.url}
    subprocess.run([sys.executable, "-c", save], env=env, check=True, timeout=60)
    pool = docker_pool(client)
    variables = mounted_job(
        docker_project,
        "127.0.0.1:1/team/flows:1",
        auto_remove=True,
        image_pull_policy="Always",
        registry_credentials=placeholder,
    )
    deployment = deploy(client, docker_project, "adder", pool=pool, job_variables=variables)
    run, output = run_to_the_end(server, client, pool, deployment.id, tmp_path, engine_env, a=1)
    final = run
    assert final.state_type is not None and final.state_type.value == "CRASHED", output
    message = state_message(final)
    assert "could not log in to registry '127.0.0.1:1'" in message, message
    assert "hunter2-secret" not in message + output
    # the deployment keeps the placeholder, not the secret
    stored = client.read_deployment(deployment.id).job_variables["registry_credentials"]
    assert stored == placeholder

"""Shared pieces of the docker work pool e2e tests: the flows that run in containers, a
docker pool, the job variables that mount the project, running a deployment's run to its
end on a real worker. (The fixtures `docker_project` and `engine_env` are in conftest.py.)"""

from __future__ import annotations

import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from tests.client.conftest import Server
from tests.e2e.workers_support import pool_name, wait_final, workers
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.orchestration.job_templates import default_base_job_template
from vibepiper.schemas.deployments import DeploymentFlowRunCreate, WorkPoolCreate

FLOWS = textwrap.dedent(
    """
    import json
    import os
    import signal
    import time

    from vibepiper import flow, get_run_logger
    from vibepiper.runtime import flow_run

    OUT = os.environ.get("WORKER_TEST_OUT", "out")


    def _note(flow, run, state):
        with open(os.path.join(OUT, f"hook-{run.id}"), "w") as f:
            f.write(state.type.value)


    @flow(log_prints=True)
    def adder(a: int, b: int = 2) -> int:
        print(f"adding {a} and {b}")
        os.write(2, b"a raw line on stderr\\n")  # not through print(): no run logger sees it
        with open(os.path.join(OUT, f"seen-{flow_run.id}"), "w") as f:
            json.dump(
                {
                    "cwd": os.getcwd(),
                    "hostname": os.uname().nodename,
                    "A": os.environ.get("A"),
                    "B": os.environ.get("B"),
                    "C": os.environ.get("C"),
                },
                f,
            )
        return a + b


    @flow
    def hog(mb: int = 512) -> None:
        get_run_logger().info("allocating %d MiB", mb)
        time.sleep(1.0)  # the log line reaches the server before the memory runs out
        chunks = [b"x" * (16 << 20) for _ in range(mb // 16)]
        print(len(chunks))


    @flow(on_cancellation=[_note], on_crashed=[_note])
    def sleeper(seconds: float = 60, ignore_sigterm: bool = False) -> str:
        if ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(os.path.join(OUT, f"started-{flow_run.id}"), "w") as f:
            f.write("1")
        time.sleep(seconds)
        return "slept"
    """
)


def mounted_job(project: Path, image: str, **more: Any) -> dict[str, Any]:
    """The project mounted at the same path inside the container, so the deployment's
    `path` is the container's working directory and what the flows write is readable
    here."""
    return {
        "image": image,
        "volumes": [f"{project}:{project}"],
        "env": {"WORKER_TEST_OUT": str(project / "out")},
        **more,
    }


def docker_pool(client: SyncVibePiperClient, **defaults: Any) -> str:
    pool = pool_name()
    template = default_base_job_template("docker")
    for key, value in defaults.items():
        template["variables"]["properties"][key]["default"] = value
    client.create_work_pool(WorkPoolCreate(name=pool, type="docker", base_job_template=template))
    return pool


def state_message(run: Any) -> str:
    return (run.state.message if run.state is not None else None) or ""


def containers_of(run_id: uuid.UUID) -> list[Any]:
    """The containers labelled with the run (retried: the SDK inspects each container it
    lists, and one removed in between fails the whole list)."""
    import docker

    engine = docker.from_env()
    try:
        for attempt in range(5):
            try:
                found: list[Any] = engine.containers.list(
                    all=True, filters={"label": f"io.vibepiper.flow-run-id={run_id}"}
                )
                return found
            except docker.errors.APIError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
        raise AssertionError("unreachable")
    finally:
        engine.close()


def run_to_the_end(
    server: Server,
    client: SyncVibePiperClient,
    pool: str,
    deployment_id: uuid.UUID,
    tmp: Path,
    env: dict[str, str],
    **parameters: Any,
) -> tuple[Any, str]:
    """Create a run of the deployment, start a worker on the pool, wait for the run's
    final state: (the run, the worker's output)."""
    run = client.create_flow_run_from_deployment(
        deployment_id, DeploymentFlowRunCreate(parameters=parameters)
    )
    with workers(server, pool, tmp, env=env) as started:
        final = wait_final(client, run.id, timeout=120)
        output = started[0].output()
    return final, output

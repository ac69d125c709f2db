"""Shared pieces of the worker e2e tests: a real server, a project on disk, deployments
and real `vibepiper worker start` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.client.conftest import Server, new_server
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.api import FlowRunRead
from vibepiper.schemas.deployments import (
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentRead,
    WorkPoolCreate,
)

T = TypeVar("T")

FLOWS = textwrap.dedent(
    """
    import os
    import signal
    import time

    from vibepiper import flow, task
    from vibepiper.runtime import flow_run

    OUT = os.environ.get("WORKER_TEST_OUT", "out")


    def _note(flow, run, state):
        with open(os.path.join(OUT, f"hook-{run.id}"), "w") as f:
            f.write(state.type.value)


    @task
    def add(x: int, y: int) -> int:
        return x + y


    @flow(log_prints=True)
    def adder(a: int, b: int = 2) -> int:
        print(f"adding {a} and {b}")
        return add(a, b)


    @flow
    def record(seconds: float = 0.0) -> None:
        start = time.time()
        time.sleep(seconds)
        with open(os.path.join(OUT, "runs.txt"), "a") as f:
            f.write(f"{flow_run.id} {start} {time.time()}\\n")


    @flow(on_cancellation=[_note], on_crashed=[_note])
    def sleeper(seconds: float = 60, ignore_sigterm: bool = False) -> str:
        if ignore_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(os.path.join(OUT, f"pid-{flow_run.id}"), "w") as f:
            f.write(str(os.getpid()))
        time.sleep(seconds)
        return "slept"


    @flow
    def environ(out: str) -> None:
        with open(out, "w") as f:
            f.write(f"{os.environ.get('GREETING')} {os.getcwd()}")


    @task(tags=["db"])
    def hold_db(seconds: float) -> None:
        with open(os.path.join(OUT, f"task-started-{flow_run.id}"), "w") as f:
            f.write("1")
        time.sleep(seconds)


    @flow(on_crashed=[_note])
    def db_holder(seconds: float = 120) -> None:
        with open(os.path.join(OUT, f"pid-{flow_run.id}"), "w") as f:
            f.write(str(os.getpid()))
        hold_db(seconds)
    """
)


def write_project(root: Path) -> Path:
    """A project directory with `flows.py` and an `out/` directory its flows write to."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flows.py").write_text(FLOWS)
    (root / "out").mkdir(exist_ok=True)
    return root


def pool_name() -> str:
    """A fresh work pool name, so tests sharing a module's server never share a pool."""
    return f"pool-{uuid.uuid4().hex[:8]}"


@contextmanager
def running_server(tmp: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = new_server(tmp)
    server.start(env)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def deploy(
    client: SyncVibePiperClient,
    project: Path,
    function: str,
    *,
    pool: str | None = "pool",
    name: str | None = None,
    **fields: Any,
) -> DeploymentRead:
    if pool is not None:
        ensure_pool(client, pool)
    body = DeploymentCreate(
        name=name or f"{function}-{uuid.uuid4().hex[:6]}",
        flow_name=function,
        entrypoint=f"flows.py:{function}",
        work_pool_name=pool,
        **({"path": str(project)} | fields),
    )
    return client.create_deployment(body)


def ensure_pool(client: SyncVibePiperClient, pool: str) -> None:
    try:
        client.read_work_pool(pool)
    except ObjectNotFound:
        client.create_work_pool(WorkPoolCreate(name=pool))


def run_deployment(
    client: SyncVibePiperClient, deployment: DeploymentRead, **parameters: Any
) -> FlowRunRead:
    return client.create_flow_run_from_deployment(
        deployment.id, DeploymentFlowRunCreate(parameters=parameters)
    )


class Worker:
    """A real `vibepiper worker start` process; its output goes to a file."""

    def __init__(self, server: Server, pool: str, log: Path, *args: str, env: dict[str, str]):
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", pool, *args],
            env={**os.environ, **env, "VIBEPIPER_API_URL": server.url},
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self._file.flush()
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._file.close()
        return code


@contextmanager
def workers(
    server: Server, pool: str, tmp: Path, count: int = 1, *args: str, env: dict[str, str]
) -> Iterator[list[Worker]]:
    started = [
        Worker(server, pool, tmp / f"worker-{uuid.uuid4().hex[:6]}.log", *args, env=env)
        for _ in range(count)
    ]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """`probe()`'s first truthy answer within `timeout` seconds (fails naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


def wait_final(client: SyncVibePiperClient, run_id: uuid.UUID, timeout: float = 60) -> FlowRunRead:
    def probe() -> FlowRunRead | None:
        run = client.read_flow_run(run_id)
        return run if run.state_type is not None and run.state_type.value in FINAL else None

    return wait_for(probe, timeout, f"flow run {run_id} to end")


def wait_state(
    client: SyncVibePiperClient, run_id: uuid.UUID, state_type: str, timeout: float = 30
) -> FlowRunRead:
    def probe() -> FlowRunRead | None:
        run = client.read_flow_run(run_id)
        return run if run.state_type is not None and run.state_type.value == state_type else None

    return wait_for(probe, timeout, f"flow run {run_id} to be {state_type}")

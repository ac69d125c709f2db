"""A `serve()` process and its run process whose server went away still stop on SIGTERM
or SIGINT within 2 s (they used to retry the gone server for 30 s+ until SIGKILL)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.client.conftest import new_server
from tests.e2e.signals_support import Process, process_env
from tests.e2e.workers_support import wait_for, write_project
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.schemas.deployments import DeploymentFlowRunCreate

pytestmark = pytest.mark.slow

BOUND_SECONDS = 2.0

SERVE_SCRIPT = textwrap.dedent(
    """
    from flows import sleeper

    sleeper.serve(name="{name}")
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_and_its_run_stop_promptly_after_the_server_went_away(
    sig: signal.Signals, tmp_path: Path
) -> None:
    server = new_server(tmp_path)
    server.start()
    try:
        server.wait_healthy()
        project = write_project(tmp_path / "project")
        name = f"gone-{uuid.uuid4().hex[:6]}"
        (project / "serve_it.py").write_text(SERVE_SCRIPT.format(name=name))
        env = {**process_env(server, tmp_path / "home"), "WORKER_TEST_OUT": str(project / "out")}
        serving = Process([sys.executable, "serve_it.py"], env, tmp_path / "serve.log", project)
        serving.wait_for_output("Stop with Ctrl-C.")
        with SyncVibePiperClient(server.url) as client:
            deployment = client.read_deployment_by_name(f"sleeper/{name}")
            run = client.create_flow_run_from_deployment(
                deployment.id, DeploymentFlowRunCreate(parameters={"seconds": 120})
            )
        pid_file = project / "out" / f"pid-{run.id}"
        text = wait_for(lambda: pid_file.exists() and pid_file.read_text(), 30, "the run")
        run_pid = int(text)
    finally:
        server.stop()  # the server goes away while the run is running
    time.sleep(1.0)  # both processes now retry the gone server

    sent = time.monotonic()
    code, serve_took = serving.interrupt(sig)
    wait_for(lambda: not _alive(run_pid), 30, "the run process to end")
    run_took = time.monotonic() - sent

    output = serving.output()
    assert serve_took < BOUND_SECONDS, f"serve took {serve_took:.1f} s:\n{output[-3000:]}"
    assert run_took < BOUND_SECONDS, f"its run took {run_took:.1f} s:\n{output[-3000:]}"
    assert code in (0, 1, 130, -signal.SIGINT), output[-2000:]

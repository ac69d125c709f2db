"""Cancelling worker-run flow runs through the API: real server, worker and signals."""

from __future__ import annotations

import datetime as dt
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import (
    deploy,
    pool_name,
    run_deployment,
    wait_final,
    wait_for,
    wait_state,
    workers,
)
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.schemas.deployments import DeploymentFlowRunCreate

pytestmark = pytest.mark.slow

CANCEL_BOUND_SECONDS = 5.0


def started(project: Path, run_id: uuid.UUID) -> bool:
    return (project / "out" / f"pid-{run_id}").exists()


@pytest.mark.parametrize("ignore_sigterm", [False, True], ids=["stops", "ignores-sigterm"])
def test_cancelling_a_running_run_ends_it_cancelled_within_5_s_and_runs_its_hook(
    server: Server,
    client: SyncVibePiperClient,
    project: Path,
    tmp_path: Path,
    ignore_sigterm: bool,
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "sleeper", pool=pool)
    with workers(server, pool, tmp_path, env={}) as (worker,):
        run = run_deployment(client, deployment, seconds=60, ignore_sigterm=ignore_sigterm)
        wait_state(client, run.id, "RUNNING")
        wait_for(lambda: started(project, run.id), 10, "the flow body to start")
        asked = time.monotonic()
        result = client.cancel_flow_run(run.id)
        assert result.status == "CANCELLING"
        final = wait_final(client, run.id, timeout=30)
        took = time.monotonic() - asked
        hook = wait_for(
            lambda: (
                (project / "out" / f"hook-{run.id}").exists()
                and (project / "out" / f"hook-{run.id}").read_text()
            ),
            15,
            "the on_cancellation hook",
        )
        assert worker.process.poll() is None  # the worker itself goes on
        output = worker.output()
    assert final.state_name == "Cancelled"
    assert took <= CANCEL_BOUND_SECONDS, f"cancelled after {took:.1f} s"
    assert hook == "CANCELLED"
    assert "Cancelling flow run" in output
    history = [state.type.value for state in client.read_flow_run_states(run.id)]
    assert history[-2:] == ["CANCELLING", "CANCELLED"]


def test_cancelling_a_run_that_has_not_started_cancels_it_at_once(
    server: Server, client: SyncVibePiperClient, project: Path
) -> None:
    deployment = deploy(client, project, "sleeper", pool=pool_name())
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    run = client.create_flow_run_from_deployment(
        deployment.id, DeploymentFlowRunCreate(scheduled_time=later)
    )
    result = client.cancel_flow_run(run.id)
    assert result.status == "CANCELLED"
    assert client.read_flow_run(run.id).state_name == "Cancelled"


def test_stopping_a_worker_cancels_the_runs_it_holds(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "sleeper", pool=pool)
    with workers(server, pool, tmp_path, env={}) as (worker,):
        run = run_deployment(client, deployment, seconds=60)
        wait_for(lambda: started(project, run.id), 20, "the flow body to start")
        assert worker.stop(signal.SIGINT) == 0
    final = wait_final(client, run.id, timeout=10)
    assert final.state_name == "Cancelled"
    assert (project / "out" / f"hook-{run.id}").read_text() == "CANCELLED"
    assert "Traceback" not in worker.log.read_text()

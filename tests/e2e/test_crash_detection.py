"""A run whose process, or whose worker, is SIGKILLed ends Crashed (real processes)."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
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

pytestmark = pytest.mark.slow

CRASH_BOUND_SECONDS = 30.0


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """A short heartbeat timeout, so the server notices a dead worker within the bound."""
    return {"VIBEPIPER_SERVER_RUN_HEARTBEAT_TIMEOUT": "5"}


def pid_of(project: Path, run_id: uuid.UUID) -> int:
    path = project / "out" / f"pid-{run_id}"
    text = wait_for(lambda: path.exists() and path.read_text(), 20, "the run process's pid")
    return int(text)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers; it is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_killed_run_process_is_marked_crashed_by_its_worker_and_runs_on_crashed(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "sleeper", pool=pool)
    with workers(server, pool, tmp_path, env={}) as (worker,):
        run = run_deployment(client, deployment, seconds=60)
        wait_state(client, run.id, "RUNNING")
        os.kill(pid_of(project, run.id), signal.SIGKILL)
        killed = time.monotonic()
        final = wait_final(client, run.id, timeout=CRASH_BOUND_SECONDS)
        took = time.monotonic() - killed
        hook = project / "out" / f"hook-{run.id}"
        wait_for(lambda: hook.exists(), 20, "the on_crashed hook")
        assert worker.process.poll() is None
        output = worker.output()
    assert final.state_name == "Crashed"
    assert final.state is not None
    assert "exited with signal 9 (SIGKILL)" in (final.state.message or "")
    assert took < 5, f"the worker took {took:.1f} s to notice"
    assert hook.read_text() == "CRASHED"
    assert "Crashed (exited with signal 9 (SIGKILL))" in output
    assert "Traceback" not in output


def _api(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{server.url}/{path}", timeout=10, **kwargs)
    response.raise_for_status()
    return response.json() if response.content else None


def test_a_killed_worker_leaves_no_orphan_and_its_run_crashes_releasing_its_slots(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "db_holder", pool=pool)
    _ensure_tag_limit(server)
    # leases far outlive the test: only the crash detector can free the slot in time
    slow_expiry = {"VIBEPIPER_CONCURRENCY_LEASE_SECONDS": "300"}
    with workers(server, pool, tmp_path, env=slow_expiry) as (worker,):
        run = run_deployment(client, deployment, seconds=120)
        wait_state(client, run.id, "RUNNING")
        run_pid = pid_of(project, run.id)
        wait_for(lambda: (project / "out" / f"task-started-{run.id}").exists(), 20, "the task")
        leases = _api(server, "GET", "concurrency_limits/tag:db/leases")
        assert len(leases) == 1 and leases[0]["holder"].endswith(f":{run_pid})")
        worker.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        worker.process.wait()
        # the run process died with its worker (PR_SET_PDEATHSIG)
        wait_for(lambda: not alive(run_pid), 5, "the run process to die with the worker")
        final = wait_final(client, run.id, timeout=CRASH_BOUND_SECONDS)
        took = time.monotonic() - killed
        assert final.state_name == "Crashed"
        assert final.state is not None and final.worker_name in (final.state.message or "")
        assert final.infrastructure_pid == f"{socket.gethostname()}:{run_pid}"
        wait_for(
            lambda: _api(server, "GET", "concurrency_limits/tag:db/leases") == [],
            CRASH_BOUND_SECONDS - took,
            "the task's concurrency slot to be released",
        )


def _ensure_tag_limit(server: Server) -> None:
    response = httpx.post(
        f"{server.url}/concurrency_limits/",
        json={"name": "tag:db", "limit": 1, "kind": "tag"},
        timeout=10,
    )
    assert response.status_code in (201, 409), response.text

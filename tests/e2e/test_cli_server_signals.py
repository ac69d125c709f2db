"""Ctrl-C (SIGINT) on `vibepiper server start` says "stopping..." once and stops within
about a second, even while a client's long poll (a worker's claim) is open."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from tests.client.conftest import Server, new_server
from tests.e2e.signals_support import Process, assert_stopped_promptly, process_env
from tests.e2e.workers_support import pool_name
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.client._layer import RetryPolicy
from vibepiper.schemas.deployments import ClaimRequest

pytestmark = pytest.mark.slow


# --- the server --------------------------------------------------------------------------


def test_the_server_stops_within_a_second_on_ctrl_c_despite_a_long_poll(
    tmp_path: Path,
) -> None:
    running = new_server(tmp_path)
    server = Process(
        [sys.executable, "-m", "vibepiper.cli", "server", "start", "--port", str(running.port)],
        process_env(None, running.home),
        tmp_path / "server.log",
    )
    try:
        running.process = server.popen  # for wait_healthy
        running.wait_healthy()
        answers: list[object] = []
        poll = _long_poll_in_background(running, answers)
        time.sleep(0.5)  # the claim is waiting on the server
    except BaseException:
        server.popen.kill()
        raise

    code, seconds = server.interrupt()

    assert_stopped_promptly(server, code, seconds)
    poll.join(timeout=30)
    # the waiting claim was answered (nothing to claim), not cut off with a 500
    assert answers == [[]], server.output()
    assert " 500 " not in server.output(), server.output()


def _long_poll_in_background(server: Server, answers: list[object]) -> threading.Thread:
    """A claim that waits up to 30 s for work, as an idle worker's does."""
    with SyncVibePiperClient(server.url) as client:
        from vibepiper.schemas.deployments import WorkPoolCreate

        pool = pool_name()
        client.create_work_pool(WorkPoolCreate(name=pool))

    def claim() -> None:
        with SyncVibePiperClient(
            server.url, timeout=60, retry=RetryPolicy(max_attempts=1)
        ) as poller:
            try:
                answers.append(
                    poller.claim_runs(
                        ClaimRequest(worker_name="poller", work_pool_name=pool, wait_seconds=30)
                    )
                )
            except Exception as exc:
                answers.append(exc)

    thread = threading.Thread(target=claim, daemon=True)
    thread.start()
    return thread

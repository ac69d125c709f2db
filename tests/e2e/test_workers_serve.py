"""`serve_deployments`: the serve-mode loop (no pool), stopped by an event or a signal."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import (
    deploy,
    run_deployment,
    wait_final,
    wait_for,
    write_project,
)
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.workers.serve import serve_deployments

pytestmark = pytest.mark.slow


def test_serve_runs_its_deployments_and_a_stop_event_cancels_what_runs(
    server: Server, client: SyncVibePiperClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIBEPIPER_API_KEY", raising=False)
    project = write_project(tmp_path / "project")
    adder = deploy(client, project, "adder", pool=None, parameters={"a": 1})
    sleeper = deploy(client, project, "sleeper", pool=None)
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_deployments, args=(client, [adder.id, sleeper.id]), kwargs={"stop": stop}
    )
    thread.start()
    try:
        done = run_deployment(client, adder, a=4)
        assert wait_final(client, done.id).state_name == "Completed"
        long = run_deployment(client, sleeper, seconds=60)
        wait_for(lambda: (project / "out" / f"pid-{long.id}").exists(), 20, "the sleeper")
    finally:
        stop.set()
        asked = time.monotonic()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 10
    final = client.read_flow_run(long.id)
    assert final.state_name == "Cancelled"
    assert (project / "out" / f"hook-{long.id}").read_text() == "CANCELLED"
    assert final.worker_name and final.worker_name.startswith("serve-")


SERVE_SCRIPT = textwrap.dedent(
    """
    import sys, uuid
    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.workers.serve import serve_deployments

    with SyncVibePiperClient(sys.argv[1]) as client:
        serve_deployments(client, [uuid.UUID(sys.argv[2])])
    print("serve returned")
    """
)


def test_serve_stops_cleanly_on_sigterm(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    sleeper = deploy(client, project, "sleeper", pool=None)
    script = tmp_path / "serve.py"
    script.write_text(SERVE_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), server.url, str(sleeper.id)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run = run_deployment(client, sleeper, seconds=60)
        wait_for(lambda: (project / "out" / f"pid-{run.id}").exists(), 20, "the sleeper")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "serve returned" in output
    assert "Traceback" not in output
    assert client.read_flow_run(run.id).state_name == "Cancelled"

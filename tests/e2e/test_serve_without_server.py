"""`flow.serve()` with no VIBEPIPER_API_URL, as in Prefect: the serve process starts the
server itself (API, dashboard, scheduler) over the embedded store's database, runs the
scheduled runs, and Ctrl-C stops both."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    from vibepiper import flow, get_run_logger

    @flow
    def etl(day: str = "today") -> str:
        get_run_logger().info("loading %s", day)
        return day

    if __name__ == "__main__":
        etl.serve(name="every-second", interval=1, parameters={"day": "monday"})
    """
)

URL_LINE = re.compile(r"dashboard (http://127\.0\.0\.1:(\d+)/) \(API (\S+)\)")


def _start(tmp_path: Path, home: Path) -> subprocess.Popen[str]:
    script = tmp_path / "etl.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env["VIBEPIPER_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C in a terminal reaches the whole group
    )


def _completed_runs(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT flow_run.state_name, flow_run.parameters FROM flow_run "
            "JOIN deployment ON flow_run.deployment_id = deployment.id "
            "WHERE deployment.name = 'every-second' AND flow_run.state_type = 'COMPLETED'"
        ).fetchall()
    return [(str(name), str(parameters)) for name, parameters in rows]


def _nothing_listens_on(port: int) -> bool:
    # a connection refused, not a bind: the server's closed connections may sit in
    # TIME_WAIT on the port for a minute, and a plain bind fails on those
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_serve_without_an_api_url_starts_a_server_and_runs_scheduled_runs(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    process = _start(tmp_path, home)
    stderr_lines: list[str] = []
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        stderr_lines.append(line)
        match = URL_LINE.search(line)
        assert match, line
        dashboard, port, api = match.group(1), int(match.group(2)), match.group(3)
        assert api == f"http://127.0.0.1:{port}/api"
        # the dashboard and the API answer while it serves
        assert httpx.get(dashboard, timeout=5).status_code == 200
        assert httpx.get(f"{api}/health", timeout=5).status_code == 200
        deadline = time.monotonic() + 40
        while not _completed_runs(home / "vibepiper.db"):
            assert process.poll() is None, "serve exited early"
            assert time.monotonic() < deadline, "no scheduled run completed"
            time.sleep(0.2)
        # a run triggered through the printed server is run too
        deployment = httpx.get(f"{api}/deployments/name/etl/every-second", timeout=5).json()
        created = httpx.post(
            f"{api}/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": {"day": "tuesday"}},
            timeout=5,
        )
        assert created.status_code in (200, 201), created.text
        run_id = created.json()["id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{api}/flow_runs/{run_id}", timeout=5).json()["state_type"] != (
            "COMPLETED"
        ):
            assert time.monotonic() < deadline, "the triggered run did not complete"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        asked = time.monotonic()
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - asked
    stderr = "".join(stderr_lines) + err
    assert process.returncode == 0, stderr
    # 1-2 s here: a run in progress is cancelled (SIGTERM) and awaited, the deployments
    # paused and the in-process server shut down gracefully; 6 s seen on a loaded CI
    # machine. An idle serve process's one-second stop is test_cli_signals' bound.
    assert took < 10.0, f"stopping took {took:.1f} s:\n{err[-2000:]}"
    assert "Traceback" not in stderr, stderr
    assert "Stopped serving." in stderr
    assert f"VIBEPIPER_API_URL={api} vibepiper deployment run 'etl/every-second'" in out
    # the runs are in the embedded store, and the server is gone with the process
    runs = _completed_runs(home / "vibepiper.db")
    assert any("monday" in parameters for _, parameters in runs)
    assert any("tuesday" in parameters for _, parameters in runs)
    assert _nothing_listens_on(port)

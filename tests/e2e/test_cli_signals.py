"""Ctrl-C (SIGINT) on an idle `vibepiper worker start` and an idle `flow.serve()`
process: each says "stopping..." once and is gone within about a second."""

from __future__ import annotations

import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.signals_support import Process, assert_stopped_promptly, process_env
from tests.e2e.workers_support import pool_name, write_project

pytestmark = pytest.mark.slow


# --- workers and serve processes -------------------------------------------------------


def test_an_idle_worker_stops_within_a_second_on_ctrl_c(server: Server, tmp_path: Path) -> None:
    worker = Process(
        [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", pool_name()],
        process_env(server, tmp_path / "home"),
        tmp_path / "worker.log",
    )
    worker.wait_for_output("started with work pool")
    time.sleep(1.0)  # idle: its claim is long-polling the server

    code, seconds = worker.interrupt()

    assert_stopped_promptly(worker, code, seconds)
    assert code == 0
    assert "stopped" in worker.output()


SERVE_SCRIPT = textwrap.dedent(
    """
    from flows import adder

    adder.serve(name="ctrl-c-{suffix}")
    """
)


def test_an_idle_serve_process_stops_within_a_second_on_ctrl_c(
    server: Server, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    (project / "serve_it.py").write_text(SERVE_SCRIPT.format(suffix=uuid.uuid4().hex[:6]))
    serving = Process(
        [sys.executable, "serve_it.py"],
        process_env(server, tmp_path / "home"),
        tmp_path / "serve.log",
        cwd=project,
    )
    serving.wait_for_output("Stop with Ctrl-C.")
    time.sleep(1.0)

    code, seconds = serving.interrupt()

    assert_stopped_promptly(serving, code, seconds)
    assert "Stopped serving." in serving.output()

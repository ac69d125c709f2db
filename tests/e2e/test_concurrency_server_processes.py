"""Concurrency limits across real processes recording on a real server (SQLite, PostgreSQL).

The embedded property of `test_concurrency_processes.py`, through the API: 8
processes x 200 tasks tagged with a limit of 3 (created on the server), each with
`VIBEPIPER_API_URL` set, never run more than 3 bodies at once (each records its
start and end; the overlap is computed after), and the whole takes well under the
serial time. The bodies are longer than on the embedded store (100 ms, not 5 ms):
handing a slot from one process to another costs two HTTP round trips and a
database write (some 30 ms on this machine), and the bound is about the limit, not
the wire: with 100 ms bodies the whole takes about 0.45 of the serial time, a third
plus the hand-over cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.client.conftest import Server, new_server
from tests.e2e.test_concurrency_processes import LIMIT, PROCESSES, TASKS, WORKER, max_overlap
from tests.fixtures.db import new_postgres_database
from vibepiper.store.api import ApiStore

TASK_SECONDS = 0.1


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with ExitStack() as stack:
        env_extra = {}
        if request.param == "postgres":
            env_extra["VIBEPIPER_DATABASE_URL"] = stack.enter_context(
                new_postgres_database("vp_slots", drivername="postgresql+asyncpg")
            )
        running = new_server(tmp_path)
        running.start(env_extra)
        stack.callback(running.stop)
        running.wait_healthy()
        yield running


@pytest.mark.slow
@pytest.mark.solo
def test_eight_processes_on_a_server_never_run_more_than_the_limit(
    server: Server, tmp_path: Path
) -> None:
    store = ApiStore(server.url)
    try:
        store.create_concurrency_limit("tag:shared-db", LIMIT, kind="tag")
    finally:
        store.close()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    outputs = [tmp_path / f"spans-{i}.json" for i in range(PROCESSES)]
    env = {
        **os.environ,
        "VIBEPIPER_HOME": str(tmp_path / "client-home"),
        "VIBEPIPER_API_URL": server.url,
        "VIBEPIPER_LOGGING_TO_CONSOLE": "false",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(out), str(TASKS), str(TASK_SECONDS)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outputs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err
    spans = [tuple(span) for out in outputs for span in json.loads(out.read_text())]
    assert len(spans) == PROCESSES * TASKS
    assert max_overlap(spans) <= LIMIT  # type: ignore[arg-type]
    busy = sum(end - start for start, end in spans)
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    # a correctness bound, not a benchmark: 3 at a time must beat one at a time clearly
    # (the measured ratio is about 0.45, 0.62 on a machine loaded by other processes;
    # benchmarks/ tracks the slot round trips)
    assert wall < 0.75 * busy, (wall, busy)
    store = ApiStore(server.url)
    try:
        assert store.read_slot_leases("tag:shared-db") == []
        runs = store.read_flow_runs(flow_name="hammer", limit=PROCESSES)
        assert [run.state_type for run in runs] == ["COMPLETED"] * PROCESSES
    finally:
        store.close()
    assert not (tmp_path / "client-home" / "vibepiper.db").exists()

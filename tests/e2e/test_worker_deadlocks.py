"""Eight real workers against a PostgreSQL-backed server for a minute: no deadlock, no 5xx.

Heartbeats and claims used to lock the work pool and the worker rows in opposite orders
(`UPDATE work_pool SET last_polled` vs `INSERT INTO worker ... ON CONFLICT`), and
PostgreSQL ended one of them with `deadlock detected`, a 500 for the worker: four in
90 s with eight idle workers. Every path now locks in one order, and a transaction that
still loses is retried by the server. PostgreSQL counts every deadlock it breaks in
`pg_stat_database.deadlocks`; the test reads that counter for the server's database.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.client.conftest import Server, new_server
from tests.e2e.workers_support import (
    deploy,
    pool_name,
    run_deployment,
    wait_final,
    workers,
    write_project,
)
from tests.fixtures.db import new_postgres_database
from vibepiper.client._client import SyncVibePiperClient

pytestmark = [pytest.mark.slow, pytest.mark.solo]

RUNS = 120  # one every half second: about a minute of mixed traffic


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with new_postgres_database("vp_locks", drivername="postgresql+asyncpg") as url:
        yield url


@pytest.fixture(scope="module")
def server(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with ExitStack() as stack:
        running = new_server(tmp_path_factory.mktemp("server"))
        running.start({"VIBEPIPER_DATABASE_URL": postgres})
        stack.callback(running.stop)
        running.wait_healthy()
        yield running


def _deadlocks(url: str) -> int:
    engine = sa.create_engine(sa.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.connect() as connection:
            query = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_eight_workers_for_a_minute_see_no_deadlock_and_no_5xx(
    server: Server, postgres: str, tmp_path: Path
) -> None:
    project = write_project(tmp_path / "project")
    pool = pool_name()
    env = {"WORKER_TEST_OUT": str(project / "out")}
    with SyncVibePiperClient(server.url) as client:
        deployments = [
            deploy(client, project, "adder", pool=pool, name=f"adder-{uuid.uuid4().hex[:6]}")
            for _ in range(3)
        ]
        before = _deadlocks(postgres)
        with workers(server, pool, tmp_path, 8, "--limit", "2", env=env) as started:
            runs = []
            for i in range(RUNS):
                # a run every half second keeps claims, heartbeats and state changes mixed
                runs.append(run_deployment(client, deployments[i % len(deployments)], a=i))
                time.sleep(0.5)
            finals = [wait_final(client, run.id, timeout=60) for run in runs]
            outputs = [worker.output() for worker in started]
        after = _deadlocks(postgres)

    assert after == before, f"PostgreSQL broke {after - before} deadlock(s)"
    log = server.output()
    server_errors = re.findall(r'"[A-Z]+ [^"]+" 5\d\d', log)
    assert not server_errors, server_errors[:5]
    assert "deadlock detected" not in log
    at = log.find("Traceback")
    assert at < 0, log[max(0, at - 1500) : at + 3500]
    for output in outputs:
        assert "deadlock detected" not in output and " 500" not in output, output[-2000:]
    assert [run.state_type.value if run.state_type else None for run in finals] == [
        "COMPLETED"
    ] * RUNS

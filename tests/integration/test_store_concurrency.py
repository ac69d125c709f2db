"""The embedded store under real processes: concurrent writers on one file, and kill -9.

These drive the store API directly (the e2e suite does the same through flows).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from vibepiper.database import HEAD_REVISION
from vibepiper.schemas.runs import FlowRun, flow_id_for
from vibepiper.states import Completed
from vibepiper.store.embedded import EmbeddedStore

WRITER = textwrap.dedent(
    """
    import sys, uuid
    from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, TaskRunInput, flow_id_for
    from vibepiper.states import Completed, Pending, Running, now
    from vibepiper.store.embedded import EmbeddedStore

    path, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = EmbeddedStore(path, flush_interval=0.01)
    run = FlowRun(id=uuid.uuid4(), name=worker, flow_id=flow_id_for("many"), flow_name="many")
    store.create_flow_run(run)
    store.propose_flow_run_state(run, Running())
    previous = None
    for i in range(count):
        inputs = {"x": [TaskRunInput("task_run", previous.id)] if previous else []}
        task = TaskRun(id=uuid.uuid4(), name=f"t-{i}", task_key="t", task_name="t",
                       flow_run_id=run.id, dynamic_key=str(i), task_inputs=inputs)
        store.create_task_run(task)
        store.propose_task_run_state(task, Pending())
        store.propose_task_run_state(task, Running())
        store.write_log(LogRecordRow(run.id, task.id, "w", 20, f"{worker} {i}", now()))
        store.propose_task_run_state(task, Completed())
        previous = task
    store.propose_flow_run_state(run, Completed())
    store.close()
    """
)

ENDLESS = textwrap.dedent(
    """
    import sys, time, uuid
    from vibepiper.schemas.runs import FlowRun, flow_id_for
    from vibepiper.states import Completed, Running
    from vibepiper.store.embedded import EmbeddedStore

    store = EmbeddedStore(sys.argv[1], flush_interval=0.05)
    i = 0
    while True:
        run = FlowRun(id=uuid.uuid4(), name=f"{i:07d}", flow_id=flow_id_for("loop"),
                      flow_name="loop")
        store.create_flow_run(run)
        store.propose_flow_run_state(run, Running())
        store.propose_flow_run_state(run, Completed())
        if i % 200 == 199:
            store.flush()
            print(i, flush=True)
        i += 1
        time.sleep(0.0002)
    """
)


def _query(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_four_processes_write_one_fresh_store_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared" / "vibepiper.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), f"w{n}", "500"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err

    assert _query(path, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    counts = {
        table: _query(path, f"SELECT count(*) FROM {table}")[0][0]
        for table in ("flow", "flow_run", "task_run", "task_run_state", "task_run_input", "log")
    }
    assert counts == {
        "flow": 1,
        "flow_run": 4,
        "task_run": 2000,
        "task_run_state": 6000,
        "task_run_input": 2000,
        "log": 2000,
    }
    store = EmbeddedStore(path)
    try:
        runs = store.read_flow_runs()
        assert sorted(r.name for r in runs) == ["w0", "w1", "w2", "w3"]
        for run in runs:
            assert run.state_name == "Completed"
            tasks = store.read_task_runs(run.id)
            assert [t.name for t in tasks] == [f"t-{i}" for i in range(500)]
            assert tasks[1].task_inputs == {
                "x": [{"input_type": "task_run", "id": str(tasks[0].id)}]
            }
            assert len(store.read_logs(run.id)) == 500
    finally:
        store.close()


@pytest.mark.slow
def test_kill_9_loses_at_most_the_last_interval_and_the_store_reopens(tmp_path: Path) -> None:
    path = tmp_path / "killed" / "vibepiper.db"
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acknowledged = [int(proc.stdout.readline()) for _ in range(3)]
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.wait(timeout=10)
    proc.stdout.close()

    assert _query(path, "PRAGMA integrity_check") == [("ok",)]
    store = EmbeddedStore(path)
    try:
        runs = store.read_flow_runs(limit=1_000_000)
        names = sorted(int(r.name) for r in runs)
        # batches commit whole and in order: the runs present are a prefix, with no holes
        assert names == list(range(len(names)))
        assert len(names) > acknowledged[-1]
        newest = max(r.created for r in runs if r.created is not None)
        assert killed_at - newest.timestamp() < 1.0
        # what survived is a prefix of what was written: only the newest run may lack states
        states = int(str(_query(path, "SELECT count(*) FROM flow_run_state")[0][0]))
        assert 2 * (len(names) - 1) <= states <= 2 * len(names)
        # and the reopened store records new runs
        run = FlowRun(id=uuid.uuid4(), name="after", flow_id=flow_id_for("loop"), flow_name="loop")
        store.create_flow_run(run)
        store.propose_flow_run_state(run, Completed())
        assert store.read_flow_runs(limit=1)[0].name == "after"
    finally:
        store.close()

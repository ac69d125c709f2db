"""The embedded store under real processes: several flows at once, and kill -9 mid-flow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from vibepiper.store.embedded import EmbeddedStore

FLOW_SCRIPT = textwrap.dedent(
    """
    import sys
    from vibepiper import flow, get_run_logger, task

    @task
    def step(i: int) -> int:
        if i % 50 == 0:
            get_run_logger().info("step %d", i)
        return i

    @flow
    def busy(n: int) -> int:
        return sum(step(i) for i in range(n))

    busy(int(sys.argv[1]))
    """
)

ENDLESS_SCRIPT = textwrap.dedent(
    """
    import time
    from vibepiper import flow, get_run_logger, task

    @task
    def tick(i: int) -> int:
        get_run_logger().info("tick %d", i)
        return i

    @flow
    def endless() -> None:
        i = 0
        while True:
            tick(i)
            i += 1
            if i == 20:
                print("started", flush=True)
            time.sleep(0.002)

    endless()
    """
)


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "VIBEPIPER_HOME": str(home), "VIBEPIPER_LOGGING_TO_CONSOLE": "false"}


@pytest.mark.slow
def test_four_processes_run_flows_on_one_store_at_once(tmp_path: Path) -> None:
    script = tmp_path / "busy.py"
    script.write_text(FLOW_SCRIPT)
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), "300"],
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err

    store = EmbeddedStore(home / "vibepiper.db")
    try:
        runs = store.read_flow_runs(limit=10)
        assert sorted(r.state_name for r in runs) == ["Completed"] * 4
        for run in runs:
            task_runs = store.read_task_runs(run.id)
            assert len(task_runs) == 300
            assert {t.state_name for t in task_runs} == {"Completed"}
            assert [s.name for s in store.read_flow_run_states(run.id)] == [
                "Pending",
                "Running",
                "Completed",
            ]
            step_logs = [log for log in store.read_logs(run.id) if log.message.startswith("step")]
            assert len(step_logs) == 6
    finally:
        store.close()


@pytest.mark.slow
def test_kill_9_mid_flow_loses_at_most_the_last_moment_and_the_store_reopens(
    tmp_path: Path,
) -> None:
    script = tmp_path / "endless.py"
    script.write_text(ENDLESS_SCRIPT)
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=_env(home), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()
    killed_at = time.time()

    store = EmbeddedStore(home / "vibepiper.db")
    try:
        (run,) = store.read_flow_runs()
        assert run.state_name == "Running"  # nobody was left to finish it
        task_runs = store.read_task_runs(run.id)
        assert len(task_runs) >= 20
        completed = [t for t in task_runs if t.state_name == "Completed"]
        newest = max(t.end_time for t in completed if t.end_time is not None)
        # the writer flushes every 0.1 s: what is missing is well under a second
        assert killed_at - newest.timestamp() < 1.0
        logs = store.read_logs(run.id)
        assert len(logs) >= len(completed) - 60
    finally:
        store.close()

    # the next process opens the same store cleanly and records its own run
    other = tmp_path / "busy.py"
    other.write_text(FLOW_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(other), "10"], env=_env(home), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    store = EmbeddedStore(home / "vibepiper.db")
    try:
        assert sorted(r.state_name for r in store.read_flow_runs()) == ["Completed", "Running"]
        assert isinstance(store.read_flow_runs()[0].id, uuid.UUID)
    finally:
        store.close()

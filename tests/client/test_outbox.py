"""A server that is down loses nothing and does not hang (real processes).

A script whose `VIBEPIPER_API_URL` server is not up ends on time with its value: after
`VIBEPIPER_API_OUTBOX_AFTER` seconds the records go to the outbox under
`$VIBEPIPER_HOME/outbox/` and one line says how many, where, and how to send them. Once
the server is up they arrive exactly once: sent by the next VibePiper process that
reaches it, or by `vibepiper outbox push`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import Server, free_port, new_server

pytestmark = pytest.mark.slow

FLOW = textwrap.dedent(
    """
    import sys

    from vibepiper import flow, get_run_logger, task


    @task
    def square(x: int) -> int:
        return x * x


    @flow
    def squares(n: int = 30) -> int:
        get_run_logger().info("adding %d squares", n)
        return sum(square(i) for i in range(n))


    if __name__ == "__main__":
        print(squares(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
    """
)

TAGGED = textwrap.dedent(
    """
    from vibepiper import flow, task


    @task(tags=["db"])
    def query() -> int:
        return 1


    @flow
    def tagged() -> int:
        return query()


    if __name__ == "__main__":
        tagged()
    """
)


def _env(home: Path, api_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "VIBEPIPER_API_URL": api_url}
    env.pop("VIBEPIPER_API_KEY", None)
    env.update(extra)
    return env


def _run(
    script: Path, home: Path, api_url: str, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        env=_env(home, api_url, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cli(home: Path, api_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        env=_env(home, api_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _recorded(server: Server, flow_name: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        runs = http.post("/flow_runs/filter", json={"flow_name": [flow_name]}).json()
        [run] = runs
        task_runs = http.post("/task_runs/filter", json={"flow_run_id": [run["id"]], "limit": 200})
        states = http.get(f"/flow_runs/{run['id']}/states").json()
        logs = http.post("/logs/filter", json={"flow_run_id": [run["id"]], "limit": 500}).json()
    return {"run": run, "task_runs": task_runs.json(), "states": states, "logs": logs}


def test_a_flow_against_a_dead_server_ends_on_time_and_arrives_later_via_push(
    tmp_path: Path,
) -> None:
    script = tmp_path / "squares.py"
    script.write_text(FLOW)
    home = tmp_path / "home"
    server = new_server(tmp_path)  # its port has nothing listening yet
    began = time.monotonic()
    done = _run(script, home, server.url)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sum(i * i for i in range(30)))
    assert took < 15, f"took {took:.1f} s against a dead server"
    kept = [line for line in done.stderr.splitlines() if "are kept in" in line]
    assert len(kept) == 1, done.stderr
    assert str(home / "outbox") in kept[0] and "vibepiper outbox push" in kept[0]
    assert "lost" not in done.stderr and "Traceback" not in done.stderr

    listed = json.loads(_cli(home, server.url, "outbox", "ls", "--json").stdout)
    assert [entry["api_url"] for entry in listed] == [server.url]
    assert listed[0]["records"] > 30

    server.start()
    try:
        server.wait_healthy()
        pushed = _cli(home, server.url, "outbox", "push")
        assert pushed.returncode == 0, pushed.stderr
        assert f"to {server.url}" in pushed.stdout
        again = _cli(home, server.url, "outbox", "push")  # nothing left: sent once
        assert again.stdout.strip() == "No run records wait."
        found = _recorded(server, "squares")
    finally:
        server.stop()
    assert found["run"]["state_type"] == "COMPLETED"
    assert len(found["task_runs"]) == 30
    assert {task["state_type"] for task in found["task_runs"]} == {"COMPLETED"}
    assert [state["name"] for state in found["states"]] == ["Pending", "Running", "Completed"]
    assert sum("adding 30 squares" in log["message"] for log in found["logs"]) == 1
    assert json.loads(_cli(home, server.url, "outbox", "ls", "--json").stdout) == []


def test_the_next_process_that_reaches_the_server_sends_what_was_kept(tmp_path: Path) -> None:
    script = tmp_path / "squares.py"
    script.write_text(FLOW)
    home = tmp_path / "home"
    server = new_server(tmp_path)
    first = _run(script, home, server.url, "5", VIBEPIPER_API_OUTBOX_AFTER="1")
    assert first.returncode == 0 and "are kept in" in first.stderr, first.stderr
    server.start()
    try:
        server.wait_healthy()
        second = _run(script, home, server.url, "3")
        assert second.returncode == 0, second.stderr
        assert "are kept in" not in second.stderr
        with httpx.Client(base_url=server.url, timeout=10) as http:
            runs = http.post("/flow_runs/filter", json={"flow_name": ["squares"]}).json()
            counts = sorted(
                len(http.post("/task_runs/filter", json={"flow_run_id": [r["id"]]}).json())
                for r in runs
            )
    finally:
        server.stop()
    assert counts == [3, 5]  # both runs, each task run once
    assert not list((home / "outbox").glob("*.jsonl"))


def test_a_task_that_needs_the_server_to_decide_fails_with_one_clear_line(
    tmp_path: Path,
) -> None:
    script = tmp_path / "tagged.py"
    script.write_text(TAGGED)
    dead = f"http://127.0.0.1:{free_port()}/api"
    began = time.monotonic()
    done = _run(
        script,
        tmp_path / "home",
        dead,
        VIBEPIPER_API_DECISION_WAIT="2",
        VIBEPIPER_API_OUTBOX_AFTER="1",
    )
    took = time.monotonic() - began
    assert done.returncode == 1
    assert took < 15, f"took {took:.1f} s"
    waiting = [
        line for line in done.stderr.splitlines() if "does not answer; waiting up to" in line
    ]
    assert len(waiting) == 1, done.stderr
    failed = [line for line in done.stderr.splitlines() if "Task run failed: could not" in line]
    assert failed and dead in failed[0] and "did not answer for" in failed[0]
    # the task failed (it did not crash), and its error carries no frames of the store
    assert "Crashed" not in done.stderr and "store/api.py" not in done.stderr


def test_ctrl_c_while_waiting_for_a_dead_server_keeps_the_records_at_once(
    tmp_path: Path,
) -> None:
    script = tmp_path / "squares.py"
    script.write_text(FLOW)
    home = tmp_path / "home"
    dead = f"http://127.0.0.1:{free_port()}/api"
    process = subprocess.Popen(
        [sys.executable, str(script)],
        # the flow's end waits its 60 s for the server, then the exit waits for it (it
        # has not been away for OUTBOX_AFTER yet: 120 s leaves a minute for the Ctrl-C;
        # 60 s raced the exit's own give-up on a loaded machine)
        env=_env(home, dead, VIBEPIPER_API_OUTBOX_AFTER="120"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == str(sum(i * i for i in range(30)))
    time.sleep(0.5)  # the process now waits for the server at exit
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - interrupted < 2, "Ctrl-C did not stop the wait"
    assert "are kept in" in stderr, stderr
    assert (home / "outbox").is_dir() and list((home / "outbox").glob("*.jsonl"))


def test_an_explicit_flush_waits_for_records_already_kept_in_the_outbox(tmp_path: Path) -> None:
    import threading

    from vibepiper.schemas.runs import FlowRun, flow_id_for
    from vibepiper.states import Completed, Pending, Running
    from vibepiper.store.api import ApiStore
    from vibepiper.utilities.ids import new_id

    late = new_server(tmp_path)
    store = ApiStore(late.url, home=tmp_path / "home", outbox_after=0.3)
    starter = threading.Timer(1.5, late.start)  # up long after the records went to disk
    try:
        run = FlowRun(id=new_id(), name="late", flow_id=flow_id_for("late"), flow_name="late")
        store.create_flow_run(run)
        for state in (Pending(), Running(), Completed()):
            store.propose_flow_run_state(run, state)
        assert wait_until(lambda: store.outbox is not None and store.outbox.count() > 0, 10)
        starter.start()
        store.flush(60)  # asked to wait: it waits for the kept records too
        assert store.outbox is not None and store.outbox.count() == 0
        names = [state.name for state in store.read_flow_run_states(run.id)]
        assert names == ["Pending", "Running", "Completed"]
    finally:
        starter.cancel()
        store.close()
        late.stop()


def wait_until(probe: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True

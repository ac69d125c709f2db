"""A server killed mid-flow and restarted: the flow's records arrive, each exactly once.

A real `vibepiper server start` on SQLite; a 200-task flow in its own process sends
its writes in batches (`ApiStore`). The server is SIGKILLed while the flow runs and
started again about a second later on the same database: the sender keeps and
re-sends its batches (a batch may have been committed without its answer arriving),
and the server takes each run, state and log line once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import new_server

pytestmark = pytest.mark.slow

TASKS = 200
FLOW = textwrap.dedent(
    f"""
    import time

    from vibepiper import flow, get_run_logger, task

    @task
    def tick(i: int) -> int:
        time.sleep(0.01)
        get_run_logger().info("tick %d", i)
        return i

    @flow(name="restart-flow")
    def ticking() -> int:
        return sum(tick(i) for i in range({TASKS}))

    if __name__ == "__main__":
        print(ticking())
    """
)


def _all(http: httpx.Client, path: str, body: dict[str, object]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    while True:
        page = http.post(path, json={**body, "limit": 200, "offset": len(out)}).json()
        out.extend(page)
        if len(page) < 200:
            return out


def test_records_survive_a_server_killed_mid_flow(tmp_path: Path) -> None:
    server = new_server(tmp_path)
    server.start()
    try:
        server.wait_healthy()
        script = tmp_path / "ticking.py"
        script.write_text(FLOW)
        environ = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "client-home")}
        environ["VIBEPIPER_API_URL"] = server.url
        # the flow keeps retrying the restarting server: on a loaded machine its restart
        # took over the 5 s after which records go to the outbox (tested in test_outbox.py)
        environ["VIBEPIPER_API_OUTBOX_AFTER"] = "120"
        environ.pop("VIBEPIPER_API_KEY", None)
        flow_process = subprocess.Popen(
            [sys.executable, str(script)],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with httpx.Client(base_url=server.url + "/", timeout=10) as http:
            deadline = time.monotonic() + 30
            while http.post("task_runs/count", json={}).json() < 20:  # mid-flow
                assert time.monotonic() < deadline, "the flow's task runs never arrived"
                assert flow_process.poll() is None, flow_process.communicate()
                time.sleep(0.02)
            assert server.process is not None
            server.process.kill()
            server.process.communicate()
            assert flow_process.poll() is None, "the flow ended before the server was killed"
            time.sleep(1.0)
            server.start()
            server.wait_healthy()
            out, err = flow_process.communicate(timeout=120)
            assert flow_process.returncode == 0, out + err
            assert out.strip() == str(sum(range(TASKS)))

            (run,) = http.post("flow_runs/filter", json={"flow_name": ["restart-flow"]}).json()
            assert run["state_type"] == "COMPLETED"
            flow_states = http.get(f"flow_runs/{run['id']}/states").json()
            assert [s["type"] for s in flow_states] == ["PENDING", "RUNNING", "COMPLETED"]

            tasks = _all(http, "task_runs/filter", {"flow_run_id": [run["id"]]})
            assert len(tasks) == TASKS
            assert {task["state_type"] for task in tasks} == {"COMPLETED"}
            for task in tasks:
                states = http.get(f"task_runs/{task['id']}/states").json()
                assert [s["type"] for s in states] == ["PENDING", "RUNNING", "COMPLETED"], task
                assert task["run_count"] == 1

            logs = _all(http, "logs/filter", {"flow_run_id": [run["id"]]})
            ticks = Counter(str(log["message"]) for log in logs if "tick" in str(log["message"]))
            assert ticks == Counter(f"tick {i}" for i in range(TASKS))
            keys = Counter((log["task_run_id"], log["message"], log["timestamp"]) for log in logs)
            assert max(keys.values()) == 1
    finally:
        server.stop()

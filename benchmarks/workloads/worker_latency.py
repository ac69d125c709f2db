"""Workload `worker_latency`: from creating a due run to that run being Running.

Usage: python worker_latency.py [SAMPLES]

Starts a real server (SQLite, fresh home) and one real `vibepiper worker start`
process with the default settings, deploys a trivial flow to its pool, then, SAMPLES
times (default 40, after 3 warm-up runs): creates a run of the deployment due now
(`POST /api/deployments/{id}/create_flow_run`) and waits for it to complete. Measured
per sample: from just before the create request to the timestamp of the run's
Running state (taken by the run process as it starts the flow body), and, as a
second figure, to the moment a client polling every 10 ms sees Running on the server.
Runs are created one at a time on an idle worker (its spare process ready).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _server import percentile, running_server, running_worker

FLOW = """
from vibepiper import flow


@flow
def noop() -> int:
    return 1
"""


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory(prefix="worker-latency-") as tmp:
        root = Path(tmp)
        (root / "project").mkdir()
        (root / "project" / "flows.py").write_text(FLOW)
        (root / "server").mkdir()
        with running_server(root / "server") as url:
            recorded, observed = measure(url, root, samples)
    from _bench import emit

    emit(
        samples=len(recorded),
        median_ms=statistics.median(recorded) * 1000,
        p95_ms=percentile(recorded, 0.95) * 1000,
        observed_median_ms=statistics.median(observed) * 1000,
        observed_p95_ms=percentile(observed, 0.95) * 1000,
        recorded_s=recorded,
        observed_s=observed,
    )


def measure(url: str, root: Path, samples: int) -> tuple[list[float], list[float]]:
    http = httpx.Client(base_url=url + "/", timeout=30)
    http.post("work_pools/", json={"name": "bench"}).raise_for_status()
    deployment = http.post(
        "deployments/",
        json={
            "name": "latency",
            "flow_name": "noop",
            "entrypoint": "flows.py:noop",
            "path": str(root / "project"),
            "work_pool_name": "bench",
        },
    )
    deployment.raise_for_status()
    deployment_id = deployment.json()["id"]
    recorded: list[float] = []
    observed: list[float] = []
    try:
        with running_worker(url, "bench", root):
            for index in range(samples + 3):
                time.sleep(1.5)  # an idle worker: its long poll and its spare process ready
                start = time.time()
                created = http.post(f"deployments/{deployment_id}/create_flow_run", json={})
                created.raise_for_status()
                run_id = created.json()["id"]
                seen = _wait_running(http, run_id) - start
                running = _running_timestamp(http, run_id) - start
                _wait_final(http, run_id)
                if index >= 3:
                    recorded.append(running)
                    observed.append(seen)
    finally:
        http.close()
    return recorded, observed


def _state_types(http: httpx.Client, run_id: str) -> list[dict[str, object]]:
    response = http.get(f"flow_runs/{run_id}/states")
    response.raise_for_status()
    states: list[dict[str, object]] = response.json()
    return states


def _wait_running(http: httpx.Client, run_id: str) -> float:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = http.get(f"flow_runs/{run_id}").json()
        if run["state_type"] in ("RUNNING", "COMPLETED", "FAILED", "CRASHED"):
            return time.time()
        time.sleep(0.01)
    raise RuntimeError(f"run {run_id} never started")


def _running_timestamp(http: httpx.Client, run_id: str) -> float:
    from datetime import datetime

    for state in _state_types(http, run_id):
        if state["type"] == "RUNNING":
            return datetime.fromisoformat(str(state["timestamp"])).timestamp()
    raise RuntimeError(f"run {run_id} has no Running state")


def _wait_final(http: httpx.Client, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = http.get(f"flow_runs/{run_id}").json()
        if run["state_type"] == "COMPLETED":
            return
        if run["state_type"] in ("FAILED", "CRASHED", "CANCELLED"):
            raise RuntimeError(f"run {run_id} ended {run['state_type']}")
        time.sleep(0.02)
    raise RuntimeError(f"run {run_id} did not finish")


if __name__ == "__main__":
    main()

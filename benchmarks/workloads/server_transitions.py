"""Workload `server_transitions`: state transitions per second through `POST /api/batch`.

Usage: python server_transitions.py sqlite|postgres [CLIENTS] [TASKS_PER_CLIENT] [BATCH]

Starts a real server (SQLite on a fresh home, or a throwaway PostgreSQL database),
then CLIENTS processes (default 8) each create TASKS_PER_CLIENT task runs and drive
every one Pending -> Running -> Completed, BATCH operations per request (bodies are
encoded before the clock starts). Measured: accepted transitions (3 per task run) per
second of wall time, from the first request to the last answer of every client.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _server import postgres_database, running_server


def _bodies(flow_run_id: str, tasks: int, batch: int) -> list[bytes]:
    ids = [str(uuid.uuid4()) for _ in range(tasks)]
    ops: list[dict[str, Any]] = []
    for task_id in ids:
        task = {"id": task_id, "flow_run_id": flow_run_id, "name": "t", "task_key": "t"}
        ops.append({"op": "create_task_run", "task_run": task})
        ops.append(_state(task_id, "PENDING"))
    for kind in ("RUNNING", "COMPLETED"):
        ops.extend(_state(task_id, kind) for task_id in ids)
    chunks = [ops[i : i + batch] for i in range(0, len(ops), batch)]
    return [json.dumps({"operations": chunk}).encode() for chunk in chunks]


def _state(task_id: str, kind: str) -> dict[str, Any]:
    state = {"id": str(uuid.uuid4()), "type": kind}
    return {"op": "set_task_run_state", "task_run_id": task_id, "state": state}


def _client(url: str, bodies: list[bytes], start: Any, out: Any) -> None:
    accepted = 0
    with httpx.Client(base_url=url + "/", timeout=60) as http:
        start.wait()
        for body in bodies:
            response = http.post(
                "batch", content=body, headers={"Content-Type": "application/json"}
            )
            response.raise_for_status()
            outcomes = response.json()["outcomes"]
            accepted += sum(1 for o in outcomes if o["status"] == "ok")
    out.put((accepted, time.perf_counter()))


def measure(url: str, clients: int, tasks: int, batch: int) -> dict[str, Any]:
    flow_id = httpx.post(f"{url}/flows/", json={"name": "bench"}).json()["id"]
    run = httpx.post(f"{url}/flow_runs/", json={"flow_id": flow_id}).json()
    context = multiprocessing.get_context("fork")
    start, out = context.Event(), context.Queue()
    workers = [
        context.Process(target=_client, args=(url, _bodies(run["id"], tasks, batch), start, out))
        for _ in range(clients)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = max(end for _, end in results) - t0
    ops = sum(accepted for accepted, _ in results)
    transitions = clients * tasks * 3
    assert ops == clients * tasks * 4, (ops, clients * tasks * 4)  # creates + states all ok
    count = httpx.post(f"{url}/task_runs/count", json={"state_type": ["COMPLETED"]}).json()
    assert count == clients * tasks, count
    return {"transitions": transitions, "seconds": elapsed, "per_s": transitions / elapsed}


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    batch = int(sys.argv[4]) if len(sys.argv) > 4 else 500
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if backend == "postgres":
            with postgres_database() as database_url, running_server(home, database_url) as url:
                result = measure(url, clients, tasks, batch)
        else:
            with running_server(home) as url:
                result = measure(url, clients, tasks, batch)
    from _bench import emit

    emit(backend=backend, clients=clients, batch=batch, **result)


if __name__ == "__main__":
    main()

"""Workload `automations`: event -> action latency, and evaluation keeping up with many
automations and a steady stream of events.

Usage: python automations.py latency sqlite|postgres [N]
       python automations.py load sqlite|postgres [AUTOMATIONS] [EVENTS_PER_S] [SECONDS]

`latency`: a real server; one automation whose reactive trigger expects `bench.ping` and
runs a deployment. N times (default 40): post one event, then poll until the flow run it
caused exists (its idempotency key names the firing). Measured: from the event's POST
answer to the run being readable, p50 and p95 (the poll adds up to 5 ms).

`load`: a real server with AUTOMATIONS (default 1,000) enabled automations, each
counting its own event name (`bench.load.<i>`, for_each the resource, threshold 1,000,000
within an hour: they count, they do not fire); one client posts EVENTS_PER_S (default
1,000) a second for SECONDS (default 60), in 10 requests a second. Every second the
evaluator's backlog is read: events posted minus events it has taken
(`automation_event_seen`). Measured: the largest backlog, the backlog at the end of the
stream, and how long after the stream it took to reach zero.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _server import postgres_database, running_server


def _event(name: str, resource: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        "event": name,
        "resource": {"vibepiper.resource.id": resource},
    }


def latency(url: str, n: int) -> dict[str, Any]:
    with httpx.Client(base_url=url + "/", timeout=60) as http:
        deployment = http.post(
            "deployments/", json={"name": "bench-target", "flow_name": "bench-flow"}
        ).json()
        created = http.post(
            "automations/",
            json={
                "name": "bench-latency",
                "trigger": {"expect": ["bench.ping"]},
                "actions": [{"type": "run-deployment", "deployment_id": deployment["id"]}],
            },
        )
        created.raise_for_status()
        time.sleep(1.5)  # the evaluator reads its automations every second
        count = {"deployment_id": [deployment["id"]]}
        samples = []
        for i in range(n):
            before = http.post("flow_runs/count", json=count).json()
            http.post("events", json=[_event("bench.ping", f"bench.p{i}")]).raise_for_status()
            sent = time.perf_counter()
            deadline = sent + 30
            while http.post("flow_runs/count", json=count).json() <= before:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no flow run 30 s after event {i}")
                time.sleep(0.005)
            samples.append(time.perf_counter() - sent)
    return {
        "n": n,
        "p50_ms": statistics.median(samples) * 1000,
        "p95_ms": statistics.quantiles(samples, n=20)[18] * 1000,
    }


def _taken(database_url: str | None, home: Path) -> int:
    import sqlalchemy as sa

    if database_url:
        url = database_url.replace("+asyncpg", "+psycopg")
    else:
        url = f"sqlite:///{home / 'vibepiper.db'}"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM automation_event_seen"
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def load(
    url: str, database_url: str | None, home: Path, automations: int, rate: int, seconds: int
) -> dict[str, Any]:
    with httpx.Client(base_url=url + "/", timeout=120) as http:
        for i in range(automations):
            http.post(
                "automations/",
                json={
                    "name": f"bench-load-{i}",
                    "trigger": {
                        "expect": [f"bench.load.{i}"],
                        "for_each": ["vibepiper.resource.id"],
                        "threshold": 1_000_000,
                        "within": 3600,
                    },
                    "actions": [{"type": "do-nothing"}],
                },
            ).raise_for_status()
        time.sleep(1.5)
        per_request = max(1, rate // 10)
        sent = 0
        backlog: list[int] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(1.0):
                backlog.append(sent - _taken(database_url, home))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        began = time.perf_counter()
        for tick in range(seconds * 10):
            events = [
                _event(f"bench.load.{(sent + k) % automations}", f"bench.r{(sent + k) % 50}")
                for k in range(per_request)
            ]
            http.post("events", json=events).raise_for_status()
            sent += per_request
            pause = began + (tick + 1) / 10 - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        streamed = time.perf_counter() - began
        stop.set()
        watcher.join()
        at_end = sent - _taken(database_url, home)
        drained = time.perf_counter()
        while sent - _taken(database_url, home) > 0:
            if time.perf_counter() - drained > 300:
                break
            time.sleep(0.2)
        drain_s = time.perf_counter() - drained
    return {
        "automations": automations,
        "events": sent,
        "rate": sent / streamed,
        "max_backlog": max(backlog or [0]),
        "backlog_at_end": at_end,
        "drain_s": drain_s,
        "left": sent - _taken(database_url, home),
    }


def main() -> None:
    from _bench import emit

    mode = sys.argv[1] if len(sys.argv) > 1 else "latency"
    backend = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="automations-")))
        database = stack.enter_context(postgres_database()) if backend == "postgres" else None
        url = stack.enter_context(running_server(home, database))
        if mode == "latency":
            n = int(sys.argv[3]) if len(sys.argv) > 3 else 40
            emit(mode=mode, backend=backend, **latency(url, n))
        else:
            count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
            rate = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
            seconds = int(sys.argv[5]) if len(sys.argv) > 5 else 60
            found = load(url, database, home, count, rate, seconds)
            emit(mode=mode, backend=backend, **found)


if __name__ == "__main__":
    main()

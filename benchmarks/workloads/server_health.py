"""Workload `server_health`: /api/health latency while the heaviest requests run.

Usage: python server_health.py sqlite|postgres

Starts a real server (a fresh SQLite home, or a throwaway PostgreSQL database) with its
service loops on, and a probe process that times GET /api/health every 10 ms. Three
phases, each measured on its own: idle (2 s); a worst-case schedule request (creating a
deployment with an rrule that never matches, `FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30`,
which the server gives up on after its 2 s budget, and one with a per-second rrule);
and a backfill of 10,000 runs. Reports p50/p99/max of each phase and how long the
requests themselves took.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _server import postgres_database, running_server

PROBE = """
import json, sys, time
import httpx

url = sys.argv[1]
with httpx.Client(timeout=10) as http:
    http.get(url)
    print("ready", flush=True)
    for line in sys.stdin:  # one line per phase: "go" starts it, anything else ends it
        latencies = []
        while True:
            begun = time.perf_counter()
            http.get(url).raise_for_status()
            latencies.append(time.perf_counter() - begun)
            time.sleep(0.01)
            if latencies and sys.stdin in __import__("select").select([sys.stdin], [], [], 0)[0]:
                sys.stdin.readline()
                break
        print(json.dumps(latencies), flush=True)
"""


class Probe:
    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PROBE, f"{url}/health"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        assert self.process.stdout.readline().strip() == "ready"

    def phase(self, work: Callable[[], object]) -> tuple[list[float], float]:
        """Health latencies while `work()` runs, and how long it took."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        time.sleep(0.05)
        begun = time.perf_counter()
        work()
        took = time.perf_counter() - begun
        self.process.stdin.write("stop\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline()), took

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _deployment(name: str, schedule: dict[str, object]) -> dict[str, object]:
    return {"name": name, "flow_name": "bench", "entrypoint": "flows.py:bench",
            "schedules": [{"schedule": schedule}]}  # fmt: skip


def measure(url: str) -> dict[str, object]:
    http = httpx.Client(base_url=url + "/", timeout=120)
    probe = Probe(url)
    try:
        idle, _ = probe.phase(lambda: time.sleep(2))

        def schedules() -> None:
            never = http.post("deployments/", json=_deployment("never", {"rrule": NEVER}))
            assert never.status_code == 422, never.text
            secondly = http.post("deployments/", json=_deployment("secondly", {"rrule": SECOND}))
            assert secondly.status_code == 201, secondly.text

        schedule, schedule_s = probe.phase(schedules)
        made = http.post("deployments/", json=_deployment("backfill", {"interval": 1}))
        made.raise_for_status()
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        window = {
            "start": start.isoformat(),
            "end": (start + dt.timedelta(seconds=9999)).isoformat(),
        }

        def backfill() -> None:
            answer = http.post(f"deployments/{made.json()['id']}/backfill", json=window)
            assert answer.json()["created"] == 10_000, answer.text

        backfilled, backfill_s = probe.phase(backfill)
    finally:
        probe.close()
    return {
        "idle": summary(idle),
        "schedule": summary(schedule),
        "schedule_request_s": schedule_s,
        "backfill": summary(backfilled),
        "backfill_request_s": backfill_s,
    }


NEVER = "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"
SECOND = "FREQ=SECONDLY"


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "n": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
        "max_ms": max(latencies) * 1000,
    }


def main() -> None:
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    with tempfile.TemporaryDirectory(prefix="server-health-") as tmp:
        home = Path(tmp)
        if backend == "postgres":
            with postgres_database() as database, running_server(home, database) as url:
                found = measure(url)
        else:
            with running_server(home) as url:
                found = measure(url)
    from _bench import emit

    emit(**found)


if __name__ == "__main__":
    main()

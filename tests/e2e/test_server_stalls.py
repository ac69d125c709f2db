"""No single request stalls the server: schedule arithmetic and big backfills run off the
event loop, bounded, and write in chunks, while `/api/health` keeps answering.

A real `vibepiper server start` process, over SQLite and over PostgreSQL, with its
service loops running. A probe thread times `/api/health` every 10 ms while the worst
requests we know are in flight: deployments with per-second and never-matching rrules
(the latter used to walk dateutil to the year 9999 on the event loop) and a backfill of
10,000 runs (which held SQLite's writer for 11 s in one transaction).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.client.conftest import Server, backend_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {"VIBEPIPER_SERVER_SCHEDULER_INTERVAL": "1"}
    with backend_server(request.param, tmp_path_factory.mktemp("server"), env, "vp_stalls") as up:
        yield up


_PROBE = """
import json, sys, threading, time
import httpx

url, latencies, failures = sys.argv[1], [], []
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
with httpx.Client(timeout=10) as http:
    http.get(url)  # connect once: the probe times the server, not a TCP handshake
    print("ready", flush=True)
    while not stop.is_set():
        begun = time.perf_counter()
        try:
            if http.get(url).json() is not True:
                failures.append("health answered false")
        except httpx.HTTPError as exc:
            failures.append(repr(exc))
        latencies.append(time.perf_counter() - begun)
        time.sleep(0.01)
print(json.dumps({"latencies": latencies, "failures": failures}))
"""


class HealthProbe:
    """Times GET /api/health every 10 ms until stopped, from a process of its own (so
    the test's own threads never hold up the probe)."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/health"
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def __enter__(self) -> HealthProbe:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, self.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *_: object) -> None:
        out, _ = self._process.communicate(timeout=30)
        found = json.loads(out.splitlines()[-1])
        self.latencies, self.failures = found["latencies"], found["failures"]

    def p99(self) -> float:
        return statistics.quantiles(self.latencies, n=100)[98]


def _deployment(name: str, schedules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "flow_name": "stalls", "entrypoint": "flows.py:stalls",
            "schedules": schedules}  # fmt: skip


def test_health_answers_while_worst_case_schedules_and_a_big_backfill_are_in_flight(
    server: Server,
) -> None:
    api = server.url
    never = {"schedule": {"rrule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"}}
    secondly = {"schedule": {"rrule": "FREQ=SECONDLY"}}
    minutely_catchup = {"schedule": {"rrule": "FREQ=MINUTELY"}, "catchup": True}
    every_second = {"schedule": {"interval": 1}}
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    window = {"start": start.isoformat(), "end": (start + dt.timedelta(seconds=9999)).isoformat()}
    flow = httpx.post(f"{api}/flows/", json={"name": "writes"}).json()["id"]
    name = uuid.uuid4().hex[:8]

    with HealthProbe(api) as probe, ThreadPoolExecutor(4) as pool, httpx.Client(timeout=60) as c:
        time.sleep(0.3)  # a baseline first
        refused = pool.submit(c.post, f"{api}/deployments/", json=_deployment(f"n{name}", [never]))
        made = pool.submit(
            c.post,
            f"{api}/deployments/",
            json=_deployment(f"s{name}", [secondly, minutely_catchup]),
        )
        backfilled = c.post(f"{api}/deployments/", json=_deployment(f"b{name}", [every_second]))
        assert backfilled.status_code == 201, backfilled.text
        backfill = pool.submit(
            c.post, f"{api}/deployments/{backfilled.json()['id']}/backfill", json=window
        )
        # other writers keep going meanwhile: none is turned away with a 503
        writes = [c.post(f"{api}/flow_runs/", json={"flow_id": flow}) for _ in range(60)]
        backfill_answer = backfill.result(timeout=120)
        refused_answer, made_answer = refused.result(timeout=60), made.result(timeout=60)
        time.sleep(1.5)  # two scheduler passes over the new schedules

    assert refused_answer.status_code == 422, refused_answer.text
    assert "could not be computed within" in refused_answer.text
    assert made_answer.status_code == 201, made_answer.text
    assert backfill_answer.status_code == 200, backfill_answer.text
    assert backfill_answer.json()["created"] == 10_000
    turned_away = [w.text for w in writes if w.status_code != 201]
    assert not turned_away, (turned_away, server.output()[-3000:])
    assert not probe.failures
    assert len(probe.latencies) > 100
    assert probe.p99() < 0.1, f"p99 {probe.p99() * 1000:.0f} ms over {len(probe.latencies)}"
    # the per-second deployment has its next runs (a minute ahead at most, 100 runs)
    runs = httpx.post(
        f"{api}/flow_runs/filter", json={"deployment_id": [made_answer.json()["id"]], "limit": 500}
    ).json()
    assert 100 <= len(runs) <= 400
    log = server.output()
    assert "Traceback" not in log, log[-3000:]

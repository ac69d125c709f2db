"""Two real server processes on one PostgreSQL: their schedulers never make one tick
twice, concurrent backfills of one window make each run once, and four claimers
spread over both replicas never get the same run."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.db import new_postgres_database
from tests.server.conftest import unique
from tests.server.test_replicas import _replicas

pytestmark = pytest.mark.slow


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def replicas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Client]]:
    monkeypatch.setenv("VIBEPIPER_SERVER_SCHEDULER_INTERVAL", "0.2")
    with (
        new_postgres_database("vp_sched", drivername="postgresql+asyncpg") as url,
        _replicas(url, tmp_path / "home") as clients,
    ):
        yield clients


def _runs(client: httpx.Client, deployment_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    while True:
        body = {
            "deployment_id": [deployment_id],
            "limit": 1000,
            "offset": len(runs),
            "sort": "EXPECTED_START_TIME_ASC",
        }
        page = _ok(client.post("/flow_runs/filter", json=body))
        runs.extend(page)
        if len(page) < 1000:
            return runs


def test_two_schedulers_make_each_tick_once(replicas: list[httpx.Client]) -> None:
    a, b = replicas
    body = {
        "name": "d",
        "flow_name": unique("flow"),
        "schedules": [{"schedule": {"interval": 1}}, {"schedule": {"interval": 2}}],
    }
    deployment = _ok(a.post("/deployments/", json=body), 201)
    first = len(_runs(b, deployment["id"]))
    time.sleep(4)  # about 20 passes of each replica's scheduler
    runs = _runs(b, deployment["id"])
    assert len(runs) > first, "the schedulers kept making runs as time passed"
    per_tick = Counter((r["deployment_schedule_id"], r["expected_start_time"]) for r in runs)
    assert max(per_tick.values()) == 1, "a tick was made twice"
    assert len({r["idempotency_key"] for r in runs}) == len(runs)


def test_concurrent_backfills_and_claims_across_replicas(replicas: list[httpx.Client]) -> None:
    a, b = replicas
    pool = unique("pool")
    _ok(a.post("/work_pools/", json={"name": pool}), 201)
    body = {
        "name": "d",
        "flow_name": unique("flow"),
        "work_pool_name": pool,
        "paused": True,
        "schedules": [{"schedule": {"interval": 60}}],
    }
    deployment = _ok(a.post("/deployments/", json=body), 201)
    window = {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:49:00Z"}  # 50 ticks
    path = f"/deployments/{deployment['id']}/backfill"
    with ThreadPoolExecutor(4) as executor:
        results = list(
            executor.map(lambda i: _ok(replicas[i % 2].post(path, json=window)), range(4))
        )
    assert sum(r["created"] for r in results) == 50
    assert all(r["created"] + r["existing"] == 50 for r in results)
    _ok(a.post(f"/deployments/{deployment['id']}/resume"))

    def claimer(index: int) -> list[tuple[str, str]]:
        client = replicas[index % 2]
        got: list[tuple[str, str]] = []
        while True:
            claim = {"worker_name": f"w{index}", "work_pool_name": pool, "limit": 2}
            batch = _ok(client.post("/workers/claim", json=claim))
            if not batch:
                return got
            got.extend((c["flow_run"]["id"], c["flow_run"]["expected_start_time"]) for c in batch)

    with ThreadPoolExecutor(4) as executor:
        claimed = [run for got in executor.map(claimer, range(4)) for run in got]
    ids = [run_id for run_id, _ in claimed]
    assert len(ids) == len(set(ids)), "a run was claimed twice"
    # the resumed schedule may also make a run that comes due while the claims go on
    backfilled = {run_id for run_id, expected in claimed if expected < "2025"}
    assert len(backfilled) == 50, "each backfilled run claimed exactly once"
    past = [r for r in _runs(b, deployment["id"]) if r["expected_start_time"] < "2025"]
    assert {r["id"] for r in past} == backfilled
    assert all(r["state_type"] == "PENDING" for r in past)

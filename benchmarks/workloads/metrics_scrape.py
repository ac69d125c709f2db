"""Workload `metrics_scrape`: `GET /api/metrics` over 100,000 stored flow runs (PostgreSQL).

Usage: python metrics_scrape.py [RUNS] [SCRAPES]

Fills a throwaway PostgreSQL database with RUNS flow runs (default 100,000; the
`dashboard_runs` mix of states over 30 days, the unfinished ones spread over 4 work
pools) and vacuums it as autovacuum would; adds the pools, 8 workers' heartbeats and 3
global concurrency limits; starts a real server on it and times SCRAPES scrapes
(default 30) after one warm-up.
Target (issue 21): the median scrape answers in <= 100 ms.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _bench import emit
from _server import postgres_database, running_server
from dashboard_runs import fill_database

POOLS = ("etl", "ml", "reports", "adhoc")


def _vacuum(sync_url: str) -> None:
    """What autovacuum does to a table at rest: its visibility map lets counts read the
    `state_type` index alone (right after a bulk insert, every count visits the heap)."""
    import psycopg

    with psycopg.connect(sync_url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE flow_run")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    scrapes = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with tempfile.TemporaryDirectory() as tmp, postgres_database() as url:
        home = Path(tmp)
        sync_url = url.replace("postgresql+asyncpg://", "postgresql+psycopg://")
        began = time.perf_counter()
        fill_database(url, sync_url, runs, POOLS)
        fill_s = time.perf_counter() - began
        _vacuum(sync_url)
        with running_server(home, url) as api, httpx.Client(base_url=api, timeout=60) as client:
            for pool in POOLS:
                client.post("/work_pools/", json={"name": pool, "concurrency_limit": 50})
            for index in range(8):
                beat = {"worker_name": f"worker-{index}", "work_pool_name": POOLS[index % 4]}
                client.post("/workers/heartbeat", json=beat).raise_for_status()
            for name in ("db", "api", "gpu"):
                client.post("/concurrency_limits/", json={"name": name, "limit": 10})
            first = client.get("/metrics")
            first.raise_for_status()
            samples = []
            for _ in range(scrapes):
                start = time.perf_counter()
                client.get("/metrics").raise_for_status()
                samples.append(time.perf_counter() - start)
    ordered = sorted(samples)
    emit(
        runs=runs,
        scrapes=scrapes,
        fill_s=fill_s,
        p50_s=statistics.median(samples),
        p95_s=ordered[int(0.95 * (len(ordered) - 1))],
        bytes=len(first.content),
        series=sum(1 for line in first.text.splitlines() if line and not line.startswith("#")),
    )


if __name__ == "__main__":
    main()

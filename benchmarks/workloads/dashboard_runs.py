"""Workload `dashboard_runs`: the dashboard's Runs page over 100,000 flow runs (SQLite).

Usage: python dashboard_runs.py [RUNS] [REPEATS]

Fills a fresh SQLite store with RUNS flow runs (default 100,000) over 5 flows, 30 days,
every state, a few tags, then starts a real server and measures the requests the Runs
page and the Dashboard make on load (median of REPEATS, default 5): the first page
(`/flow_runs/filter`, 25 rows, newest first, root runs only), its `/count`, the same
filtered by state, by flow, by tag and by a name search, a deep page (offset 50,000),
and the Dashboard's 24-hour history (`/ui/flow_runs/history`). With /usr/bin/chromium
present it also times a browser loading /runs until the first row shows.
Target: the first page (filter + count) under 1 s.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _bench import emit
from _server import running_server

STATES = [
    ("COMPLETED", "Completed", 70),
    ("FAILED", "Failed", 10),
    ("CRASHED", "Crashed", 2),
    ("CANCELLED", "Cancelled", 3),
    ("RUNNING", "Running", 5),
    ("SCHEDULED", "Scheduled", 8),
    ("PENDING", "Pending", 2),
]


def fill(home: Path, runs: int) -> None:
    path = home / "vibepiper.db"
    fill_database(f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}", runs)


def fill_database(url: str, sync_url: str, runs: int, pools: tuple[str, ...] = ()) -> None:
    """Migrate the database at `url` and store `runs` flow runs in it (through
    `sync_url`); runs not finished go to `pools` in turn when some are named."""
    import sqlalchemy as sa

    from vibepiper.database import tables as t
    from vibepiper.server.database import migrate_database

    migrate_database(url)
    engine = sa.create_engine(sync_url)
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    flows = [{"id": uuid.uuid4(), "name": f"pipeline-{i}", "created": now} for i in range(5)]
    weights = [weight for *_, weight in STATES]
    with engine.begin() as connection:
        connection.execute(sa.insert(t.flow), flows)
        batch: list[dict[str, Any]] = []
        for index in range(runs):
            created = now - dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
            state_type, state_name, _ = rng.choices(STATES, weights)[0]
            started = created + dt.timedelta(seconds=1) if state_type != "SCHEDULED" else None
            batch.append(
                {
                    "id": uuid.uuid4(),
                    "flow_id": flows[index % 5]["id"],
                    "name": f"run-{index:06d}-{rng.choice(['otter', 'wombat', 'heron'])}",
                    "state_id": uuid.uuid4(),
                    "state_type": state_type,
                    "state_name": state_name,
                    "state_timestamp": created,
                    "parameters": {"n": index},
                    "tags": rng.sample(["etl", "nightly", "prod", "dev"], 2),
                    "run_count": 1,
                    "created": created,
                    "updated": created,
                    "start_time": started,
                    "end_time": started + dt.timedelta(seconds=3) if started else None,
                    "expected_start_time": created,
                    "work_pool_name": pools[index % len(pools)] if pools else None,
                }
            )
            if len(batch) == 5000:
                connection.execute(sa.insert(t.flow_run), batch)
                batch.clear()
        if batch:
            connection.execute(sa.insert(t.flow_run), batch)
    engine.dispose()


def timed(client: httpx.Client, path: str, body: dict[str, Any], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        answer = client.post(path, json=body)
        samples.append(time.perf_counter() - start)
        answer.raise_for_status()
    return statistics.median(samples)


def browser_first_rows(base: str) -> float | None:
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.goto(base + "/flows")  # warm the browser and the asset cache
        start = time.perf_counter()
        page.goto(base + "/runs")
        page.wait_for_selector("[data-testid=run-table] tbody tr")
        page.wait_for_selector("[data-testid=page-info]:has-text('runs')")
        elapsed = time.perf_counter() - start
        browser.close()
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        fill_start = time.perf_counter()
        fill(home, runs)
        fill_s = time.perf_counter() - fill_start
        with running_server(home) as url, httpx.Client(base_url=url, timeout=60) as client:
            first: dict[str, Any] = {"sort": "CREATED_DESC", "limit": 25, "offset": 0}
            base_filter: dict[str, Any] = {}
            now = dt.datetime.now(dt.UTC)
            results = {
                "first_page_s": timed(client, "/flow_runs/filter", first, repeats),
                "count_s": timed(client, "/flow_runs/count", base_filter, repeats),
                "failed_page_s": timed(
                    client, "/flow_runs/filter", {**first, "state_type": ["FAILED"]}, repeats
                ),
                "failed_count_s": timed(
                    client, "/flow_runs/count", {**base_filter, "state_type": ["FAILED"]}, repeats
                ),
                "flow_page_s": timed(
                    client, "/flow_runs/filter", {**first, "flow_name": ["pipeline-3"]}, repeats
                ),
                "tag_page_s": timed(
                    client, "/flow_runs/filter", {**first, "tags_all": ["prod"]}, repeats
                ),
                "tag_count_s": timed(
                    client, "/flow_runs/count", {**base_filter, "tags_all": ["prod"]}, repeats
                ),
                "search_page_s": timed(
                    client, "/flow_runs/filter", {**first, "name_like": "wombat"}, repeats
                ),
                "search_count_s": timed(
                    client, "/flow_runs/count", {**base_filter, "name_like": "wombat"}, repeats
                ),
                "root_only_page_s": timed(
                    client, "/flow_runs/filter", {**first, "root_only": True}, repeats
                ),
                "root_only_count_s": timed(
                    client, "/flow_runs/count", {**base_filter, "root_only": True}, repeats
                ),
                "deep_page_s": timed(
                    client, "/flow_runs/filter", {**first, "offset": runs // 2}, repeats
                ),
                "history_24h_s": timed(
                    client,
                    "/ui/flow_runs/history",
                    {
                        "since": (now - dt.timedelta(days=1)).isoformat(),
                        "until": now.isoformat(),
                        "buckets": 48,
                        "root_only": True,
                    },
                    repeats,
                ),
                "history_30d_s": timed(
                    client,
                    "/ui/flow_runs/history",
                    {
                        "since": (now - dt.timedelta(days=30)).isoformat(),
                        "until": now.isoformat(),
                        "buckets": 56,
                        "root_only": True,
                    },
                    repeats,
                ),
            }
            results["browser_runs_page_s"] = browser_first_rows(url.removesuffix("/api"))
    first_page = results["first_page_s"] + results["count_s"]
    emit(
        runs=runs,
        fill_s=round(fill_s, 2),
        first_page_with_count_s=first_page,
        target_met=first_page < 1.0,
        **results,
    )


if __name__ == "__main__":
    main()

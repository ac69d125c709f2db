"""Workload `assets_lineage`: the dashboard's asset lineage graph at 500 assets, 2,000 edges.

Usage: python assets_lineage.py [ASSETS] [EDGES] [REPEATS]

Starts a real server on a fresh SQLite home and posts one materialization event per asset
(`POST /api/events`, the shape the SDK emits), ten layers deep, each asset naming its
upstream assets: EDGES links (default 2,000) between ASSETS assets (default 500), most from
the layer before, a fifth from two layers before. The catalogue catches up with the events
on the first asset request (`catch_up_s`); `GET /api/assets/lineage` is then timed (median
of REPEATS, default 3). With /usr/bin/chromium present, a browser opens
`/assets?view=lineage` REPEATS times and each time is timed until every node is drawn
(`render_s`, the median, as Playwright sees it: its polling adds up to a few hundred ms;
`drawn_s`, from the page's navigation to the first frame with every node, as the page
itself records it; `layout_ms`, the layout's own time, and which layout ran).
Target: render_s <= 2 s.
"""

from __future__ import annotations

import datetime as dt
import random
import re
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

LAYERS = 10


def lineage_events(assets: int, edges: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    per = assets // LAYERS
    keys = [
        f"s3://lake/layer{layer}/table{i:03d}.parquet"
        for layer in range(LAYERS)
        for i in range(per)
    ]
    upstream: dict[str, set[str]] = {key: set() for key in keys}
    made = 0
    while made < edges:
        layer = rng.randrange(1, LAYERS)
        span = 2 if layer >= 2 and rng.random() < 0.2 else 1
        source = keys[(layer - span) * per + rng.randrange(per)]
        target = keys[layer * per + rng.randrange(per)]
        if source not in upstream[target]:
            upstream[target].add(source)
            made += 1
    now = dt.datetime.now(dt.UTC).isoformat()
    flow_run = str(uuid.uuid4())
    return [
        {
            "id": str(uuid.uuid4()),
            "occurred": now,
            "event": "vibepiper.asset.materialization."
            + ("failed" if index % 4 == 3 else "succeeded"),
            "resource": {"vibepiper.resource.id": key},
            "related": [
                *(
                    {"vibepiper.resource.id": source, "vibepiper.resource.role": "asset"}
                    for source in sorted(upstream[key])
                ),
                {
                    "vibepiper.resource.id": f"vibepiper.flow-run.{flow_run}",
                    "vibepiper.resource.role": "flow-run",
                    "vibepiper.resource.name": "bench-run",
                },
            ],
            "payload": {"metadata": {"index": index}},
        }
        for index, key in enumerate(keys)
    ]


def browser_render(base: str, assets: int, repeats: int) -> dict[str, Any] | None:
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import expect, sync_playwright

    samples: list[float] = []
    drawn_ms: list[float] = []
    layout_ms: list[float] = []
    engine = None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1360, "height": 900})
        page.goto(base + "/flows")  # warm the browser and the asset cache
        for _ in range(repeats):
            start = time.perf_counter()
            page.goto(base + "/assets?view=lineage")
            expect(page.get_by_test_id("lineage-node")).to_have_count(assets, timeout=60_000)
            samples.append(time.perf_counter() - start)
            graph = page.get_by_test_id("lineage-graph")
            expect(graph).to_have_attribute("data-drawn-ms", re.compile(r"^\d+$"))
            drawn_ms.append(float(graph.get_attribute("data-drawn-ms") or "nan"))
            layout_ms.append(float(graph.get_attribute("data-layout-ms") or "nan"))
            engine = graph.get_attribute("data-engine")
            page.goto(base + "/flows")
        browser.close()
    return {
        "render_s": statistics.median(samples),
        "render_max_s": max(samples),
        "drawn_s": statistics.median(drawn_ms) / 1000,
        "layout_ms": statistics.median(layout_ms),
        "layout_engine": engine,
    }


def main() -> None:
    assets = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    edges = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    events = lineage_events(assets, edges)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with running_server(home) as url, httpx.Client(base_url=url, timeout=120) as client:
            client.post("/events", json=events).raise_for_status()
            start = time.perf_counter()
            client.post("/assets/count", json={}).raise_for_status()
            catch_up_s = time.perf_counter() - start
            samples = []
            for _ in range(repeats):
                start = time.perf_counter()
                answer = client.get("/assets/lineage", params={"limit": 5000})
                samples.append(time.perf_counter() - start)
                answer.raise_for_status()
            graph = answer.json()
            assert len(graph["nodes"]) == assets and len(graph["edges"]) == edges, (
                len(graph["nodes"]),
                len(graph["edges"]),
            )
            rendered = browser_render(url.removesuffix("/api"), assets, repeats)
    results: dict[str, Any] = {
        "assets": assets,
        "edges": edges,
        "catch_up_s": round(catch_up_s, 3),
        "lineage_api_s": statistics.median(samples),
    }
    if rendered is not None:
        results.update(rendered)
        results["target_met"] = rendered["render_s"] <= 2.0
    emit(**results)


if __name__ == "__main__":
    main()

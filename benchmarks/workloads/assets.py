"""Workload `assets`: what materializing assets with checks adds to a flow's cost.

Usage: python assets.py embedded|server [N] [REPS]

Two flows of N task runs (default 1,000) each, called one after the other REPS times
(default 3) in one process: `plain` calls N `@task`s, `assets` calls N `@materialize`
tasks, each materializing its own asset with one `@check` (so every run also emits a
materialization event and a check event). Timed: from the flow's call to the moment
everything it recorded is stored (the store flushed): in the embedded SQLite store
(`embedded`, a fresh VIBEPIPER_HOME) or on a real local server over SQLite (`server`,
VIBEPIPER_API_URL). Reported: the median wall time of each and their `ratio` (the issue
asks for at most 2x), and the same in CPU seconds of this process (`cpu_ratio`: steadier
on a shared machine; the server's own CPU is not in it).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _flows(n: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from vibepiper import flow, task
    from vibepiper.assets import check, materialize

    def body(i: int) -> dict[str, int]:
        return {"rows": i}

    plain_tasks = [task(body, name=f"plain-{i}") for i in range(n)]
    asset_tasks = []
    for i in range(n):
        key = f"s3://bench/assets/table-{i}.parquet"
        asset_tasks.append(materialize(key, name=f"load-{i}")(body))

        @check(key, name="has_rows")
        def has_rows(value: dict[str, int]) -> bool:
            return value["rows"] >= 0

    @flow(name="bench-plain")
    def plain() -> None:
        for i, t in enumerate(plain_tasks):
            t(i)

    @flow(name="bench-assets")
    def assets() -> None:
        for i, t in enumerate(asset_tasks):
            t(i)

    return plain, assets


@contextmanager
def _target(mode: str) -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="assets-bench-") as tmp:
        home = Path(tmp)
        os.environ["VIBEPIPER_HOME"] = str(home / "client")
        if mode == "embedded":
            os.environ.pop("VIBEPIPER_API_URL", None)
            yield
            return
        from _server import running_server

        (home / "server").mkdir()
        with running_server(home / "server") as url:
            os.environ["VIBEPIPER_API_URL"] = url
            yield


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "embedded"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if mode not in ("embedded", "server"):
        raise SystemExit(f"usage: {sys.argv[0]} embedded|server [N] [REPS]")
    with _target(mode):
        from vibepiper.store import get_store

        plain, assets = _flows(n)
        store = get_store()
        plain()  # warm-up: imports, the first runs, the connection
        assets()
        store.flush()
        timings: dict[str, list[float]] = {"plain": [], "assets": []}
        cpu: dict[str, list[float]] = {"plain": [], "assets": []}
        for _ in range(reps):
            for name, run in (("plain", plain), ("assets", assets)):
                begun, begun_cpu = time.perf_counter(), time.process_time()
                run()
                store.flush()
                timings[name].append(time.perf_counter() - begun)
                cpu[name].append(time.process_time() - begun_cpu)
        from _bench import emit, store_kind

        plain_s = statistics.median(timings["plain"])
        assets_s = statistics.median(timings["assets"])
        emit(
            mode=mode,
            store=store_kind(),
            n=n,
            reps=reps,
            plain_s=plain_s,
            assets_s=assets_s,
            per_task_plain_ms=plain_s * 1000 / n,
            per_task_assets_ms=assets_s * 1000 / n,
            ratio=assets_s / plain_s,
            plain_cpu_s=statistics.median(cpu["plain"]),
            assets_cpu_s=statistics.median(cpu["assets"]),
            cpu_ratio=statistics.median(cpu["assets"]) / statistics.median(cpu["plain"]),
        )


if __name__ == "__main__":
    main()

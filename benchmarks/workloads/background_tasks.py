"""Workload `background_tasks`: `task.delay()` -> result, latency and throughput.

Usage: python background_tasks.py latency N          (a local server on SQLite)
       python background_tasks.py throughput N W     (a local server on PostgreSQL)

latency: a real `vibepiper server start` (SQLite, fresh home) and one
`vibepiper task serve` process (default settings); this process delays a trivial task
and waits for its result, one call at a time, N times (after 10 warm-up calls). Per
call: from just before `delay()` to `result()` returning the value read back from
result storage.

throughput: a real server on a throwaway PostgreSQL database; this process delays N
trivial tasks from 4 threads (the delay rate is reported too), then W `vibepiper task
serve` processes start and run them all while this process only watches the queue's
count; the results are read back after. Tasks/s = N / (the first run's start -> the
last run's end, from the persisted runs), so worker start-up is not counted. Every
value is checked, and the server must hold N Completed runs with run_count 1 and an
empty queue.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
from _server import postgres_database, running_server

TASKS = textwrap.dedent(
    """
    from vibepiper import task


    @task
    def add(x: int, y: int) -> int:
        return x + y
    """
)


def _workers(stack: ExitStack, project: Path, url: str, count: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env.update(VIBEPIPER_API_URL=url, VIBEPIPER_LOGGING_TO_CONSOLE="false")
    for index in range(count):
        env["VIBEPIPER_HOME"] = str(project / f"worker-{index}")
        log = open(project / f"worker-{index}.log", "wb")  # noqa: SIM115 - closed below
        stack.callback(log.close)
        process = subprocess.Popen(
            [sys.executable, "-m", "vibepiper.cli", "task", "serve", "tasks.py:add"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _client(project: Path, url: str) -> object:
    os.environ["VIBEPIPER_API_URL"] = url
    os.environ["VIBEPIPER_HOME"] = str(project / "caller")
    os.environ["VIBEPIPER_LOGGING_TO_CONSOLE"] = "false"
    sys.path.insert(0, str(project))
    import tasks  # type: ignore[import-not-found]

    return tasks


def latency(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bg-latency-") as tmp, ExitStack() as stack:
        project = Path(tmp)
        (project / "tasks.py").write_text(TASKS)
        (project / "server").mkdir()
        url = stack.enter_context(running_server(project / "server"))
        _workers(stack, project, url, 1)
        tasks = _client(project, url)
        add = tasks.add  # type: ignore[attr-defined]
        for i in range(10):  # warm-up: imports, connections, the worker's first claim
            assert add.delay(i, 1).result(timeout=60) == i + 1
        samples = []
        for i in range(n):
            started = time.perf_counter()
            value = add.delay(i, 2).result(timeout=60)
            samples.append(time.perf_counter() - started)
            assert value == i + 2
        samples.sort()
        from _bench import emit

        emit(
            n=n,
            p50_ms=1000 * statistics.median(samples),
            p95_ms=1000 * samples[int(0.95 * (n - 1))],
            max_ms=1000 * samples[-1],
            samples_s=samples,
        )


def throughput(n: int, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bg-throughput-") as tmp, ExitStack() as stack:
        project = Path(tmp)
        (project / "tasks.py").write_text(TASKS)
        (project / "server").mkdir()
        database = stack.enter_context(postgres_database())
        url = stack.enter_context(running_server(project / "server", database))
        tasks = _client(project, url)
        add = tasks.add  # type: ignore[attr-defined]

        def produce(part: int) -> list[object]:
            return [add.delay(i, part) for i in range(part, n, 4)]

        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            futures = [f for batch in pool.map(produce, range(4)) for f in batch]
        queued = time.perf_counter() - started
        _workers(stack, project, url, workers)
        # wait for the queue to drain without adding requests of our own to the server's
        # load (one look every 0.2 s), then read every value back
        deadline = time.monotonic() + 600
        while httpx.get(f"{url}/background_tasks/count", timeout=60).json() > 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the queue did not drain")
            time.sleep(0.2)
        values = [f.result(timeout=600) for f in futures]  # type: ignore[attr-defined]
        assert sorted(values) == sorted(i + i % 4 for i in range(n))
        runs = []
        while len(runs) < n:  # from the persisted runs: when the first started, the last ended
            page = httpx.post(
                f"{url}/task_runs/filter", json={"limit": 1000, "offset": len(runs)}, timeout=60
            ).json()
            if not page:
                break
            runs.extend(page)
        assert len(runs) == n, len(runs)
        assert all(r["state_type"] == "COMPLETED" and r["run_count"] == 1 for r in runs)
        first = min(dt.datetime.fromisoformat(r["start_time"]) for r in runs)
        last = max(dt.datetime.fromisoformat(r["end_time"]) for r in runs)
        seconds = (last - first).total_seconds()
        queue = httpx.get(f"{url}/background_tasks/count", timeout=60).json()
        from _bench import emit

        emit(
            n=n,
            workers=workers,
            seconds=seconds,
            per_second=n / seconds,
            delay_per_second=n / queued,
            completed_runs=len(runs),
            queue_left=queue,
        )


if __name__ == "__main__":
    if sys.argv[1] == "latency":
        latency(int(sys.argv[2]))
    else:
        throughput(int(sys.argv[2]), int(sys.argv[3]))

#!/usr/bin/env python
"""Run VibePiper's benchmarks and write `benchmarks/RESULTS.md`.

    python benchmarks/run.py                      # everything (a few minutes)
    python benchmarks/run.py --quick              # without the 100,000-task workload
    python benchmarks/run.py --only subflows,map_1000

Run it with the interpreter VibePiper is installed in (e.g. `/work/venv/bin/python`):
every workload runs in a fresh subprocess of that same interpreter, with a new,
empty `VIBEPIPER_HOME` of its own, so each run records into a real SQLite store that
nothing else has touched. See `benchmarks/README.md` for what each workload does.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads"
REPO = HERE.parent
MARKER = "BENCH_RESULT "
MB = 1_000_000  # decimal megabytes; ru_maxrss is in KiB on Linux

# Targets.
IMPORT_TARGET_S = 0.150
FORTY_TARGET_S = 0.4
MARGINAL_TARGET_US = 150.0
MAP_TARGET_S = 1.0
MAP_SERVER_TARGET_S = 3.0
TRANSITIONS_TARGET = {"sqlite": 1500.0, "postgres": 3000.0}
CACHED_RERUN_TARGET_S = 0.020
SUBFLOWS_TARGET_S = 0.6
RSS_GROWTH_TARGET_MB = 100.0
WORKER_MEDIAN_TARGET_S = 0.300
WORKER_P95_TARGET_S = 1.0
HEALTH_P99_TARGET_S = 0.100
CONFIG_READ_TARGET_S = {"embedded": 0.001, "server": 0.005}

# Environment variables that change how fast Python runs; never passed to workloads.
# PYTHONDONTWRITEBYTECODE is dropped so that bytecode is cached (in a private
# PYTHONPYCACHEPREFIX) as it is for any installed package.
DROPPED_ENV = (
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONDEVMODE",
    "PYTHONTRACEMALLOC",
    "PYTHONPROFILEIMPORTTIME",
    "PYTHONMALLOC",
    "PYTHONMALLOCSTATS",
    "PYTHONASYNCIODEBUG",
    "PYTHONPYCACHEPREFIX",
)


class BenchError(RuntimeError):
    """A workload failed, printed no result, or left the store in the wrong shape."""


@dataclasses.dataclass
class Child:
    """One finished workload process."""

    wall_s: float  # spawn to exit, measured by the runner
    maxrss_kb: int  # the child's own peak RSS, from wait4()
    result: dict[str, Any]  # the workload's BENCH_RESULT line


@dataclasses.dataclass
class Row:
    """One line of the results table."""

    name: str
    measured: str
    target: str
    ok: bool | None  # None: no target
    details: str = ""
    samples: dict[str, list[float]] = dataclasses.field(default_factory=dict)


# --- running one workload ---------------------------------------------------------------------
class Runner:
    def __init__(self, tmp_root: Path, memory: bool) -> None:
        self.tmp_root = tmp_root
        self.memory = memory
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
        for key in DROPPED_ENV:
            env.pop(key, None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp_root / "pycache")
        self.env = env

    def new_home(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="home-", dir=self.tmp_root))

    def run(
        self,
        script: str,
        *args: str,
        home: Path | None = None,
        check: bool = True,
        env_extra: dict[str, str] | None = None,
    ) -> Child:
        """Run `workloads/<script>` in a fresh interpreter; a new empty home unless given."""
        own_home = home is None
        home = home if home is not None else self.new_home()
        env = dict(self.env)
        env["VIBEPIPER_HOME"] = ":memory:" if self.memory else str(home / "store")
        env.update(env_extra or {})
        out_path, err_path = home / f"{script}.stdout", home / f"{script}.stderr"
        command = [sys.executable, str(WORKLOADS / script), *args]
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=home, env=env
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        try:
            if proc.returncode != 0:
                raise BenchError(
                    f"{script} {' '.join(args)} exited with {proc.returncode}:\n" + _tail(err_path)
                )
            result = _parse_result(out_path)
            if result is None:
                raise BenchError(f"{script} printed no {MARKER.strip()} line:\n{_tail(err_path)}")
            if check:
                self._check(script, result, home / "store" / "vibepiper.db")
        except BenchError:
            print(f"  (kept the failed run's files in {home})", file=sys.stderr)
            raise
        if own_home:
            shutil.rmtree(home, ignore_errors=True)
        return Child(wall_s=wall, maxrss_kb=usage.ru_maxrss, result=result)

    def _check(self, script: str, result: dict[str, Any], db: Path) -> None:
        if self.memory:
            return
        store = result.get("store")
        if store is not None and store != "EmbeddedStore":
            raise BenchError(f"{script} recorded into {store}, not the embedded store")
        expect = result.get("expect")
        if expect is not None:
            problem = verify_store(db, expect)
            if problem:
                raise BenchError(f"{script}: the store at {db} is wrong: {problem}")


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _parse_result(path: Path) -> dict[str, Any] | None:
    for line in reversed(path.read_text(errors="replace").splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])  # type: ignore[no-any-return]
    return None


def verify_store(db: Path, expect: dict[str, int]) -> str | None:
    """Check, after the process exited, that every run it made is in the database."""
    if not db.exists():
        return "no database file"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:

        def one(sql: str) -> int:
            return int(con.execute(sql).fetchone()[0])

        found = {
            "flow_runs": one("SELECT count(*) FROM flow_run"),
            "task_runs": one("SELECT count(*) FROM task_run"),
        }
        if expect.get("flow_runs", 0) == 0 and expect.get("task_runs", 0) == 0:
            return None if found == {"flow_runs": 0, "task_runs": 0} else f"found {found}"
        found["flow_runs_completed"] = one(
            "SELECT count(*) FROM flow_run WHERE state_type = 'COMPLETED'"
        )
        found["task_runs_completed"] = one(
            "SELECT count(*) FROM task_run WHERE state_type = 'COMPLETED'"
        )
        wanted = {
            "flow_runs": expect["flow_runs"],
            "task_runs": expect["task_runs"],
            "flow_runs_completed": expect["flow_runs"],
            "task_runs_completed": expect["task_runs"],
        }
        if "task_run_count" in expect:
            found["task_runs_with_other_run_count"] = one(
                f"SELECT count(*) FROM task_run WHERE run_count != {int(expect['task_run_count'])}"
                " AND subflow_run_id IS NULL"
            )
            wanted["task_runs_with_other_run_count"] = 0
        if found != wanted:
            return f"expected {wanted}, found {found}"
        return None
    finally:
        con.close()


# --- the workloads ----------------------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: Callable[[float], str]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    return f"n={len(values)}, {unit(min(values))}..{unit(max(values))}"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def sec(seconds: float) -> str:
    return f"{seconds:.3f} s"


def mb(kib: float) -> str:
    return f"{kib * 1024 / MB:.0f} MB"


def warm_up(r: Runner, script: str, *args: str) -> None:
    """One discarded run: compiles bytecode into the cache and warms the page cache."""
    r.run(script, *args)


def bench_import(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "import_time.py")
    runs = [r.run("import_time.py") for _ in range(reps)]
    times = [c.result["seconds"] for c in runs]
    heavy = runs[-1].result["heavy_modules_loaded"]
    return [
        Row(
            "import",
            ms(med(times)),
            f"<= {ms(IMPORT_TARGET_S)}",
            med(times) <= IMPORT_TARGET_S,
            f"{spread(times, ms)}; {runs[-1].result['modules_loaded']} modules, "
            f"heavy: {', '.join(heavy) or 'none'}",
            {"seconds": times},
        )
    ]


def bench_store_open(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "store_open.py")
    runs = [r.run("store_open.py") for _ in range(reps)]
    times = [c.result["seconds"] for c in runs]
    res = runs[-1].result
    extra = [name for name in ("sqlalchemy", "alembic") if res.get(f"{name}_imported")]
    return [
        Row(
            "store_open",
            ms(med(times)),
            "(none)",
            None,
            f"{spread(times, ms)}; opening the store on an empty home (creates the schema)"
            + (f"; imports {', '.join(extra)}" if extra else ""),
            {"seconds": times},
        )
    ]


def bench_forty(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "forty_tasks.py")
    runs = [r.run("forty_tasks.py") for _ in range(reps)]
    walls = [c.wall_s for c in runs]
    return [
        Row(
            "forty_tasks",
            sec(med(walls)),
            f"<= {FORTY_TARGET_S} s",
            med(walls) <= FORTY_TARGET_S,
            f"{spread(walls, sec)}; whole process, brand-new home (database created "
            f"by this process); peak RSS {mb(med([c.maxrss_kb for c in runs]))}",
            {"wall_s": walls},
        )
    ]


def bench_forty_existing_db(r: Runner, reps: int) -> list[Row]:
    walls: list[float] = []
    for _ in range(reps):
        home = r.new_home()
        r.run("store_open.py", home=home)  # untimed: creates the (empty) database
        walls.append(r.run("forty_tasks.py", home=home).wall_s)
        shutil.rmtree(home, ignore_errors=True)
    return [
        Row(
            "forty_tasks_existing_db",
            sec(med(walls)),
            f"<= {FORTY_TARGET_S} s",
            med(walls) <= FORTY_TARGET_S,
            f"{spread(walls, sec)}; whole process, the empty database already created "
            "by an earlier process (the usual case after the first run)",
            {"wall_s": walls},
        )
    ]


def bench_sequential(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "sequential.py", "100")
    t100: list[float] = []
    t1000: list[float] = []
    for _ in range(reps):  # interleaved, so drift affects both sizes alike
        t100.append(r.run("sequential.py", "100").result["seconds"])
        t1000.append(r.run("sequential.py", "1000").result["seconds"])
    marginal_us = (med(t1000) - med(t100)) / 900 * 1e6
    return [
        Row(
            "sequential_marginal",
            f"{marginal_us:.1f} us/task",
            f"<= {MARGINAL_TARGET_US:.0f} us/task",
            marginal_us <= MARGINAL_TARGET_US,
            f"(t1000 - t100) / 900 with medians t100 = {ms(med(t100))} "
            f"({spread(t100, ms)}), t1000 = {ms(med(t1000))} ({spread(t1000, ms)})",
            {"t100_s": t100, "t1000_s": t1000},
        )
    ]


def bench_map(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "map_tasks.py", "1000")
    runs = [r.run("map_tasks.py", "1000") for _ in range(reps)]
    walls = [c.wall_s for c in runs]
    rss = [float(c.maxrss_kb) for c in runs]
    return [
        Row(
            "map_1000",
            sec(med(walls)),
            f"<= {MAP_TARGET_S} s",
            med(walls) <= MAP_TARGET_S,
            f"{spread(walls, sec)}; whole process, brand-new home; peak RSS {mb(med(rss))}",
            {"wall_s": walls, "maxrss_kb": rss},
        )
    ]


def bench_subflows(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "subflows.py")
    times = [r.run("subflows.py").result["seconds"] for _ in range(reps)]
    return [
        Row(
            "subflows_10x20",
            sec(med(times)),
            f"<= {SUBFLOWS_TARGET_S} s",
            med(times) <= SUBFLOWS_TARGET_S,
            f"{spread(times, sec)}; in process, around the parent flow call",
            {"seconds": times},
        )
    ]


def bench_retries(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "retries.py")
    times = [r.run("retries.py").result["seconds"] for _ in range(reps)]
    return [
        Row(
            "retries_20x3",
            ms(med(times)),
            "(none)",
            None,
            f"{spread(times, ms)}; 60 attempts, 40 of them failing; in process",
            {"seconds": times},
        )
    ]


def bench_sequential_100k(r: Runner, reps: int) -> list[Row]:
    base = [r.run("sequential.py", "1000") for _ in range(3)]
    big = [r.run("sequential.py", "100000") for _ in range(reps)]
    base_rss = [float(c.maxrss_kb) for c in base]
    big_rss = [float(c.maxrss_kb) for c in big]
    times = [c.result["seconds"] for c in big]
    growth_mb = (med(big_rss) - med(base_rss)) * 1024 / MB
    per_task_us = med(times) / 100_000 * 1e6
    return [
        Row(
            "sequential_100k_time",
            f"{sec(med(times))} ({per_task_us:.0f} us/task)",
            "(none)",
            None,
            f"{spread(times, sec)}; in process, around the flow call",
            {"seconds": times},
        ),
        Row(
            "sequential_100k_rss",
            f"{mb(med(big_rss))} peak (+{growth_mb:.0f} MB)",
            f"<= +{RSS_GROWTH_TARGET_MB:.0f} MB over 1k-task peak",
            growth_mb <= RSS_GROWTH_TARGET_MB,
            f"1,000-task peak {mb(med(base_rss))} (n={len(base)}, separate processes); "
            f"100k-task peaks {', '.join(mb(v) for v in big_rss)}",
            {"maxrss_kb_1k": base_rss, "maxrss_kb_100k": big_rss},
        ),
    ]


def bench_dask_map(r: Runner, reps: int) -> list[Row]:
    rows = []
    for kind in ("threads", "dask"):
        warm_up(r, "dask_map.py", kind)
        runs = [r.run("dask_map.py", kind) for _ in range(reps)]
        walls = [c.wall_s for c in runs]
        times = [c.result["seconds"] for c in runs]
        where = (
            "; LocalCluster of 2 worker processes, started in the flow" if kind == "dask" else ""
        )
        rows.append(
            Row(
                f"dask_map_1000_{kind}",
                sec(med(walls)),
                "(none)",
                None,
                f"{spread(walls, sec)}; whole process; in flow {sec(med(times))} "
                f"({spread(times, sec)}){where}",
                {"wall_s": walls, "seconds": times},
            )
        )
    return rows


def bench_cached_rerun(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "cached_rerun.py")
    times = [r.run("cached_rerun.py").result["seconds"] for _ in range(reps)]
    return [
        Row(
            "cached_rerun_50",
            ms(med(times)),
            f"<= {CACHED_RERUN_TARGET_S * 1000:.0f} ms",
            med(times) <= CACHED_RERUN_TARGET_S,
            f"{spread(times, ms)}; in process, a second run of 50 cached tasks: every task "
            "a hit read from result storage, no function called",
            {"seconds": times},
        )
    ]


def bench_resume(r: Runner, reps: int) -> list[Row]:
    times, ran = [], []
    for _ in range(reps):
        home = r.new_home()
        failed = r.run("resume.py", "fail", home=home, check=False)
        retried = r.run("resume.py", "retry", failed.result["flow_run_id"], home=home, check=False)
        times.append(retried.result["seconds"])
        ran.append(retried.result["tasks_run"])
        shutil.rmtree(home, ignore_errors=True)
    if set(ran) != {100}:
        raise BenchError(f"the retry should run tasks 900-999 only, ran {ran}")
    return [
        Row(
            "resume_1000_at_900",
            sec(med(times)),
            "runs only the 100 failed/unstarted",
            True,
            f"{spread(times, sec)}; in a new process, around retry_flow_run: 900 results "
            "reused from storage, tasks 900-999 run",
            {"seconds": times, "tasks_run": ran},
        )
    ]


def bench_slots(r: Runner, reps: int) -> list[Row]:
    warm_up(r, "slots.py")
    runs = [r.run("slots.py").result for _ in range(reps)]
    rates = [c["round_trips_per_s"] for c in runs]
    managed = [c["context_manager_per_s"] for c in runs]
    return [
        Row(
            "slots_round_trips",
            f"{med(rates):,.0f} /s",
            "(none)",
            None,
            f"n={len(rates)}, {min(rates):,.0f}..{max(rates):,.0f}; acquire_slots + "
            f"release_slots on the embedded store, in process; `with concurrency()` "
            f"{med(managed):,.0f} /s",
            {"round_trips_per_s": rates, "context_manager_per_s": managed},
        )
    ]


def bench_server_transitions(r: Runner, reps: int) -> list[Row]:
    rows = []
    for backend in ("sqlite", "postgres"):
        try:
            rates = [r.run("server_transitions.py", backend).result["per_s"] for _ in range(reps)]
        except BenchError as exc:
            rows.append(Row(f"server_transitions_{backend}", "failed", "", False, str(exc)[-200:]))
            continue
        target = TRANSITIONS_TARGET[backend]
        rows.append(
            Row(
                f"server_transitions_{backend}",
                f"{med(rates):,.0f}/s",
                f">= {target:,.0f}/s",
                med(rates) >= target,
                f"{spread(rates, lambda v: f'{v:,.0f}/s')}; real server, 8 client processes, "
                "Pending/Running/Completed through POST /api/batch (500 ops a request)",
                {"per_s": rates},
            )
        )
    return rows


def bench_server_slots(r: Runner, reps: int) -> list[Row]:
    rows = []
    for backend in ("sqlite", "postgres"):
        try:
            runs = [r.run("server_slots.py", backend).result for _ in range(reps)]
        except BenchError as exc:
            rows.append(Row(f"server_slots_{backend}", "failed", "", False, str(exc)[-200:]))
            continue
        rates = [c["round_trips_per_s"] for c in runs]
        managed = [c["context_manager_per_s"] for c in runs]
        rows.append(
            Row(
                f"server_slots_{backend}",
                f"{med(rates):,.0f} /s",
                "(none)",
                None,
                f"{spread(rates, lambda v: f'{v:,.0f}/s')}; acquire_slots + release_slots "
                f"through a real server, one client; `with concurrency()` "
                f"{med(managed):,.0f} /s",
                {"round_trips_per_s": rates, "context_manager_per_s": managed},
            )
        )
    return rows


def bench_map_server(r: Runner, reps: int) -> list[Row]:
    sys.path.insert(0, str(WORKLOADS))
    import httpx
    from _server import running_server

    server_home = r.new_home()
    walls: list[float] = []
    with running_server(server_home) as url:
        for rep in range(reps + 1):  # the first run warms up
            child = r.run("map_tasks.py", "1000", check=False, env_extra={"VIBEPIPER_API_URL": url})
            counts = (
                httpx.post(f"{url}/flow_runs/count", json={}).json(),
                httpx.post(f"{url}/task_runs/count", json={"state_type": ["COMPLETED"]}).json(),
            )
            if counts != (rep + 1, 1000 * (rep + 1)):
                raise BenchError(f"map_tasks.py against a server: counts {counts} after run {rep}")
            if rep:
                walls.append(child.wall_s)
    shutil.rmtree(server_home, ignore_errors=True)
    return [
        Row(
            "map_1000_server",
            sec(med(walls)),
            f"<= {MAP_SERVER_TARGET_S} s",
            med(walls) <= MAP_SERVER_TARGET_S,
            f"{spread(walls, sec)}; whole process with VIBEPIPER_API_URL (local server, "
            "SQLite), flush at flow end included; counts checked on the server",
            {"wall_s": walls},
        )
    ]


def bench_worker_latency(r: Runner, reps: int) -> list[Row]:
    child = r.run("worker_latency.py", str(reps), check=False)
    res = child.result
    median, p95 = res["median_ms"] / 1000, res["p95_ms"] / 1000
    return [
        Row(
            "worker_latency",
            f"{ms(median)} median, {ms(p95)} p95",
            f"<= {ms(WORKER_MEDIAN_TARGET_S)} median, <= {ms(WORKER_P95_TARGET_S)} p95",
            median <= WORKER_MEDIAN_TARGET_S and p95 <= WORKER_P95_TARGET_S,
            f"{res['samples']} runs: create_flow_run of a due run -> its Running state (the "
            "run process's timestamp); real server (SQLite) and `vibepiper worker start`, "
            f"default settings; seen Running by a client polling every 10 ms: "
            f"{res['observed_median_ms']:.0f} ms median, {res['observed_p95_ms']:.0f} ms p95",
            {"recorded_s": res["recorded_s"], "observed_s": res["observed_s"]},
        )
    ]


def bench_container_latency(r: Runner, reps: int) -> list[Row]:
    child = r.run("container_latency.py", str(reps), check=False)
    res = child.result
    if "skipped" in res:
        return [Row("container_latency", "not measured", "report", None, res["skipped"])]
    median, p95 = res["median_ms"] / 1000, res["p95_ms"] / 1000
    return [
        Row(
            "container_latency",
            f"{ms(median)} p50, {ms(p95)} p95",
            "report",
            None,
            f"{res['samples']} runs on a docker pool (Podman's API, warm localhost/vibepiper:dev, "
            "code bind-mounted): the claim (Pending) -> Running inside the container; from "
            f"create_flow_run: {res['create_median_ms']:.0f} ms p50, "
            f"{res['create_p95_ms']:.0f} ms p95",
            {"from_claim_s": res["from_claim_s"], "from_create_s": res["from_create_s"]},
        )
    ]


def bench_server_health(r: Runner, reps: int) -> list[Row]:
    rows = []
    for backend in ("sqlite", "postgres"):
        try:
            runs = [r.run("server_health.py", backend).result for _ in range(reps)]
        except BenchError as exc:
            rows.append(Row(f"server_health_{backend}", "failed", "", False, str(exc)[-200:]))
            continue
        p99 = {
            phase: max(run[phase]["p99_ms"] for run in runs) / 1000
            for phase in ("idle", "schedule", "backfill")
        }
        worst = max(p99["schedule"], p99["backfill"])
        rows.append(
            Row(
                f"server_health_{backend}",
                f"p99 {ms(p99['schedule'])} / {ms(p99['backfill'])}",
                f"p99 <= {ms(HEALTH_P99_TARGET_S)}",
                worst <= HEALTH_P99_TARGET_S,
                f"n={reps}, worst run shown; GET /api/health every 10 ms from its own process, "
                "while a worst-case schedule request runs (a never-matching rrule, refused after "
                f"its 2 s budget, then a per-second one; "
                f"{med([run['schedule_request_s'] for run in runs]):.2f} s) / while a 10,000-run "
                f"backfill runs ({med([run['backfill_request_s'] for run in runs]):.2f} s); "
                f"idle p99 {ms(p99['idle'])}; max "
                f"{ms(max(run['schedule']['max_ms'] for run in runs) / 1000)} / "
                f"{ms(max(run['backfill']['max_ms'] for run in runs) / 1000)}",
                {"runs": runs},
            )
        )
    return rows


def bench_blocks_variables(r: Runner, reps: int) -> list[Row]:
    rows = []
    operations = ("variable_get", "secret_load_get", "variable_set", "secret_save")
    for mode in ("embedded", "server"):
        try:
            runs = [r.run("blocks_variables.py", mode).result for _ in range(reps)]
        except BenchError as exc:
            rows.append(Row(f"blocks_variables_{mode}", "failed", "", False, str(exc)[-200:]))
            continue
        median = {op: med([run[op]["median_ms"] for run in runs]) / 1000 for op in operations}
        p95 = {op: max(run[op]["p95_ms"] for run in runs) / 1000 for op in operations}
        target = CONFIG_READ_TARGET_S[mode]
        where = "no server (in-process API)" if mode == "embedded" else "a real server (SQLite)"
        rows.append(
            Row(
                f"blocks_variables_{mode}",
                f"get {ms(median['variable_get'])}, load {ms(median['secret_load_get'])}",
                f"<= {ms(target)} median each",
                max(median["variable_get"], median["secret_load_get"]) <= target,
                f"{where}; median of {reps} processes x {runs[0]['variable_get']['n']} calls: "
                f"Variable.get {ms(median['variable_get'])} (p95 {ms(p95['variable_get'])}), "
                f"Secret.load().get() {ms(median['secret_load_get'])} "
                f"(p95 {ms(p95['secret_load_get'])}); writes, no target: Variable.set "
                f"{ms(median['variable_set'])}, Secret.save {ms(median['secret_save'])}",
                {"runs": runs},
            )
        )
    return rows


EVENTS_INGEST_TARGET = {"sqlite": 3_000.0, "postgres": 10_000.0}
EVENTS_FILTER_P95_TARGET_S = 0.050


def bench_events(r: Runner, reps: int) -> list[Row]:
    rows = []
    for backend in ("sqlite", "postgres"):
        name = f"events_ingest_{backend}"
        try:
            runs = [r.run("events.py", "ingest", backend).result for _ in range(reps)]
        except BenchError as exc:
            rows.append(Row(name, "failed", "", False, str(exc)[-200:]))
            continue
        rates = [run["per_s"] for run in runs]
        target = EVENTS_INGEST_TARGET[backend]
        each = runs[0]["events"] // runs[0]["clients"]
        rows.append(
            Row(
                name,
                f"{med(rates):,.0f}/s",
                f">= {target:,.0f}/s",
                med(rates) >= target,
                f"{spread(rates, lambda v: f'{v:,.0f}/s')}; real server, "
                f"{runs[0]['clients']} client processes x {each:,}"
                f" events, POST /api/events ({runs[0]['batch']} a request); every event found "
                "afterwards through /api/events/filter",
                {"per_s": rates},
            )
        )
    try:
        found = r.run("events.py", "query").result
    except BenchError as exc:
        return [*rows, Row("events_filter_postgres", "failed", "", False, str(exc)[-200:])]
    by_name, by_resource = found["by_name"], found["by_resource"]
    worst = max(by_name["p95_ms"], by_resource["p95_ms"]) / 1000
    rows.append(
        Row(
            "events_filter_postgres",
            f"p95 {ms(worst)}",
            f"<= {ms(EVENTS_FILTER_P95_TARGET_S)} p95",
            worst <= EVENTS_FILTER_P95_TARGET_S,
            f"{found['rows']:,} events stored (PostgreSQL); POST /api/events/filter, limit 50, "
            f"100 requests each: by name prefix p50 {by_name['p50_ms']:.1f} ms / p95 "
            f"{by_name['p95_ms']:.1f} ms, by resource id p50 "
            f"{by_resource['p50_ms']:.1f} ms / p95 {by_resource['p95_ms']:.1f} ms",
            found,
        )
    )
    return rows


AUTOMATION_LATENCY_TARGET_S = (0.100, 0.500)  # p50, p95
AUTOMATION_LOAD = (1000, 1000, 60)  # automations, events a second, seconds


ARTIFACTS_TARGET_S = 1.0
"""500 markdown + 500 table artifacts from one flow over a local server, in all."""


def bench_artifacts(r: Runner, reps: int) -> list[Row]:
    try:
        runs = [r.run("artifacts.py", "500").result for _ in range(reps)]
    except BenchError as exc:
        return [Row("artifacts_server", "failed", "", False, str(exc)[-200:])]
    seconds = [run["seconds"] for run in runs]
    stored_all = all(run["stored"] == 2 * 2 * run["n"] for run in runs)
    return [
        Row(
            "artifacts_server",
            f"{med(seconds):.2f} s",
            f"<= {ARTIFACTS_TARGET_S:.1f} s",
            med(seconds) <= ARTIFACTS_TARGET_S and stored_all,
            f"{spread(seconds, lambda v: f'{v:.2f} s')}; 500 keyed markdown + 500 table "
            "artifacts from one flow to a real local server (SQLite), until all are stored; "
            f"{med([run['per_artifact_ms'] for run in runs]):.2f} ms per artifact "
            "(Prefect 3.8.8: 11-21 ms each)",
            {"seconds": seconds},
        )
    ]


PAUSE_RESUME_TARGET_S = 0.300
"""Resume -> the paused flow continues, p50."""


def bench_pause_resume(r: Runner, reps: int) -> list[Row]:
    rows = []
    for mode in ("embedded", "server"):
        name = f"pause_resume_{mode}"
        try:
            found = r.run("pause_resume.py", mode, str(reps)).result
        except BenchError as exc:
            rows.append(Row(name, "failed", "", False, str(exc)[-200:]))
            continue
        p50 = found["p50_ms"] / 1000
        where = (
            "no server: the resume goes through the in-process API to the SQLite file"
            if mode == "embedded"
            else "a real local server (SQLite): the paused flow long-polls it"
        )
        rows.append(
            Row(
                name,
                f"p50 {ms(p50)}, p95 {ms(found['p95_ms'] / 1000)}",
                f"<= {ms(PAUSE_RESUME_TARGET_S)} p50",
                p50 <= PAUSE_RESUME_TARGET_S,
                f"{found['n']} pauses of one flow, each resumed by another thread: from the "
                f"resume call to pause_flow_run returning; {where}",
                found,
            )
        )
    return rows


METRICS_SCRAPE_TARGET_S = 0.100
"""`GET /api/metrics` with 100,000 runs stored on PostgreSQL, p50."""


def bench_metrics_scrape(r: Runner, reps: int) -> list[Row]:
    try:
        found = r.run("metrics_scrape.py", "100000", str(reps), check=False).result
    except BenchError as exc:
        return [Row("metrics_scrape_postgres", "failed", "", False, str(exc)[-200:])]
    p50 = found["p50_s"]
    return [
        Row(
            "metrics_scrape_postgres",
            f"p50 {ms(p50)}, p95 {ms(found['p95_s'])}",
            f"<= {ms(METRICS_SCRAPE_TARGET_S)} p50",
            p50 <= METRICS_SCRAPE_TARGET_S,
            f"GET /api/metrics on a real server over PostgreSQL with {found['runs']:,} flow runs "
            f"stored (4 pools, 8 workers, 3 limits): {found['series']} series, "
            f"{found['bytes']:,} bytes; {found['scrapes']} scrapes",
            found,
        )
    ]


TRACING_ADDED_TARGET_US = 30.0
"""What tracing on (OTLP export) adds to a task run, at most."""


def bench_tracing_overhead(r: Runner, reps: int) -> list[Row]:
    try:
        found = r.run("tracing_overhead.py", "1000", str(reps), check=False).result
    except BenchError as exc:
        return [Row("tracing_overhead", "failed", "", False, str(exc)[-200:])]
    added = found["added_per_task_us"]
    return [
        Row(
            "tracing_overhead",
            f"+{added:.0f} us/task",
            f"<= +{TRACING_ADDED_TARGET_US:.0f} us/task",
            added <= TRACING_ADDED_TARGET_US,
            f"{found['n']:,} task runs of one flow, embedded store, best of {found['reps']}: "
            f"{found['off_per_task_us']:.0f} us/task tracing off, "
            f"{found['on_per_task_us']:.0f} us/task on (a span per run, exported over "
            "OTLP/HTTP to a receiver in another process, flushed before the clock stops)",
            found,
        )
    ]


def bench_automations(r: Runner, reps: int) -> list[Row]:
    rows = []
    p50_target, p95_target = AUTOMATION_LATENCY_TARGET_S
    for backend in ("sqlite", "postgres"):
        name = f"automations_latency_{backend}"
        try:
            found = r.run("automations.py", "latency", backend, str(reps)).result
        except BenchError as exc:
            rows.append(Row(name, "failed", "", False, str(exc)[-200:]))
            continue
        p50, p95 = found["p50_ms"] / 1000, found["p95_ms"] / 1000
        rows.append(
            Row(
                name,
                f"p50 {ms(p50)}, p95 {ms(p95)}",
                f"<= {ms(p50_target)} p50, <= {ms(p95_target)} p95",
                p50 <= p50_target and p95 <= p95_target,
                f"{found['n']} events: POST /api/events of an event a reactive trigger expects "
                "-> the flow run its run-deployment action creates is readable; real server",
                found,
            )
        )
    count, rate, seconds = AUTOMATION_LOAD
    try:
        load = r.run(
            "automations.py", "load", "postgres", str(count), str(rate), str(seconds)
        ).result
    except BenchError as exc:
        return [*rows, Row("automations_load_postgres", "failed", "", False, str(exc)[-200:])]
    kept_up = load["backlog_at_end"] <= rate and load["left"] == 0
    rows.append(
        Row(
            "automations_load_postgres",
            f"backlog at end {load['backlog_at_end']:,}, max {load['max_backlog']:,}",
            f"<= {rate:,} (1 s of events) at the end",
            kept_up,
            f"{count:,} enabled automations, {load['rate']:,.0f} events/s for {seconds} s "
            f"({load['events']:,} events), real server on PostgreSQL; backlog = events posted - "
            f"events the evaluator took, read every second; drained {load['drain_s']:.1f} s "
            "after the stream ended",
            load,
        )
    )
    return rows


BACKGROUND_LATENCY_TARGET_S = (0.020, 0.100)  # p50, p95
BACKGROUND_THROUGHPUT_TARGET = 500.0  # tasks/s, 4 serving processes on PostgreSQL


def bench_background_tasks(r: Runner, reps: int) -> list[Row]:
    rows = []
    p50_target, p95_target = BACKGROUND_LATENCY_TARGET_S
    try:
        found = r.run("background_tasks.py", "latency", str(reps), check=False).result
    except BenchError as exc:
        rows.append(Row("background_tasks_latency", "failed", "", False, str(exc)[-200:]))
    else:
        p50, p95 = found["p50_ms"] / 1000, found["p95_ms"] / 1000
        rows.append(
            Row(
                "background_tasks_latency",
                f"p50 {ms(p50)}, p95 {ms(p95)}",
                f"<= {ms(p50_target)} p50, <= {ms(p95_target)} p95",
                p50 <= p50_target and p95 <= p95_target,
                f"{found['n']} calls one at a time: delay() -> result() read back from result "
                "storage; real server (SQLite) and one `vibepiper task serve`, default "
                f"settings; max {found['max_ms']:.1f} ms",
                {"samples_s": found["samples_s"]},
            )
        )
    try:
        found = r.run("background_tasks.py", "throughput", "2000", "4", check=False).result
    except BenchError as exc:
        rows.append(Row("background_tasks_throughput", "failed", "", False, str(exc)[-200:]))
        return rows
    checked = found["completed_runs"] >= found["n"] and found["queue_left"] == 0
    rows.append(
        Row(
            "background_tasks_throughput",
            f"{found['per_second']:,.0f} tasks/s",
            f">= {BACKGROUND_THROUGHPUT_TARGET:,.0f} tasks/s",
            found["per_second"] >= BACKGROUND_THROUGHPUT_TARGET and checked,
            f"{found['n']:,} trivial tasks queued, then run by {found['workers']} "
            "`vibepiper task serve` processes on a real server over PostgreSQL: first run "
            f"started -> last run ended {found['seconds']:.2f} s (persisted times); queued "
            f"with delay() from 4 threads at {found['delay_per_second']:,.0f}/s; every "
            "run Completed once, queue empty",
            found,
        )
    )
    return rows


ASSETS_RATIO_TARGET = 2.0
"""A flow materializing 1,000 assets with one check each, against the same flow of plain
tasks."""
LINEAGE_RENDER_TARGET_S = 2.0


def bench_assets(r: Runner, reps: int) -> list[Row]:
    rows = []
    for mode in ("embedded", "server"):
        name = f"assets_overhead_{mode}"
        try:
            found = r.run("assets.py", mode, "1000", str(reps), check=mode == "embedded").result
        except BenchError as exc:
            rows.append(Row(name, "failed", "", False, str(exc)[-200:]))
            continue
        rows.append(
            Row(
                name,
                f"{found['ratio']:.2f}x",
                f"<= {ASSETS_RATIO_TARGET:.1f}x",
                found["ratio"] <= ASSETS_RATIO_TARGET,
                f"1,000 @materialize tasks with one @check each vs 1,000 plain tasks, one "
                f"flow each, until stored ({found['store']}): "
                f"{found['per_task_assets_ms'] * 1000:.0f} vs "
                f"{found['per_task_plain_ms'] * 1000:.0f} us per task; CPU ratio "
                f"{found['cpu_ratio']:.2f}",
                found,
            )
        )
    try:
        found = r.run("assets_lineage.py", "500", "2000", "3", check=False).result
    except BenchError as exc:
        return [*rows, Row("assets_lineage_render", "failed", "", False, str(exc)[-200:])]
    rendered = "render_s" in found
    rows.append(
        Row(
            "assets_lineage_render",
            f"{found['render_s']:.2f} s" if rendered else "no chromium",
            f"<= {LINEAGE_RENDER_TARGET_S:.1f} s",
            rendered and found["render_s"] <= LINEAGE_RENDER_TARGET_S,
            f"/assets lineage with {found['assets']} assets and {found['edges']:,} edges in "
            f"Chromium, until every node is drawn; GET /api/assets/lineage "
            f"{found['lineage_api_s'] * 1000:.0f} ms; catalogue catch-up of the events "
            f"{found['catch_up_s']:.2f} s",
            found,
        )
    )
    return rows


# name -> (function, repetitions, runs in --quick)
WORKLOADS_SPEC: dict[str, tuple[Callable[[Runner, int], list[Row]], int, bool]] = {
    "import": (bench_import, 10, True),
    "cached_rerun": (bench_cached_rerun, 5, True),
    "resume": (bench_resume, 3, True),
    "slots": (bench_slots, 3, True),
    "store_open": (bench_store_open, 5, True),
    "forty_tasks": (bench_forty, 5, True),
    "forty_tasks_existing_db": (bench_forty_existing_db, 5, True),
    "sequential": (bench_sequential, 7, True),
    "map_1000": (bench_map, 5, True),
    "subflows": (bench_subflows, 5, True),
    "retries": (bench_retries, 5, True),
    "dask_map": (bench_dask_map, 3, False),
    "sequential_100k": (bench_sequential_100k, 3, False),
    "server_transitions": (bench_server_transitions, 3, False),
    "server_slots": (bench_server_slots, 3, False),
    "map_1000_server": (bench_map_server, 5, False),
    "worker_latency": (bench_worker_latency, 40, False),
    "container_latency": (bench_container_latency, 20, False),
    "server_health": (bench_server_health, 3, False),
    "blocks_variables": (bench_blocks_variables, 3, False),
    "events": (bench_events, 3, False),
    "automations": (bench_automations, 40, False),
    "artifacts": (bench_artifacts, 3, False),
    "background_tasks": (bench_background_tasks, 100, False),
    "pause_resume": (bench_pause_resume, 20, False),
    "assets": (bench_assets, 3, False),
    "metrics_scrape": (bench_metrics_scrape, 30, False),
    "tracing_overhead": (bench_tracing_overhead, 7, False),
}


# --- the environment and the report -----------------------------------------------------------
def embedded_store_exists() -> bool:
    code = (
        "import importlib.util, sys; "
        "sys.exit(importlib.util.find_spec('vibepiper.store.embedded') is None)"
    )
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def source_digest() -> str:
    """A digest of src/**/*.py, which identifies the code even before any commit."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _read_first(path: str, prefix: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _filesystem(path: Path) -> str:
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as handle:
            for line in handle:
                fields = line.split()
                mount = fields[1]
                if str(path).startswith(mount) and len(mount) > len(best):
                    best, kind = mount, fields[2]
    except OSError:
        pass
    return kind


def machine_info(tmp_root: Path) -> dict[str, str]:
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain")
    commit_text = "none (no commit yet)" if commit is None else commit[:12]
    if status:
        commit_text += f" + {len(status.splitlines())} uncommitted/untracked paths"
    memtotal = _read_first("/proc/meminfo", "MemTotal")  # "24684096 kB"
    if memtotal and memtotal.endswith(" kB"):
        memtotal = f"{int(memtotal.split()[0]) / 1024**2:.1f} GiB"
    version = subprocess.run(
        [sys.executable, "-c", "import vibepiper; print(vibepiper.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _read_first("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "memory": memtotal or "?",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        "sqlite": sqlite3.sqlite_version,
        "vibepiper": version or "?",
        "git commit": commit_text,
        "source digest (sha256 of src/**/*.py)": source_digest(),
        "temp homes": f"{tmp_root} ({_filesystem(tmp_root)})",
        "load average at start (1/5/15 min)": _loadavg(),
    }


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def print_table(rows: list[Row]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in rows:
            ok = "-" if row.ok is None else ("ok" if row.ok else "MISS")
            print(f"{row.name:26} {row.measured:32} {row.target:30} {ok:4} {row.details}")
        return
    table = Table(title="VibePiper benchmarks (medians)")
    for column in ("workload", "measured", "target", "ok?", "details"):
        table.add_column(column, overflow="fold")
    for row in rows:
        ok = "-" if row.ok is None else ("[green]yes[/]" if row.ok else "[red]NO[/]")
        table.add_row(row.name, row.measured, row.target, ok, row.details)
    Console(width=max(shutil.get_terminal_size().columns, 150)).print(table)


PREFECT_REFERENCE = [
    ("`import` time", "1.35 s", "import"),
    ("40 trivial tasks, whole process", "11.0 s (2.6 s against a running server)", "forty_tasks"),
    ("marginal overhead per sequential task", "~5.5 ms", "sequential_marginal"),
    ("1000 mapped tasks, whole process", "18.5 s, 230 MB peak RSS", "map_1000"),
    ("10 subflows x 20 tasks", "20 s", "subflows_10x20"),
]


def write_results(
    path: Path,
    rows: list[Row],
    info: dict[str, str],
    mode: str,
    memory: str | None,
    elapsed: float,
) -> None:
    by_name = {row.name: row for row in rows}
    out: list[str] = ["# VibePiper benchmark results", ""]
    out.append(f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}")
    for key, value in info.items():
        out.append(f"- {key}: {value}")
    out.append(f"- load average at end: {_loadavg()} (other work on the machine skews results)")
    out.append(f"- mode: {mode} (runner took {elapsed:.0f} s)")
    if memory:
        out.append(
            f"- **store: `VIBEPIPER_HOME=:memory:`** ({memory}): nothing was persisted, "
            "so these numbers omit the store's cost."
        )
    else:
        out.append(
            "- store: the embedded SQLite store, a new empty `VIBEPIPER_HOME` per process; "
            "after each process the runner checked that every flow and task run is in the "
            "database and Completed"
        )
    out += ["", "Produced by `python benchmarks/run.py`; see `benchmarks/README.md`.", ""]
    out += ["| workload | measured (median) | target | ok? | details |", "|---|---|---|---|---|"]
    for row in rows:
        ok = "-" if row.ok is None else ("yes" if row.ok else "**NO**")
        details = row.details.replace("|", "/")
        out.append(f"| {row.name} | {row.measured} | {row.target} | {ok} | {details} |")
    out += [
        "",
        "## Prefect 3.8.8 for scale",
        "",
        "Reference figures supplied with the benchmark brief (same kind of machine), "
        "not measured by this runner.",
        "",
        "| measurement | Prefect 3.8.8 | VibePiper (this run) |",
        "|---|---|---|",
    ]
    for label, prefect, name in PREFECT_REFERENCE:
        row = by_name.get(name)
        ours = row.measured if row else "(not run)"
        if row and name == "map_1000":
            ours += f", {row.details.rsplit('peak RSS ', 1)[-1]} peak RSS"
        out.append(f"| {label} | {prefect} | {ours} |")
    out += ["", "## Raw samples", "", "```json"]
    out.append(json.dumps({row.name: row.samples for row in rows}, indent=1))
    out += ["```", ""]
    path.write_text("\n".join(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-task workload")
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help=f"run only these workloads: {', '.join(WORKLOADS_SPEC)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the report (default benchmarks/RESULTS.md; with --only, "
        "nothing is written unless --output is given)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write a report")
    parser.add_argument(
        "--memory",
        action="store_true",
        help="run with VIBEPIPER_HOME=:memory: (automatic if the embedded store is missing)",
    )
    parser.add_argument("--tmpdir", type=Path, help="where to create the temporary homes")
    args = parser.parse_args(argv)

    names = list(WORKLOADS_SPEC)
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in names if name not in WORKLOADS_SPEC]
        if unknown:
            parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS_SPEC)}")
    elif args.quick:
        names = [name for name in names if WORKLOADS_SPEC[name][2]]
    output = args.output
    if output is None and not args.only:
        output = HERE / "RESULTS.md"
    if args.no_write:
        output = None

    memory: str | None = "forced with --memory" if args.memory else None
    if memory is None and not embedded_store_exists():
        print("vibepiper.store.embedded is missing: running with VIBEPIPER_HOME=:memory:")
        memory = "the embedded SQLite store did not exist yet"

    started = time.perf_counter()
    tmp_root = Path(tempfile.mkdtemp(prefix="vibepiper-bench-", dir=args.tmpdir))
    rows: list[Row] = []
    failed = False
    try:
        runner = Runner(tmp_root, memory is not None)
        info = machine_info(tmp_root)
        for name in names:
            bench, reps, _ = WORKLOADS_SPEC[name]
            print(f"running {name} ...", flush=True)
            try:
                rows.extend(bench(runner, reps))
            except BenchError as exc:
                failed = True
                print(f"  FAILED: {exc}", file=sys.stderr)
                rows.append(Row(name, "FAILED", "", False, str(exc).splitlines()[0]))
    finally:
        if not failed:  # a failed run's files are kept for inspection
            shutil.rmtree(tmp_root, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print_table(rows)
    if output is not None:
        mode = "only " + ",".join(names) if args.only else ("quick" if args.quick else "full")
        write_results(output, rows, info, mode, memory, elapsed)
        print(f"wrote {output}")
    print(f"total {elapsed:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Profile the per-task hot path: N sequential trivial tasks in one flow.

    python benchmarks/profile_tasks.py [--n 5000] [--top 30] [--pyinstrument] [--map]

Runs in this process, against the embedded store in a new temporary `VIBEPIPER_HOME`
(console logging is switched off). A warm-up flow runs first, so one-off costs (opening
the store, lazy imports) stay out of the profile. Prints:

- wall time and CPU time per task, and how the CPU splits between the main thread
  and the store's writer thread (cProfile only sees the main thread);
- cProfile's top functions by own time and by cumulative time, in microseconds per
  task;
- with --pyinstrument (`pip install pyinstrument`), pyinstrument's call tree too.

`--memory` runs against the in-memory store, to separate the engine's cost from the
embedded store's. `--map` profiles `task.map` over N inputs (thread pool) instead of
sequential calls.
Not run by the test suite or by `run.py`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import tempfile
import threading
import time
from collections.abc import Callable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="tasks in the profiled flow")
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    parser.add_argument("--pyinstrument", action="store_true", help="also run pyinstrument")
    parser.add_argument("--map", action="store_true", help="profile .map instead")
    parser.add_argument(
        "--memory", action="store_true", help="use VIBEPIPER_HOME=:memory: (engine cost alone)"
    )
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="vibepiper-profile-")
    os.environ["VIBEPIPER_HOME"] = ":memory:" if args.memory else home
    os.environ["VIBEPIPER_LOGGING_TO_CONSOLE"] = "false"
    try:
        run(args)
    finally:
        from vibepiper.store import reset_store

        reset_store()
        shutil.rmtree(home, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    from vibepiper import flow, task
    from vibepiper.store import get_store

    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    def sequential(n: int) -> int:
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    @flow
    def mapped(n: int) -> list[int]:
        return inc.map(range(n)).result()

    n = args.n
    body: Callable[[], object] = (lambda: mapped(n)) if args.map else (lambda: sequential(n))
    kind = "mapped" if args.map else "sequential"
    print(f"store: {get_store()!r}; {n} {kind} tasks per profiled flow")
    if args.map:
        mapped(200)
    else:
        sequential(200)  # warm-up

    # Plain timing first: the profilers slow everything down several times.
    cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    body()
    wall = time.perf_counter() - wall0
    cpu, main_cpu = time.process_time() - cpu0, time.thread_time() - thread0
    per = 1e6 / n
    print(
        f"unprofiled: wall {wall * per:.1f} us/task; CPU {cpu * per:.1f} us/task, of which "
        f"main thread {main_cpu * per:.1f}, other threads (store writer, pool) "
        f"{(cpu - main_cpu) * per:.1f}; threads alive: "
        f"{', '.join(sorted(t.name for t in threading.enumerate()))}"
    )

    writer_profiler, restore = profile_store_writer()
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        body()
        profiler.disable()
    finally:
        restore()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\ncProfile (main thread): {total * per:.1f} us/task profiled (inflated by cProfile)")
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        print(f"\n--- main thread: top {args.top} by {title}, us per task ---")
        print_top(stats, key, args.top, per)
    if writer_profiler is not None:
        try:
            wstats = pstats.Stats(writer_profiler)
        except TypeError:  # nothing recorded
            print("\n(the store writer recorded nothing)")
        else:
            wtotal = wstats.total_tt  # type: ignore[attr-defined]
            print(f"\n--- store writer thread ({wtotal * per:.1f} us/task profiled): top 15 ---")
            print_top(wstats, "tottime", 15, per)

    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler_pi = Profiler(interval=0.0001)
        profiler_pi.start()
        body()
        profiler_pi.stop()
        print("\n--- pyinstrument ---")
        print(profiler_pi.output_text(unicode=False, color=False, show_all=False))


def profile_store_writer() -> tuple[cProfile.Profile | None, Callable[[], None]]:
    """Profile the embedded store's writer thread too (cProfile is per thread).

    Wraps `EmbeddedStore._write_some` (one batch) for the duration; does nothing if the
    store has no such method.
    """
    from vibepiper.store import embedded

    original = getattr(embedded.EmbeddedStore, "_write_some", None)
    if original is None:
        return None, lambda: None
    profiler = cProfile.Profile()

    def write_some(self: object, *args: object) -> None:
        profiler.enable()
        try:
            original(self, *args)
        finally:
            profiler.disable()

    embedded.EmbeddedStore._write_some = write_some  # type: ignore[method-assign]

    def restore() -> None:
        embedded.EmbeddedStore._write_some = original  # type: ignore[method-assign]

    return profiler, restore


def print_top(stats: pstats.Stats, key: str, top: int, per: float) -> None:
    stream = io.StringIO()
    stats.stream = stream  # type: ignore[attr-defined]
    stats.sort_stats(key)
    rows = []
    for func in stats.fcn_list[:top]:  # type: ignore[attr-defined]
        _, nc, tt, ct, _ = stats.stats[func]  # type: ignore[attr-defined]
        filename, line, name = func
        where = filename.split("/site-packages/")[-1].split("/src/")[-1]
        rows.append(
            f"{tt * per:8.2f} {ct * per:8.2f} {nc * per / 1e6:7.2f}  {where}:{line}({name})"
        )
    print(f"{'own':>8} {'cum':>8} {'calls':>7}  function   (per task)")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

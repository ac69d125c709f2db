"""Workload `dask_map`: 1000 trivial mapped tasks on a DaskTaskRunner, or on threads.

Usage: python dask_map.py dask|threads [N]   (default 1000)

`dask`: the flow's runner is `DaskTaskRunner()`, whose default `LocalCluster` has 2
worker processes with one thread each; the cluster starts on the first task call and
closes at the end of the flow run, both inside the timed flow call. `threads`: the
default `ThreadPoolTaskRunner`. The runner times the whole process; the workload
reports the time of the flow call (`seconds`).

The `__main__` guard is needed: Dask starts its worker processes with `spawn`, which
re-imports this script in each of them.
"""

import sys
import time

from vibepiper import flow, task


@task
def double(x: int) -> int:
    return 2 * x


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "dask"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    if kind == "dask":
        from vibepiper.task_runners import DaskTaskRunner

        runner = DaskTaskRunner()
    elif kind == "threads":
        from vibepiper.task_runners import ThreadPoolTaskRunner

        runner = ThreadPoolTaskRunner()
    else:
        raise SystemExit(f"unknown runner {kind!r}: use dask or threads")

    @flow(task_runner=runner)
    def mapped(n: int) -> list[int]:
        return double.map(range(n)).result()

    start = time.perf_counter()
    result = mapped(n)
    seconds = time.perf_counter() - start
    assert result == [2 * i for i in range(n)], result[:10]

    from _bench import emit, store_kind

    emit(
        n=n,
        runner=kind,
        seconds=seconds,
        store=store_kind(),
        expect={"flow_runs": 1, "task_runs": n},
    )


if __name__ == "__main__":
    main()

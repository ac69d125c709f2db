"""Workload `sequential`: N trivial tasks called one after another in one flow.

Usage: python sequential.py N

The timer runs around the flow call only; it includes the flush of the store that
happens when a top-level flow returns. The store is opened before the timer starts.
Each task takes the previous one's output, so every call really runs.
"""

import sys
import time

from _bench import emit, open_store, store_kind

from vibepiper import flow, task


@task
def inc(x: int) -> int:
    return x + 1


@flow
def sequential(n: int) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


def main() -> None:
    n = int(sys.argv[1])
    open_store()
    t0 = time.perf_counter()
    result = sequential(n)
    elapsed = time.perf_counter() - t0
    assert result == n, result
    emit(
        seconds=elapsed,
        n=n,
        per_task_us=elapsed / n * 1e6,
        store=store_kind(),
        expect={"flow_runs": 1, "task_runs": n},
    )


main()

"""Workload `subflows`: a parent flow calling 10 subflows of 20 chained tasks each.

Each task takes the previous task's output; each subflow starts from the previous
subflow's result. The timer runs around the parent flow call (store opened before).
"""

import time

from _bench import emit, open_store, store_kind

from vibepiper import flow, task

SUBFLOWS = 10
TASKS = 20


@task
def inc(x: int) -> int:
    return x + 1


@flow
def chain(start: int) -> int:
    x = start
    for _ in range(TASKS):
        x = inc(x)
    return x


@flow
def parent() -> int:
    x = 0
    for _ in range(SUBFLOWS):
        x = chain(x)
    return x


def main() -> None:
    open_store()
    t0 = time.perf_counter()
    result = parent()
    elapsed = time.perf_counter() - t0
    assert result == SUBFLOWS * TASKS, result
    emit(
        seconds=elapsed,
        store=store_kind(),
        # each subflow call also records a proxy task run in the parent flow run
        expect={"flow_runs": 1 + SUBFLOWS, "task_runs": SUBFLOWS * TASKS + SUBFLOWS},
    )


main()

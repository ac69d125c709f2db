"""Workload `cached_rerun`: 50 cached tasks, run twice in one process; the second run is timed.

Every task of the second run is a cache hit: its result is read from the result
storage and the function is not called. The timer runs around the second flow call
(including the final store flush).
"""

import time

from _bench import emit, open_store, store_kind

from vibepiper import flow, task
from vibepiper.cache_policies import INPUTS

CALLS = []


@task(cache_policy=INPUTS)
def double(x: int) -> int:
    CALLS.append(x)
    return x * 2


@flow
def cached(n: int) -> int:
    return sum(double(i) for i in range(n))


def main() -> None:
    open_store()
    first = cached(50)
    calls_after_first = len(CALLS)
    t0 = time.perf_counter()
    second = cached(50)
    elapsed = time.perf_counter() - t0
    assert first == second == 2450, (first, second)
    assert calls_after_first == 50 and len(CALLS) == 50, len(CALLS)
    emit(
        seconds=elapsed,
        store=store_kind(),
        expect={"flow_runs": 2, "task_runs": 100},
    )


if __name__ == "__main__":
    main()

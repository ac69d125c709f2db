"""Workload `retries`: 20 tasks that each fail twice, then succeed on the third attempt.

`retries=2, retry_delay_seconds=0`, called one after another in a flow. The timer runs
around the flow call (store opened before). Every failed attempt is recorded and
logged with its traceback, as usual.
"""

import time
from collections import Counter

from _bench import emit, open_store, store_kind

from vibepiper import flow, task

N = 20
FAILURES = 2
attempts: Counter[int] = Counter()


@task(retries=FAILURES, retry_delay_seconds=0)
def flaky(i: int) -> int:
    attempts[i] += 1
    if attempts[i] <= FAILURES:
        raise RuntimeError(f"task {i}: planned failure {attempts[i]}")
    return i


@flow
def retrying() -> list[int]:
    return [flaky(i) for i in range(N)]


def main() -> None:
    open_store()
    t0 = time.perf_counter()
    result = retrying()
    elapsed = time.perf_counter() - t0
    assert result == list(range(N)), result
    assert all(attempts[i] == FAILURES + 1 for i in range(N)), attempts
    emit(
        seconds=elapsed,
        attempts=sum(attempts.values()),
        store=store_kind(),
        expect={"flow_runs": 1, "task_runs": N, "task_run_count": FAILURES + 1},
    )


main()

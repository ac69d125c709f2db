"""Workload `map_1000`: a whole process mapping a trivial task over 1000 inputs.

Usage: python map_tasks.py [N]   (default 1000)

`.map` submits every task run to the flow's default task runner (a thread pool) and
`.result()` on the returned futures list waits for all of them. The runner times the
whole process and reads its peak RSS.
"""

import sys

from vibepiper import flow, task


@task
def double(x: int) -> int:
    return 2 * x


@flow
def mapped(n: int) -> list[int]:
    return double.map(range(n)).result()


n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
result = mapped(n)
assert result == [2 * i for i in range(n)], result[:10]

from _bench import emit, store_kind  # noqa: E402

emit(n=n, store=store_kind(), expect={"flow_runs": 1, "task_runs": n})

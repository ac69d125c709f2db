"""Workload `forty_tasks`: a whole process running one flow of 40 trivial tasks.

The runner times the process from spawn to exit (interpreter start, import, the
store, the flow, the exit-time close of the store).
"""

from vibepiper import flow, task

N = 40


@task
def noop(i: int) -> int:
    return i


@flow
def forty() -> list[int]:
    return [noop(i) for i in range(N)]


result = forty()
assert result == list(range(N)), result

from _bench import emit, store_kind  # noqa: E402

emit(store=store_kind(), expect={"flow_runs": 1, "task_runs": N})

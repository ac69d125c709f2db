"""Workload `resume`: a 1000-task flow fails at task 900; its retry is timed.

Usage: python resume.py fail      # the original run: tasks 0-899 complete, 900 fails
       python resume.py retry ID  # the retry, in a new process, timed in process

Results are persisted, so the retry reuses tasks 0-899 and runs only 900-999.
"""

import os
import sys
import time
from pathlib import Path

from _bench import emit, open_store, store_kind

from vibepiper import flow, task

RAN = Path(os.environ.get("RESUME_RAN_FILE", "ran.txt"))
# only the original run fails; the retry loads this file again with argv "retry"
FAIL = sys.argv[1:2] == ["fail"]


@task(persist_result=True)
def step(i: int, total: int) -> int:
    with RAN.open("a") as out:
        out.write(f"{i}\n")
    if FAIL and i == 900:
        raise ValueError("task 900 failed")
    return total + i


@flow
def long_chain(n: int) -> int:
    total = 0
    for i in range(n):
        total = step(i, total)
    return total


def main() -> None:
    open_store()
    if sys.argv[1] == "fail":
        state = long_chain(1000, return_state=True)
        assert state.is_failed()
        emit(flow_run_id=str(state.state_details.flow_run_id), store=store_kind())
        return
    from vibepiper.runs import retry_flow_run

    before = len(RAN.read_text().split())
    t0 = time.perf_counter()
    state = retry_flow_run(sys.argv[2])
    elapsed = time.perf_counter() - t0
    ran = len(RAN.read_text().split()) - before
    assert state.is_completed() and state.result() == sum(range(1000)), state
    emit(seconds=elapsed, tasks_run=ran, store=store_kind())


if __name__ == "__main__":
    main()

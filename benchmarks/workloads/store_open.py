"""Workload `store_open`: time opening the process's store on an empty `VIBEPIPER_HOME`.

On a fresh home this creates the SQLite database and its schema. The whole-process
workloads pay this once per process; the in-process timers exclude it.
"""

import time

from _bench import emit, open_store, store_kind

t0 = time.perf_counter()
open_store()
elapsed = time.perf_counter() - t0

import sys  # noqa: E402

emit(
    seconds=elapsed,
    store=store_kind(),
    sqlalchemy_imported="sqlalchemy" in sys.modules,
    alembic_imported="alembic" in sys.modules,
    expect={"flow_runs": 0, "task_runs": 0},
)

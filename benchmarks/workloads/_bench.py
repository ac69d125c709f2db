"""Helpers shared by the workload scripts (imported only after anything timed).

A workload prints exactly one line starting with `BENCH_RESULT ` followed by a JSON
object; `benchmarks/run.py` parses it. Everything else a workload prints is ignored.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

MARKER = "BENCH_RESULT "


def open_store() -> Any:
    """Open this process's store now, so that a timer started afterwards excludes it.

    Opening the embedded store creates the database and its schema on a fresh
    `VIBEPIPER_HOME`; that one-off cost is measured by the `store_open` workload and by
    the whole-process workloads, not by the in-process timers.
    """
    from vibepiper.store import get_store

    return get_store()


def store_kind() -> str:
    """The class name of the store the runs went to (`EmbeddedStore`, `MemoryStore`)."""
    from vibepiper.store import get_store

    return type(get_store()).__name__


def emit(**fields: Any) -> None:
    """Print the result line, with this process's peak RSS (KiB) so far."""
    fields.setdefault("self_maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    sys.stdout.write(MARKER + json.dumps(fields, sort_keys=True) + "\n")
    sys.stdout.flush()

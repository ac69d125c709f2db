"""Workload `import`: time `import vibepiper` in this fresh interpreter.

Nothing else is imported before the timed import (not even the benchmark helpers).
"""

import time

t0 = time.perf_counter()
import vibepiper  # noqa: E402

elapsed = time.perf_counter() - t0

import sys  # noqa: E402

from _bench import emit  # noqa: E402

HEAVY = ("sqlalchemy", "alembic", "sqlite3", "pydantic", "rich", "typer", "cloudpickle")

emit(
    seconds=elapsed,
    version=vibepiper.__version__,
    modules_loaded=len(sys.modules),
    heavy_modules_loaded=sorted(name for name in HEAVY if name in sys.modules),
)

"""The cross-process lock held while a SQLite database file is created or migrated.

The embedded store and the server both take it, on `<database>.lock` beside the file,
so two processes opening a new or old database never migrate it at once. No
SQLAlchemy import: the embedded store's fast open path uses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process lock
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def migration_lock(database_path: Path) -> Iterator[None]:
    """Hold the exclusive migration lock of the SQLite file at `database_path`."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock_path = database_path.with_name(database_path.name + ".lock")
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

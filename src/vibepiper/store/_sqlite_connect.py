"""Opening the embedded SQLite database: pragmas, lock retries, schema check.

Plain `sqlite3` only. A database at `HEAD_REVISION` opens without further ado. An
empty one gets the schema from `database.sqlite_ddl` (the DDL Alembic would emit,
kept identical by a test), so a user's first run does not import SQLAlchemy. Only a
database at another revision is migrated by Alembic. Both happen under an exclusive
file lock, so processes opening a new database at the same moment create it once.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from vibepiper.database import sqlite_ddl
from vibepiper.database.migration_lock import migration_lock
from vibepiper.database.revision import HEAD_REVISION
from vibepiper.exceptions import ConfigurationError

T = TypeVar("T")

logger = logging.getLogger("vibepiper.store")

BUSY_TIMEOUT_S = 30.0
PAGE_SIZE = 16384
# A lock error can escape SQLite's busy handler (WAL recovery, a checkpoint racing a
# reader); such errors are retried with jittered backoff for this long.
LOCK_RETRY_S = 120.0


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal."""
    con = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
        # the writer's multi-row INSERTs are large programs: keep few of them around
        cached_statements=32,
    )
    with_lock_retry(lambda: _set_pragmas(con))
    return con


def _set_pragmas(con: sqlite3.Connection) -> None:
    con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    # Before WAL, the only moment it can: a new database gets 16 KiB pages (an existing
    # one keeps its own). Each commit appends its pages to the WAL, frame by frame, and
    # a frame costs more than its bytes: four times fewer frames made a batch of state
    # events ~40% cheaper to commit.
    con.execute(f"PRAGMA page_size = {PAGE_SIZE}")
    mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    # Random UUID keys touch index pages all over the file: a larger page cache (16 MiB,
    # allocated as used) and rarer checkpoints keep batches of thousands of rows cheap.
    con.execute("PRAGMA cache_size = -16384")
    con.execute("PRAGMA wal_autocheckpoint = 10000")


def is_lock_error(exc: BaseException) -> bool:
    """Whether `exc` is SQLite saying another connection holds the lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    text = str(exc)
    return "locked" in text or "busy" in text


def with_lock_retry(action: Callable[[], T], *, patience: float = LOCK_RETRY_S) -> T:
    """Run `action`, retrying it while SQLite reports a lock, for up to `patience` s."""
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay * (1 + random.random()))
        delay = min(delay * 2, 0.5)


def stored_revision(con: sqlite3.Connection) -> str | None:
    """The `alembic_version` of the database (None if it was never migrated)."""
    try:
        rows = con.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return ",".join(sorted(row[0] for row in rows)) or None


def ensure_schema(path: Path, con: sqlite3.Connection) -> None:
    """Bring the database at `path` to `HEAD_REVISION`, migrating only if needed."""
    if with_lock_retry(lambda: stored_revision(con)) == HEAD_REVISION:
        return
    with migration_lock(path):
        found = with_lock_retry(lambda: stored_revision(con))
        if found == HEAD_REVISION:
            return
        if found is None and with_lock_retry(lambda: _create_if_empty(con)):
            return
        _migrate(path, found)


def _create_if_empty(con: sqlite3.Connection) -> bool:
    """Create the head schema in an empty database; False if it is not empty."""
    if sqlite_ddl.DDL_REVISION != HEAD_REVISION:  # pragma: no cover - a test keeps them equal
        return False
    con.execute("BEGIN IMMEDIATE")
    try:
        if con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            con.execute("ROLLBACK")
            return False
        for statement in sqlite_ddl.STATEMENTS:
            con.execute(statement)
        con.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (HEAD_REVISION,))
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    return True


def _migrate(path: Path, found: str | None) -> None:
    from alembic.util import CommandError

    from vibepiper.database.migrate import upgrade

    logger.debug("migrating %s from %s to %s", path, found, HEAD_REVISION)
    try:
        upgrade(f"sqlite:///{path}")
    except CommandError as exc:
        raise ConfigurationError(
            f"The database at {path} is at revision {found!r}, which this version of "
            f"VibePiper (schema {HEAD_REVISION!r}) does not know: it was probably written "
            f"by a newer VibePiper. Upgrade VibePiper or set VIBEPIPER_HOME elsewhere. ({exc})"
        ) from exc

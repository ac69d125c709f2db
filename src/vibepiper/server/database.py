"""The server's database handle: a capped async pool, read and write transactions,
and migrations that are safe when several processes start at once.

`read()` yields a connection in a snapshot transaction that is rolled back at the
end; `write()` yields one in a transaction that commits when the block exits cleanly
(on SQLite it begins IMMEDIATE, taking the write lock before the first read).

On SQLite the server's own writers also queue on an asyncio lock before they take a
connection: SQLite lets one writer in at a time anyway, and a second connection
asking for the lock would be put to sleep by SQLite's busy handler (1, 2, 5, 10, ...
ms), which made every contended write cost tens of milliseconds. Bulk writers (a
backfill's or a scheduler pass's chunks; the late-run, retention and lease-reaper
passes) yield that queue to requests (`write_slot.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vibepiper.database.async_engine import SQLITE_BEGIN_OPTION, create_async_engine
from vibepiper.database.migration_lock import migration_lock
from vibepiper.server.write_slot import WriteSlot

__all__ = ["Database", "downgrade_database", "migrate_database", "redacted", "reset_database"]

# Any constant works: every VibePiper process migrating one PostgreSQL takes this lock.
_MIGRATION_LOCK_KEY = 0x76_69_62_65_70_69_70


class Database:
    """An async engine over VibePiper's schema, with transaction helpers."""

    def __init__(self, url: str | URL, *, max_connections: int, pool_timeout: float) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url, max_connections=max_connections, pool_timeout=pool_timeout
        )
        self._pool_timeout = pool_timeout
        # one queue per event loop (a server has one; test harnesses may drive an app
        # from several, and an asyncio lock must never be shared between loops)
        self._write_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteSlot] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its transaction is rolled back at the end."""
        async with self.engine.connect() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def write(
        self, *, wait: float | None = None, bulk: bool = False
    ) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction committed when the block exits without error.

        `wait`: seconds to wait for a write slot and a pooled connection before
        `sqlalchemy.exc.TimeoutError` (a 503); the pool timeout unless given. The long
        operations that write in chunks (backfills, scheduler passes) wait longer: one
        of their chunks queued behind a slow commit must not fail the whole operation.
        `bulk`: one such chunk; on SQLite, requests waiting to write go first.
        """
        budget = self._pool_timeout if wait is None else max(wait, self._pool_timeout)
        deadline = asyncio.get_running_loop().time() + budget
        if self.dialect != "sqlite":
            async with self._connect(deadline) as connection, connection.begin():
                yield connection
            return
        loop = asyncio.get_running_loop()
        slot = self._write_slots.get(loop)
        if slot is None:
            slot = self._write_slots[loop] = WriteSlot()
        try:
            async with asyncio.timeout_at(deadline):
                await slot.acquire(bulk=bulk)
        except TimeoutError:
            raise sa.exc.TimeoutError(f"no database write slot within {budget:g} s") from None
        try:
            async with self._connect(deadline) as connection:
                await connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                async with connection.begin():
                    yield connection
        finally:
            slot.release()

    @contextlib.asynccontextmanager
    async def _connect(self, deadline: float) -> AsyncIterator[AsyncConnection]:
        """A pooled connection, asking again after a pool timeout until `deadline`."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection = await self.engine.connect()
                break
            except sa.exc.TimeoutError:
                if loop.time() >= deadline:
                    raise
        try:
            yield connection
        finally:
            await connection.close()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def redacted(url: str | URL) -> str:
    """`url` as text with its password hidden (for messages and logs)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def migrate_database(url: str | URL, revision: str = "head") -> str | None:
    """Upgrade the database at `url` to `revision`; returns the revision it is at."""
    from vibepiper.database.migrate import upgrade

    with _migration_connection(url) as connection:
        upgrade(connection, revision)
        return _current(connection)


def downgrade_database(url: str | URL, revision: str = "-1") -> str | None:
    """Downgrade the database at `url` to `revision`; returns the revision it is at."""
    from vibepiper.database.migrate import downgrade

    with _migration_connection(url) as connection:
        downgrade(connection, revision)
        return _current(connection)


def reset_database(url: str | URL) -> str | None:
    """Drop every VibePiper table and data at `url`, then create the schema anew."""
    from vibepiper.database.migrate import downgrade, upgrade

    with _migration_connection(url) as connection:
        downgrade(connection, "base")
        upgrade(connection, "head")
        return _current(connection)


def _current(connection: sa.Connection) -> str | None:
    from vibepiper.database.migrate import current_revision

    return current_revision(connection)


@contextlib.contextmanager
def _migration_connection(url: str | URL) -> Iterator[sa.Connection]:
    """A blocking connection in a transaction, holding the cross-process migration lock."""
    from vibepiper.database.engine import create_engine, sync_url

    target = sync_url(url)
    lock: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if target.get_backend_name() == "sqlite" and target.database not in (None, "", ":memory:"):
        path = Path(target.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        # the embedded store takes the same lock before it creates or migrates the file
        lock = migration_lock(path)
    engine = create_engine(target, poolclass=sa.NullPool)
    try:
        with lock, engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            yield connection
            connection.commit()
    finally:
        engine.dispose()

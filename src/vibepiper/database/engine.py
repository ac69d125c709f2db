"""SQLAlchemy engines configured the way VibePiper's schema expects.

On SQLite: WAL journal, `synchronous=NORMAL`, a 30 s busy timeout (several processes
share one file) and real transactions around DDL, so a migration either happens whole
or not at all. On every backend: JSON encoded by `database.codec`, exactly as the
embedded store's raw writer does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from vibepiper.database import codec

__all__ = [
    "BUSY_TIMEOUT_MS",
    "SQLITE_BEGIN_OPTION",
    "configure_sqlite",
    "create_engine",
    "sync_url",
]

BUSY_TIMEOUT_MS = 30_000

SQLITE_BEGIN_OPTION = "sqlite_begin"
"""Execution option: `"IMMEDIATE"` makes SQLite's BEGIN take the write lock at once."""
"""How long a SQLite connection waits for another writer before giving up."""

_SYNC_DRIVERS = {"sqlite+aiosqlite": "sqlite", "postgresql+asyncpg": "postgresql+psycopg"}


def sync_url(url: str | URL) -> URL:
    """`url` with an async driver swapped for its blocking twin (for migrations)."""
    parsed = sa.make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def create_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A blocking engine for `url`, configured for VibePiper's schema.

    Args:
        url: a SQLAlchemy URL (`sqlite:///path`, `postgresql+psycopg://...`).
        **kwargs: passed to `sqlalchemy.create_engine`.
    """
    kwargs.setdefault("json_serializer", codec.encode_json)
    kwargs.setdefault("json_deserializer", codec.decode_json)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    return engine


def configure_sqlite(engine: Engine) -> None:
    """Set the SQLite pragmas and transactional DDL on every connection of `engine`.

    For an async engine, pass `async_engine.sync_engine`.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide where transactions begin, so that
        # DDL is transactional too (the driver never BEGINs before CREATE TABLE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        begin = "BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN"
        # the server's driver (`database.sqlite_driver`) sends it with the first statement
        defer = getattr(connection.connection.driver_connection, "defer_begin", None)
        if defer is None or not defer(begin):
            connection.exec_driver_sql(begin)

"""Async SQLAlchemy engines over the same schema and encodings as `database.engine`.

The server reads and writes through these. On SQLite (aiosqlite, driven as
`database.sqlite_driver` says: one trip to its thread per statement) the connection
pragmas match `database.engine.configure_sqlite` and the embedded store's (WAL,
`synchronous=NORMAL`, the same busy timeout), so a server and engine processes share
one file. A transaction begins with `BEGIN` (a snapshot for reads) unless the
connection carries the execution option `sqlite_begin="IMMEDIATE"`, which writers
set: taking the write lock up front means SQLite's busy handler waits for other
writers instead of failing a transaction that read first and wrote second.

The pool is capped at `max_connections` with no overflow; a caller that cannot get a
connection within `pool_timeout` seconds gets `sqlalchemy.exc.TimeoutError`.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from vibepiper.database import codec, sqlite_driver
from vibepiper.database.engine import SQLITE_BEGIN_OPTION, configure_sqlite

__all__ = ["SQLITE_BEGIN_OPTION", "async_url", "create_async_engine"]


_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}


def async_url(url: str | URL) -> URL:
    """`url` with a blocking driver swapped for an async one (psycopg 3 is both)."""
    parsed = sa.make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def create_async_engine(
    url: str | URL, *, max_connections: int, pool_timeout: float, **kwargs: Any
) -> AsyncEngine:
    """An async engine for `url` with at most `max_connections` open connections.

    Args:
        url: a SQLAlchemy URL; blocking drivers are swapped for async ones.
        max_connections: the pool's size; there is no overflow beyond it.
        pool_timeout: seconds to wait for a free connection before `TimeoutError`.
        **kwargs: passed to `sqlalchemy.ext.asyncio.create_async_engine`.
    """
    target = async_url(url)
    kwargs.setdefault("json_serializer", codec.encode_json)
    kwargs.setdefault("json_deserializer", codec.decode_json)
    if target.get_backend_name() == "sqlite":
        if target.database in (None, "", ":memory:"):
            raise ValueError("the server needs a SQLite file, not an in-memory database")
        if target.drivername == "sqlite+aiosqlite":
            kwargs.setdefault("module", sqlite_driver.dbapi())
    engine = _create_async_engine(
        target,
        pool_size=max_connections,
        max_overflow=0,
        pool_timeout=pool_timeout,
        **kwargs,
    )
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine.sync_engine)
    else:
        ping_when_idle(engine.sync_engine)
    return engine


PING_AFTER_IDLE_S = 1.0
"""A pooled PostgreSQL connection unused for longer than this is pinged before use."""


def ping_when_idle(engine: sa.Engine) -> None:
    """Ping a pooled connection before use when it lay unused for `PING_AFTER_IDLE_S`;
    a dead one (the database restarted, a proxy closed it) is replaced at once.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip on each request
    under load, where connections come back within milliseconds. A database that went
    away takes longer than that to come back, so a connection used since is alive."""

    @sa.event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool replaces it (and retries the checkout)
            raise sa.exc.DisconnectionError(f"a pooled connection is dead: {exc}") from exc
        if not alive:
            raise sa.exc.DisconnectionError("a pooled connection is dead")


_LAST_USED = "vibepiper_last_used"

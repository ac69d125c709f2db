"""The server's SQLite driver (`database.sqlite_driver`): each statement is one call on
the connection's thread, BEGIN goes with a transaction's first statement, and nothing
changes for SQLAlchemy: rows, counts, ids, errors, transactions and their isolation."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vibepiper.database.async_engine import SQLITE_BEGIN_OPTION, create_async_engine
from vibepiper.database.sqlite_driver import Connection

ITEMS = sa.table("items", sa.column("id", sa.Integer), sa.column("name", sa.String))


def _run(path: Path, body: Callable[[AsyncEngine], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        engine = create_async_engine(f"sqlite:///{path}", max_connections=4, pool_timeout=5)
        try:
            async with engine.begin() as connection:
                await connection.exec_driver_sql(
                    "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)"
                )
            return await body(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _trips(engine_connection: Any) -> list[str]:
    """Record what reaches the connection's thread from now on (the function names)."""
    raw = engine_connection.driver_connection
    assert isinstance(raw, Connection)
    seen: list[str] = []
    original = raw._execute

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(fn, *args, **kwargs)

    raw._execute = counting  # type: ignore[method-assign]
    return seen


def test_rows_counts_and_ids_are_what_sqlite_says(tmp_path: Path) -> None:
    async def body(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            inserted = await connection.execute(sa.insert(ITEMS).values(name="a"))
            assert inserted.lastrowid == 1
            many = await connection.execute(sa.insert(ITEMS), [{"name": "b"}, {"name": "c"}])
            assert many.rowcount == 2
            returned = await connection.execute(
                sa.insert(ITEMS).values(name="d").returning(ITEMS.c.id)
            )
            assert returned.scalar_one() == 4
            updated = await connection.execute(
                sa.update(ITEMS).where(ITEMS.c.id > 2).values(name="z")
            )
            assert updated.rowcount == 2
        async with engine.connect() as connection:
            rows = (await connection.execute(sa.select(ITEMS).order_by(ITEMS.c.id))).all()
            assert [tuple(row) for row in rows] == [(1, "a"), (2, "b"), (3, "z"), (4, "z")]
            assert (
                await connection.execute(sa.select(ITEMS).where(ITEMS.c.id == 9))
            ).first() is None
            # the rows came with the statement: reading them makes no further trip
            seen = _trips(await connection.get_raw_connection())
            result = await connection.execute(sa.select(ITEMS.c.name).order_by(ITEMS.c.id))
            assert result.scalars().all() == ["a", "b", "z", "z"] and len(seen) == 1

    _run(tmp_path / "db.sqlite", body)


def test_a_transaction_costs_one_trip_per_statement_and_one_to_end(tmp_path: Path) -> None:
    async def body(engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            seen = _trips(await connection.get_raw_connection())
            async with connection.begin():  # BEGIN rides with the first statement
                await connection.execute(sa.insert(ITEMS).values(name="a"))
                await connection.execute(sa.select(ITEMS))
            assert seen == ["_statement", "_statement", "commit"]
            seen.clear()
            await connection.execute(sa.select(ITEMS))  # a read: BEGIN with it, then rollback
            await connection.rollback()
            assert seen == ["_statement", "rollback"]
            seen.clear()
            async with connection.begin():  # begun and ended with nothing in between
                pass
            await connection.rollback()  # and the pool's rollback of an idle connection
            assert seen == []

    _run(tmp_path / "db.sqlite", body)


def test_a_read_transaction_sees_one_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"

    async def body(engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            first = (
                await connection.execute(sa.select(sa.func.count()).select_from(ITEMS))
            ).scalar()
            with sqlite3.connect(path) as other:  # another process's write, committed
                other.execute("INSERT INTO items (name) VALUES ('late')")
            second = (
                await connection.execute(sa.select(sa.func.count()).select_from(ITEMS))
            ).scalar()
            assert first == second == 0
            await connection.rollback()
            third = (
                await connection.execute(sa.select(sa.func.count()).select_from(ITEMS))
            ).scalar()
            assert third == 1

    _run(path, body)


def test_begin_immediate_still_takes_the_write_lock_before_the_first_read(tmp_path: Path) -> None:
    # A writer that read first and wrote second would fail with SQLITE_BUSY against a
    # writer that committed meanwhile; taking the lock up front makes the other wait.
    path = tmp_path / "db.sqlite"
    order: list[str] = []

    def other_writer() -> None:
        with sqlite3.connect(path, timeout=10) as other:
            other.execute("INSERT INTO items (name) VALUES ('other')")
        order.append("other committed")

    async def body(engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            await connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            async with connection.begin():
                count = (
                    await connection.execute(sa.select(sa.func.count()).select_from(ITEMS))
                ).scalar()
                writer = threading.Thread(target=other_writer)
                writer.start()
                await asyncio.sleep(0.3)  # the other writer waits for our lock
                order.append("ours writes")
                await connection.execute(sa.insert(ITEMS).values(name=f"after {count}"))
            writer.join(10)
        async with engine.connect() as connection:
            names = (
                await connection.execute(sa.select(ITEMS.c.name).order_by(ITEMS.c.id))
            ).scalars()
            assert list(names) == ["after 0", "other"]

    _run(path, body)
    assert order == ["ours writes", "other committed"]


def test_errors_reach_the_caller_and_the_connection_goes_on(tmp_path: Path) -> None:
    async def body(engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            async with connection.begin():
                await connection.execute(sa.insert(ITEMS).values(id=1, name="a"))
            with pytest.raises(sa.exc.IntegrityError, match="UNIQUE"):
                async with connection.begin():
                    await connection.execute(sa.insert(ITEMS).values(name="kept?"))
                    await connection.execute(sa.insert(ITEMS).values(id=1, name="twice"))
            with pytest.raises(sa.exc.OperationalError, match="no such table"):
                await connection.execute(sa.text("SELECT * FROM missing"))
            await connection.rollback()
            names = (await connection.execute(sa.select(ITEMS.c.name))).scalars().all()
            assert names == ["a"]  # the failed transaction was rolled back whole

    _run(tmp_path / "db.sqlite", body)


def test_a_begin_that_cannot_get_the_lock_fails_its_statement(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    _run(path, lambda engine: asyncio.sleep(0))
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN IMMEDIATE")

    async def body(engine: AsyncEngine) -> float:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA busy_timeout = 200")
            await connection.commit()
            await connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            started = time.monotonic()
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                async with connection.begin():
                    await connection.execute(sa.insert(ITEMS).values(name="blocked"))
            return time.monotonic() - started

    try:
        waited = _run(path, body)
    finally:
        holder.rollback()
        holder.close()
    assert waited >= 0.15  # SQLite's busy handler waited for the lock, as without deferral
    assert sqlite3.connect(path).execute("SELECT count(*) FROM items").fetchone() == (0,)

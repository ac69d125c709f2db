"""aiosqlite as the server's async engines use it: one trip to its thread per statement.

SQLAlchemy's adapter drives an aiosqlite cursor the way a network driver is driven:
make a cursor, execute, fetch the rows, close the cursor, each awaited on its own (four
round trips between the event loop and the connection's thread for one SELECT, with a
greenlet switch and a loop wake-up each). A statement on a local SQLite file takes
microseconds; those trips took most of a request's database time.

`dbapi()` is the module SQLAlchemy's aiosqlite dialect is given instead (the
`module=` argument of `create_async_engine`). Its connections are aiosqlite's (the same
thread, queue, closing and stopping) with a cursor that does all of it in one call on
that thread: execute, fetch every row (the server reads whole results; nothing streams),
note the description, row count and last row id, close. Two more trips are saved per
transaction:
- `BEGIN` (`database.engine` issues it when SQLAlchemy begins) is sent with the
  transaction's first statement, in the same call, so it still comes first and `BEGIN
  IMMEDIATE` still takes the write lock before anything is read;
- a rollback or commit with nothing begun does nothing (SQLAlchemy rolls back every
  connection it returns to the pool, also after a commit).
"""

from __future__ import annotations

import sqlite3
import types
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

__all__ = ["dbapi"]

_Outcome = tuple[Any, int, int | None, list[Any], bool]


def _statement(conn: sqlite3.Connection, begin: str | None, sql: str, parameters: Any) -> _Outcome:
    """On the connection's thread: begin if asked, run `sql`, read what it returns."""
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        if parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows, conn.in_transaction
    finally:
        cursor.close()


def _statements(
    conn: sqlite3.Connection, begin: str | None, sql: str, parameters: Sequence[Any]
) -> _Outcome:
    cursor = conn.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        cursor.executemany(sql, parameters)
        return None, cursor.rowcount, cursor.lastrowid, [], conn.in_transaction
    finally:
        cursor.close()


class Cursor:
    """The aiosqlite cursor API SQLAlchemy's adapter uses, one call per statement."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        outcome = await self._connection.run(_statement, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows, _ = outcome
        return self

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> Cursor:
        outcome = await self._connection.run(_statements, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows, _ = outcome
        return self

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = size or self.arraysize
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


class Connection(aiosqlite.Connection):
    """aiosqlite's connection with `Cursor`, a deferred `BEGIN`, and no trip to end a
    transaction that never began."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin: str | None = None
        self._open = True  # a transaction may be open (until a statement says otherwise)

    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    def defer_begin(self, sql: str) -> bool:
        """Keep `sql` (a BEGIN; `database.engine`'s begin hook calls this) for the next
        statement; False when a transaction may be open already (then the hook runs it
        now, and SQLite says what it says)."""
        if self._open or self._begin is not None:
            return False
        self._begin = sql
        return True

    async def run(self, fn: Any, sql: str, parameters: Any) -> _Outcome:
        begin, self._begin = self._begin, None
        self._open = True  # until the outcome says; an error leaves it so
        outcome: _Outcome = await self._execute(  # type: ignore[no-untyped-call]
            fn, self._conn, begin, sql, parameters
        )
        self._open = outcome[4]
        return outcome

    async def commit(self) -> None:
        self._begin = None
        if self._open:
            await super().commit()
            self._open = False

    async def rollback(self) -> None:
        self._begin = None
        if self._open:
            await super().rollback()
            self._open = False


def _connect(database: Any, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    path = database.decode() if isinstance(database, bytes) else str(database)

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(path, **kwargs)
        return connection

    return Connection(connector, iter_chunk_size)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The module to give SQLAlchemy's aiosqlite dialect (`module=`)."""
    module = types.ModuleType("vibepiper_aiosqlite")
    module.__dict__.update(
        {name: getattr(aiosqlite, name) for name in dir(aiosqlite) if not name.startswith("_")}
    )
    module.__dict__.update(connect=_connect, Connection=Connection)
    return AsyncAdapt_aiosqlite_dbapi(module, sqlite3)

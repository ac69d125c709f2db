"""On SQLite the server's writers queue for one write slot. A request waits the pool
timeout and then answers 503; one chunk of a long operation (a backfill, a scheduler
pass) waits longer, so a slow commit ahead of it never fails the whole operation."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from vibepiper.database import tables
from vibepiper.server.database import Database, migrate_database


def _database(tmp_path: Path) -> Database:
    url = f"sqlite+aiosqlite:///{tmp_path / 'slot.db'}"
    migrate_database(url)
    return Database(url, max_connections=2, pool_timeout=0.3)


async def _hold_writer(db: Database, seconds: float, holding: asyncio.Event) -> None:
    async with db.write() as connection:
        holding.set()
        await connection.execute(sa.text("SELECT 1"))
        await asyncio.sleep(seconds)


def test_a_write_waits_the_pool_timeout_then_gives_up(tmp_path: Path) -> None:
    async def go() -> None:
        db = _database(tmp_path)
        holding = asyncio.Event()
        holder = asyncio.create_task(_hold_writer(db, 1.0, holding))
        await holding.wait()
        with pytest.raises(sa.exc.TimeoutError, match=r"no database write slot within 0\.3 s"):
            async with db.write():
                pass
        await holder
        await db.dispose()

    asyncio.run(go())


def test_a_chunk_of_a_long_write_waits_longer_and_commits(tmp_path: Path) -> None:
    async def go() -> int:
        db = _database(tmp_path)
        holding = asyncio.Event()
        holder = asyncio.create_task(_hold_writer(db, 1.0, holding))
        await holding.wait()
        async with db.write(wait=10) as connection:
            await connection.execute(
                tables.variable.insert().values(id=uuid.uuid4(), name="x", value=1, tags=[])
            )
        await holder
        async with db.read() as connection:
            count = (await connection.execute(sa.text("SELECT count(*) FROM variable"))).scalar()
        await db.dispose()
        return int(count or 0)

    assert asyncio.run(go()) == 1

"""Variables: named JSON values, created, read by id or name, filtered, changed, deleted.

Every change also changes the generation token of blocks and variables
(`repositories.variables.bump_generation`) in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import variables as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import variables as repo
from vibepiper.server.services._errors import conflict


def _read(row: RowMapping) -> wire.VariableRead:
    return wire.VariableRead.model_validate(dict(row))


async def _row(connection: AsyncConnection, variable_id: uuid.UUID) -> RowMapping:
    row = await repo.get(connection, variable_id)
    if row is None:
        raise ObjectNotFound(f"variable {variable_id} not found")
    return row


async def _named(connection: AsyncConnection, name: str) -> RowMapping:
    row = await repo.get_by_name(connection, name)
    if row is None:
        raise ObjectNotFound(f"variable {name!r} not found")
    return row


async def create(db: Database, body: wire.VariableCreate) -> wire.VariableRead:
    async with db.write() as connection:
        if await repo.get_by_name(connection, body.name) is not None:
            raise conflict(f"variable {body.name!r} exists already")
        variable_id = await repo.insert(connection, body.model_dump())
        await repo.bump_generation(connection)
        return _read(await _row(connection, variable_id))


async def read(db: Database, variable_id: uuid.UUID) -> wire.VariableRead:
    async with db.read() as connection:
        return _read(await _row(connection, variable_id))


async def read_by_name(db: Database, name: str) -> wire.VariableRead:
    async with db.read() as connection:
        return _read(await _named(connection, name))


async def search(db: Database, query: wire.VariableQuery) -> list[wire.VariableRead]:
    async with db.read() as connection:
        return [_read(row) for row in await repo.search(connection, query)]


async def count(db: Database, where: wire.VariableFilter | None) -> int:
    async with db.read() as connection:
        return await repo.count(connection, where)


async def update(
    db: Database,
    *,
    variable_id: uuid.UUID | None = None,
    name: str | None = None,
    changes: dict[str, Any],
) -> None:
    """Set the fields the request gave (`changes`) on the variable with that id or name."""
    async with db.write() as connection:
        row = await (
            _row(connection, variable_id) if variable_id else _named(connection, str(name))
        )
        new_name = changes.get("name")
        renamed = isinstance(new_name, str) and new_name != row["name"]
        if renamed and await repo.get_by_name(connection, str(new_name)) is not None:
            raise conflict(f"variable {new_name!r} exists already")
        if changes:
            await repo.update(connection, row["id"], changes)
            await repo.bump_generation(connection)


async def delete(
    db: Database, *, variable_id: uuid.UUID | None = None, name: str | None = None
) -> None:
    async with db.write() as connection:
        row = await (
            _row(connection, variable_id) if variable_id else _named(connection, str(name))
        )
        await repo.delete(connection, row["id"])
        await repo.bump_generation(connection)

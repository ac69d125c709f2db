"""Queries on automations (`automation`): rows in, rows out; the trigger and actions are
kept as their wire JSON."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories._dialect import json_array_has_all

_auto = t.automation.c

SORTS: dict[str, list[sa.ColumnElement[Any]]] = {
    "NAME_ASC": [_auto.name.asc()],
    "NAME_DESC": [_auto.name.desc()],
    "CREATED_DESC": [_auto.created.desc()],
    "UPDATED_DESC": [_auto.updated.desc()],
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def conditions(
    connection: AsyncConnection,
    *,
    ids: Sequence[uuid.UUID] | None = None,
    names: Sequence[str] | None = None,
    tags_all: Sequence[str] | None = None,
    enabled: bool | None = None,
    owner_resource: Sequence[str] | None = None,
    created_before: dt.datetime | None = None,
) -> list[sa.ColumnElement[bool]]:
    """WHERE terms of an automation filter (None: no condition on that field)."""
    where: list[sa.ColumnElement[bool]] = []
    if ids is not None:
        where.append(_auto.id.in_(list(ids)))
    if names is not None:
        where.append(_auto.name.in_(list(names)))
    if tags_all:
        where.append(json_array_has_all(connection, _auto.tags, list(tags_all)))
    if enabled is not None:
        where.append(_auto.enabled.is_(enabled))
    if owner_resource is not None:
        where.append(_auto.owner_resource.in_(list(owner_resource)))
    if created_before is not None:
        where.append(_auto.created <= created_before)
    return where


async def get(connection: AsyncConnection, automation_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.automation).where(_auto.id == automation_id))
    return result.mappings().first()


async def by_name(connection: AsyncConnection, name: str) -> list[RowMapping]:
    statement = sa.select(t.automation).where(_auto.name == name).order_by(_auto.created)
    return list((await connection.execute(statement)).mappings())


async def insert(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    automation_id = uuid.uuid4()
    now = _now()
    row = {"id": automation_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.automation).values(**row))
    return automation_id


async def update(
    connection: AsyncConnection, automation_id: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Set `values` on the automation; False when there is none with that id."""
    statement = sa.update(t.automation).where(_auto.id == automation_id)
    result = await connection.execute(statement.values(updated=_now(), **values))
    return bool(result.rowcount)


async def delete(connection: AsyncConnection, automation_id: uuid.UUID) -> bool:
    result = await connection.execute(sa.delete(t.automation).where(_auto.id == automation_id))
    return bool(result.rowcount)


async def delete_owned_by(connection: AsyncConnection, owner_resource: str) -> int:
    statement = sa.delete(t.automation).where(_auto.owner_resource == owner_resource)
    return int((await connection.execute(statement)).rowcount or 0)


async def search(
    connection: AsyncConnection,
    where: list[sa.ColumnElement[bool]],
    *,
    sort: str = "NAME_ASC",
    limit: int | None = None,
    offset: int = 0,
) -> list[RowMapping]:
    statement = (
        sa.select(t.automation)
        .where(*where)
        .order_by(*SORTS[sort], _auto.id)
        .limit(limit)
        .offset(offset)
    )
    return list((await connection.execute(statement)).mappings())


async def count(connection: AsyncConnection, where: list[sa.ColumnElement[bool]]) -> int:
    statement = sa.select(sa.func.count()).select_from(t.automation).where(*where)
    return int((await connection.execute(statement)).scalar_one())


_REFERENCED = {
    "deployment": t.deployment,
    "block document": t.block_document,
    "work queue": t.work_queue,
    "work pool": t.work_pool,
    "automation": t.automation,
}


async def missing(
    connection: AsyncConnection, kind: str, ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `ids` name no row of `kind` (a key of `_REFERENCED`)."""
    if not ids:
        return set()
    table = _REFERENCED[kind]
    statement = sa.select(table.c.id).where(table.c.id.in_(list(set(ids))))
    found = set((await connection.execute(statement)).scalars())
    return set(ids) - found

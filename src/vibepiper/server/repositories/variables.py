"""Queries on variables (`variable`) and the generation token of blocks and variables."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas import variables as wire
from vibepiper.server.repositories._dialect import json_array_has_all

_var = t.variable.c


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _conditions(
    connection: AsyncConnection, where: wire.VariableFilter | None
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if where is None:
        return conditions
    if where.id is not None and where.id.any_ is not None:
        conditions.append(_var.id.in_(where.id.any_))
    if where.name is not None:
        if where.name.any_ is not None:
            conditions.append(_var.name.in_(where.name.any_))
        if where.name.like_:
            text = where.name.like_
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(_var.name.ilike(f"%{escaped}%", escape="\\"))
    if where.tags is not None and where.tags.all_:
        conditions.append(json_array_has_all(connection, _var.tags, where.tags.all_))
    return conditions


async def get(connection: AsyncConnection, variable_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.variable).where(_var.id == variable_id))
    return result.mappings().first()


async def get_by_name(connection: AsyncConnection, name: str) -> RowMapping | None:
    result = await connection.execute(sa.select(t.variable).where(_var.name == name))
    return result.mappings().first()


async def insert(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    variable_id = uuid.uuid4()
    now = _now()
    row = {"id": variable_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.variable).values(**row))
    return variable_id


async def update(
    connection: AsyncConnection, variable_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.variable).where(_var.id == variable_id)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete(connection: AsyncConnection, variable_id: uuid.UUID) -> None:
    await connection.execute(sa.delete(t.variable).where(_var.id == variable_id))


async def search(connection: AsyncConnection, query: wire.VariableQuery) -> list[RowMapping]:
    order = {
        wire.VariableSort.NAME_ASC: [_var.name.asc()],
        wire.VariableSort.NAME_DESC: [_var.name.desc()],
        wire.VariableSort.CREATED_DESC: [_var.created.desc()],
        wire.VariableSort.UPDATED_DESC: [_var.updated.desc()],
    }[query.sort]
    statement = (
        sa.select(t.variable)
        .where(*_conditions(connection, query.variables))
        .order_by(*order, _var.id)
        .limit(query.limit)
        .offset(query.offset)
    )
    return list((await connection.execute(statement)).mappings())


async def count(connection: AsyncConnection, where: wire.VariableFilter | None) -> int:
    statement = sa.select(sa.func.count()).select_from(t.variable)
    statement = statement.where(*_conditions(connection, where))
    return int((await connection.execute(statement)).scalar_one())


async def bump_generation(connection: AsyncConnection) -> None:
    """A new generation token for blocks and variables, in the writer's transaction:
    a cache of their reads (the in-process client's) sees every committed change."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    values = {"id": 1, "token": uuid.uuid4().hex, "updated": _now()}
    statement = insert(t.config_generation).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["id"], set_={"token": values["token"], "updated": values["updated"]}
    )
    await connection.execute(statement)

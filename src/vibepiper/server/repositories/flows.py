"""Queries on the `flow` table."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.api_filters import FlowFilter
from vibepiper.server.repositories._dialect import insert_ignoring_conflicts


async def insert_if_missing(connection: AsyncConnection, flow_id: uuid.UUID, name: str) -> bool:
    """Insert the flow unless one with its id or name exists; True if it was inserted."""
    row = {"id": flow_id, "name": name, "created": dt.datetime.now(dt.UTC)}
    result = await connection.execute(insert_ignoring_conflicts(connection, t.flow, [row]))
    return bool(result.rowcount)


async def get(connection: AsyncConnection, flow_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.flow).where(t.flow.c.id == flow_id))
    return result.mappings().first()


async def get_by_name(connection: AsyncConnection, name: str) -> RowMapping | None:
    result = await connection.execute(sa.select(t.flow).where(t.flow.c.name == name))
    return result.mappings().first()


async def filter_flows(connection: AsyncConnection, query: FlowFilter) -> list[RowMapping]:
    statement = sa.select(t.flow)
    if query.names is not None:
        statement = statement.where(t.flow.c.name.in_(query.names))
    if query.name_like:
        statement = statement.where(t.flow.c.name.icontains(query.name_like, autoescape=True))
    statement = statement.order_by(t.flow.c.name, t.flow.c.id)
    result = await connection.execute(statement.limit(query.limit).offset(query.offset))
    return list(result.mappings())

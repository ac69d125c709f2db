"""Flows: created on first use, found by id or name."""

from __future__ import annotations

import uuid

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.schemas.api_filters import FlowFilter
from vibepiper.schemas.runs import flow_id_for
from vibepiper.server.database import Database
from vibepiper.server.repositories import flows
from vibepiper.server.services._convert import flow_read


async def create_or_get(db: Database, body: api.FlowCreate) -> tuple[api.FlowRead, bool]:
    """The flow named `body.name`, created if missing; True when it was created.

    Its id is `flow_id_for(name)`, the id the embedded store gives it too.
    """
    async with db.write() as connection:
        created = await flows.insert_if_missing(connection, flow_id_for(body.name), body.name)
        row = await flows.get_by_name(connection, body.name)
    if row is None:  # pragma: no cover - inserted or present in the same transaction
        raise ObjectNotFound(f"flow {body.name!r} not found")
    return flow_read(row), created


async def read(db: Database, flow_id: uuid.UUID) -> api.FlowRead:
    async with db.read() as connection:
        row = await flows.get(connection, flow_id)
    if row is None:
        raise ObjectNotFound(f"flow {flow_id} not found")
    return flow_read(row)


async def read_by_name(db: Database, name: str) -> api.FlowRead:
    async with db.read() as connection:
        row = await flows.get_by_name(connection, name)
    if row is None:
        raise ObjectNotFound(f"flow named {name!r} not found")
    return flow_read(row)


async def filter_flows(db: Database, query: FlowFilter) -> list[api.FlowRead]:
    async with db.read() as connection:
        rows = await flows.filter_flows(connection, query)
    return [flow_read(row) for row in rows]

"""`/api/flows`: create-or-get by name, read, filter."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from vibepiper.schemas.api import FlowCreate, FlowRead
from vibepiper.schemas.api_filters import FlowFilter
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import flows

router = APIRouter(prefix="/flows", tags=["flows"], route_class=RetryingRoute)


@router.post("/", status_code=201, responses={200: {"model": FlowRead}})
async def create_flow(body: FlowCreate, db: DB, response: Response) -> FlowRead:
    """The flow with this name: 201 when created now, 200 when it existed."""
    flow, created = await flows.create_or_get(db, body)
    response.status_code = 201 if created else 200
    return flow


@router.get("/{flow_id}", responses=NOT_FOUND)
async def read_flow(flow_id: uuid.UUID, db: DB) -> FlowRead:
    return await flows.read(db, flow_id)


@router.get("/name/{name}", responses=NOT_FOUND)
async def read_flow_by_name(name: str, db: DB) -> FlowRead:
    return await flows.read_by_name(db, name)


@router.post("/filter")
async def filter_flows(db: DB, body: FlowFilter | None = None) -> list[FlowRead]:
    """Flows by name, alphabetically."""
    return await flows.filter_flows(db, body or FlowFilter())

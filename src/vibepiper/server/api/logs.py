"""`/api/logs`: batch create, filter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from vibepiper.schemas import api
from vibepiper.schemas.api_filters import LogFilter
from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import logs

router = APIRouter(prefix="/logs", tags=["logs"], route_class=RetryingRoute)

MAX_BATCH = 10_000


@router.post("/", status_code=201)
async def create_logs(
    body: Annotated[list[api.LogCreate], Body(max_length=MAX_BATCH)], db: DB
) -> api.LogsCreated:
    """Write a batch of log lines (at most 10,000) in one transaction."""
    return api.LogsCreated(count=await logs.create_many(db, body))


@router.post("/filter")
async def filter_logs(db: DB, body: LogFilter | None = None) -> list[api.LogRead]:
    """Log lines by run, level and time, oldest first unless sorted otherwise."""
    return await logs.filter_logs(db, body or LogFilter())

"""`/api/ui`: read endpoints the dashboard needs that the generic API lacks, and retry."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException

from vibepiper.schemas import api
from vibepiper.schemas.ui import ConcurrencyLimitUsage, RunHistoryBucket, RunHistoryRequest
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import ui_support

router = APIRouter(prefix="/ui", tags=["dashboard"], route_class=RetryingRoute)


@router.post("/flow_runs/history")
async def flow_run_history(body: RunHistoryRequest, db: DB) -> list[RunHistoryBucket]:
    """Flow runs created per time bucket, counted by state type (the Dashboard chart)."""
    return await ui_support.history(db, body)


@router.get("/concurrency_limits")
async def concurrency_limits_in_use(db: DB) -> list[ConcurrencyLimitUsage]:
    """Every concurrency limit with the slots its unexpired leases hold, and their holders."""
    return await ui_support.concurrency_usage(db)


@router.post(
    "/flow_runs/{flow_run_id}/retry",
    responses={**NOT_FOUND, 409: {"model": ErrorBody, "description": "Cannot be retried."}},
)
async def retry_flow_run(flow_run_id: uuid.UUID, db: DB) -> api.FlowRunRead:
    """Put a finished deployment run back to Scheduled (forced) so a worker runs it again.

    A 409 names why not: the run is not finished, or has no deployment (the detail then
    gives the `vibepiper flow-run retry` command that re-runs it where its code lives).
    """
    try:
        return await ui_support.retry(db, flow_run_id)
    except ui_support.RetryRefused as refused:
        raise HTTPException(409, str(refused)) from None

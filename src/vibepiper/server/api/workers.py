"""`/api/workers`: claim due runs, heartbeat held runs, list workers."""

from __future__ import annotations

from fastapi import APIRouter

from vibepiper.schemas import deployments as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import claims, work_pools

router = APIRouter(prefix="/workers", tags=["workers"], route_class=RetryingRoute)


@router.post("/claim", responses=NOT_FOUND)
async def claim_runs(body: wire.ClaimRequest, db: DB) -> list[wire.ClaimedRun]:
    """Take due runs (they become Pending, held by `worker_name`); with `wait_seconds`,
    wait that long for one to come due. 404 when the work pool does not exist."""
    return await claims.claim(db, body)


@router.post("/heartbeat")
async def heartbeat(body: wire.HeartbeatRequest, db: DB) -> wire.HeartbeatResponse:
    """The worker is alive and holds these runs; the answer lists runs to stop
    (`cancel`) and runs to forget (`gone`)."""
    return await claims.heartbeat(db, body)


@router.post("/cancellations")
async def watch_cancellations(body: wire.CancellationWatch, db: DB) -> wire.HeartbeatResponse:
    """Long poll: answers as soon as one of the held runs is asked to cancel (`cancel`)
    or is final or deleted (`gone`), or after `wait_seconds` with both empty. Workers
    keep one open while they run something, so a cancel reaches them at once rather
    than at their next heartbeat."""
    return await claims.watch_cancellations(db, body)


@router.get("/")
async def list_workers(db: DB) -> list[wire.WorkerRead]:
    return await work_pools.list_workers(db)

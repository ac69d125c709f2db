"""`/api/background_tasks`: the queue of `task.delay()` runs that task workers claim, and
`GET /api/task_runs/{id}/wait`, the long poll a caller's future waits on."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from vibepiper.schemas import api
from vibepiper.schemas import background_tasks as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import background_tasks

router = APIRouter(tags=["background tasks"], route_class=RetryingRoute)


@router.post(
    "/background_tasks/",
    status_code=201,
    responses={200: {"model": api.TaskRunRead}, **NOT_FOUND},
)
async def create_background_task(
    body: wire.BackgroundTaskCreate, db: DB, response: Response
) -> api.TaskRunRead:
    """Record a task run Scheduled and queue it for the task workers of its key (201); an
    existing `task_run.id` returns that run (200) and queues nothing."""
    run, created = await background_tasks.create(db, body)
    response.status_code = 201 if created else 200
    return run


@router.post("/background_tasks/claim")
async def claim_background_tasks(body: wire.ClaimRequest, db: DB) -> list[wire.ClaimedTaskRun]:
    """Take up to `limit` claimable runs of `task_keys`, each held under a lease of
    `lease_seconds` and moved to Pending; with `wait_seconds`, wait that long for one."""
    return await background_tasks.claim(db, body)


@router.post("/background_tasks/renew")
async def renew_background_task_leases(body: wire.HeldRuns, db: DB) -> wire.RenewResult:
    """Extend the worker's leases on the named runs by `lease_seconds` from now."""
    return await background_tasks.renew(db, body)


@router.post("/background_tasks/ack")
async def ack_background_tasks(body: wire.HeldRuns, db: DB) -> wire.AckResult:
    """Take the worker's finished runs off the queue (only runs whose task run is final)."""
    return await background_tasks.ack(db, body)


@router.post("/background_tasks/release")
async def release_background_tasks(body: wire.HeldRuns, db: DB) -> int:
    """Give the worker's runs back (claimable again at once); how many it held."""
    return await background_tasks.release(db, body)


@router.get("/background_tasks/count")
async def count_background_tasks(
    db: DB, task_key: Annotated[str | None, Query(max_length=500)] = None
) -> int:
    """How many runs are queued (waiting or held), of one queue key or in all."""
    return await background_tasks.queued(db, task_key)


@router.get("/task_runs/{task_run_id}/wait", responses=NOT_FOUND)
async def wait_for_task_run(
    task_run_id: uuid.UUID,
    db: DB,
    timeout: Annotated[float, Query(ge=0, le=wire.MAX_WAIT_SECONDS)] = 10.0,
) -> api.TaskRunRead:
    """The task run as soon as it is final, or as it is after `timeout` seconds; its
    state carries its details (where a persisted result is)."""
    return await background_tasks.wait(db, task_run_id, timeout)

"""`/api/work_pools`: pools, their queues and their workers."""

from __future__ import annotations

from fastapi import APIRouter

from vibepiper.schemas import deployments as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import work_pools

router = APIRouter(prefix="/work_pools", tags=["work pools"], route_class=RetryingRoute)
CONFLICT: Responses = {409: {"model": ErrorBody, "description": "The name is taken."}}


@router.post("/", status_code=201, responses=CONFLICT)
async def create_work_pool(body: wire.WorkPoolCreate, db: DB) -> wire.WorkPoolRead:
    """A new pool, with a queue named "default" (priority 1) and its type's default base
    job template unless one is given (a template naming undeclared variables: 422)."""
    return await work_pools.create_pool(db, body)


@router.get("/")
async def list_work_pools(db: DB) -> list[wire.WorkPoolRead]:
    return await work_pools.list_pools(db)


@router.get("/{name}", responses=NOT_FOUND)
async def read_work_pool(name: str, db: DB) -> wire.WorkPoolRead:
    return await work_pools.read_pool(db, name)


@router.patch("/{name}", responses=NOT_FOUND)
async def update_work_pool(name: str, body: wire.WorkPoolUpdate, db: DB) -> wire.WorkPoolRead:
    """Change the given fields; a `base_job_template` is checked as on create (`{}`: the
    type's default)."""
    return await work_pools.update_pool(db, name, _set(body))


@router.delete("/{name}", status_code=204, responses=NOT_FOUND)
async def delete_work_pool(name: str, db: DB) -> None:
    await work_pools.delete_pool(db, name)


@router.post("/{name}/pause", responses=NOT_FOUND)
async def pause_work_pool(name: str, db: DB) -> wire.WorkPoolRead:
    """Workers of a paused pool are given no runs."""
    return await work_pools.update_pool(db, name, {"paused": True})


@router.post("/{name}/resume", responses=NOT_FOUND)
async def resume_work_pool(name: str, db: DB) -> wire.WorkPoolRead:
    return await work_pools.update_pool(db, name, {"paused": False})


@router.get("/{name}/queues", responses=NOT_FOUND)
async def list_work_queues(name: str, db: DB) -> list[wire.WorkQueueRead]:
    """The pool's queues, highest priority (1) first."""
    return await work_pools.list_queues(db, name)


@router.post("/{name}/queues", status_code=201, responses={**NOT_FOUND, **CONFLICT})
async def create_work_queue(name: str, body: wire.WorkQueueCreate, db: DB) -> wire.WorkQueueRead:
    return await work_pools.create_queue(db, name, body)


@router.get("/{name}/queues/{queue}", responses=NOT_FOUND)
async def read_work_queue(name: str, queue: str, db: DB) -> wire.WorkQueueRead:
    return await work_pools.read_queue(db, name, queue)


@router.patch("/{name}/queues/{queue}", responses=NOT_FOUND)
async def update_work_queue(
    name: str, queue: str, body: wire.WorkQueueUpdate, db: DB
) -> wire.WorkQueueRead:
    return await work_pools.update_queue(db, name, queue, _set(body))


@router.delete("/{name}/queues/{queue}", status_code=204, responses={**NOT_FOUND, **CONFLICT})
async def delete_work_queue(name: str, queue: str, db: DB) -> None:
    """Delete a queue (not the pool's "default" one: 409)."""
    await work_pools.delete_queue(db, name, queue)


@router.post("/{name}/queues/{queue}/pause", responses=NOT_FOUND)
async def pause_work_queue(name: str, queue: str, db: DB) -> wire.WorkQueueRead:
    return await work_pools.update_queue(db, name, queue, {"paused": True})


@router.post("/{name}/queues/{queue}/resume", responses=NOT_FOUND)
async def resume_work_queue(name: str, queue: str, db: DB) -> wire.WorkQueueRead:
    return await work_pools.update_queue(db, name, queue, {"paused": False})


@router.get("/{name}/workers", responses=NOT_FOUND)
async def list_pool_workers(name: str, db: DB) -> list[wire.WorkerRead]:
    """The pool's workers, with the runs each holds."""
    return await work_pools.list_workers(db, name)


def _set(body: wire.WorkPoolUpdate | wire.WorkQueueUpdate) -> dict[str, object]:
    """The fields the request set; `null` clears a limit or description, never a flag."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for flag in ("paused", "priority", "base_job_template"):
        if flag in changes and changes[flag] is None:
            del changes[flag]
    return changes

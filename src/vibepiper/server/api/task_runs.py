"""`/api/task_runs`: create, read, filter, count, set state, state history."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from vibepiper.schemas import api
from vibepiper.schemas.api_filters import TaskRunFilter
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import run_states, task_runs

router = APIRouter(prefix="/task_runs", tags=["task runs"], route_class=RetryingRoute)


@router.post("/", status_code=201, responses={200: {"model": api.TaskRunRead}, **NOT_FOUND})
async def create_task_run(body: api.TaskRunCreate, db: DB, response: Response) -> api.TaskRunRead:
    """A new task run (201); an existing `id` returns that run (200)."""
    run, created = await task_runs.create(db, body)
    response.status_code = 201 if created else 200
    return run


@router.get("/{task_run_id}", responses=NOT_FOUND)
async def read_task_run(task_run_id: uuid.UUID, db: DB) -> api.TaskRunRead:
    return await task_runs.read(db, task_run_id)


@router.post("/filter")
async def filter_task_runs(db: DB, body: TaskRunFilter | None = None) -> list[api.TaskRunRead]:
    """Task runs matching every given field, sorted and paginated."""
    return await task_runs.filter_runs(db, body or TaskRunFilter())


@router.post("/count")
async def count_task_runs(db: DB, body: TaskRunFilter | None = None) -> int:
    return await task_runs.count_runs(db, body or TaskRunFilter())


@router.post("/{task_run_id}/set_state", responses=NOT_FOUND)
async def set_task_run_state(
    task_run_id: uuid.UUID, body: api.SetState, db: DB
) -> api.OrchestrationResult:
    """Propose a state; the orchestration rules accept or reject it (`force` skips them)."""
    return await run_states.set_state(db, "task_run", task_run_id, body)


@router.get("/{task_run_id}/states", responses=NOT_FOUND)
async def read_task_run_states(task_run_id: uuid.UUID, db: DB) -> list[api.StateRead]:
    """The run's state history, oldest first."""
    return await run_states.history(db, "task_run", task_run_id)

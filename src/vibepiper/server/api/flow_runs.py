"""`/api/flow_runs`: create, read, update, filter, count, set state, cancel, state history,
graph, job variables, delete."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from vibepiper.schemas import api
from vibepiper.schemas.api_filters import FlowRunFilter
from vibepiper.schemas.deployments import CancelResult
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import cancellation, flow_runs, graph, run_states

router = APIRouter(prefix="/flow_runs", tags=["flow runs"], route_class=RetryingRoute)


@router.post("/", status_code=201, responses={200: {"model": api.FlowRunRead}, **NOT_FOUND})
async def create_flow_run(body: api.FlowRunCreate, db: DB, response: Response) -> api.FlowRunRead:
    """A new flow run (201); an existing `id` returns that run (200)."""
    run, created = await flow_runs.create(db, body)
    response.status_code = 201 if created else 200
    return run


@router.get("/{flow_run_id}", responses=NOT_FOUND)
async def read_flow_run(flow_run_id: uuid.UUID, db: DB) -> api.FlowRunRead:
    return await flow_runs.read(db, flow_run_id)


@router.patch("/{flow_run_id}", responses=NOT_FOUND)
async def update_flow_run(
    flow_run_id: uuid.UUID, body: api.FlowRunUpdate, db: DB
) -> api.FlowRunRead:
    """Rename the run or replace its tags, parameters or flow version (fields left out or
    null stay as they are); its state is changed through `set_state` only."""
    return await flow_runs.update(db, flow_run_id, body)


@router.post("/filter")
async def filter_flow_runs(db: DB, body: FlowRunFilter | None = None) -> list[api.FlowRunRead]:
    """Flow runs matching every given field, sorted and paginated."""
    return await flow_runs.filter_runs(db, body or FlowRunFilter())


@router.post("/count")
async def count_flow_runs(db: DB, body: FlowRunFilter | None = None) -> int:
    """How many flow runs match (`sort`, `limit` and `offset` are ignored)."""
    return await flow_runs.count_runs(db, body or FlowRunFilter())


@router.post("/{flow_run_id}/set_state", responses=NOT_FOUND)
async def set_flow_run_state(
    flow_run_id: uuid.UUID, body: api.SetState, db: DB
) -> api.OrchestrationResult:
    """Propose a state; the orchestration rules accept or reject it (`force` skips them)."""
    return await run_states.set_state(db, "flow_run", flow_run_id, body)


@router.post("/{flow_run_id}/cancel", responses=NOT_FOUND)
async def cancel_flow_run(flow_run_id: uuid.UUID, db: DB) -> CancelResult:
    """Cancel the run: at once if nothing runs it yet, else Cancelling until its worker
    stops it; a run in a final state is left as it is (`ALREADY_FINAL`)."""
    return await cancellation.cancel(db, flow_run_id)


@router.get("/{flow_run_id}/states", responses=NOT_FOUND)
async def read_flow_run_states(flow_run_id: uuid.UUID, db: DB) -> list[api.StateRead]:
    """The run's state history, oldest first."""
    return await run_states.history(db, "flow_run", flow_run_id)


@router.get("/{flow_run_id}/graph", responses=NOT_FOUND)
async def read_flow_run_graph(flow_run_id: uuid.UUID, db: DB) -> api.FlowRunGraph:
    """The run's task runs, their input edges and their links to subflow runs."""
    return await graph.flow_run_graph(db, flow_run_id)


@router.get("/{flow_run_id}/job_variables", responses=NOT_FOUND)
async def read_flow_run_job_variables(flow_run_id: uuid.UUID, db: DB) -> dict[str, Any]:
    """The run's own job variables, as given when it was created from its deployment
    (`{}` when none were); its worker lays them over the deployment's."""
    return await flow_runs.job_variables(db, flow_run_id)


@router.delete("/{flow_run_id}", status_code=204, responses=NOT_FOUND)
async def delete_flow_run(flow_run_id: uuid.UUID, db: DB) -> None:
    """Delete the run with its states, task runs and logs."""
    await flow_runs.delete(db, flow_run_id)

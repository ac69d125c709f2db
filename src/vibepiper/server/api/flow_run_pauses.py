"""`/api/flow_runs`: pause, suspend and resume a run; wait for runs' states to change."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from vibepiper.schemas import api
from vibepiper.schemas.pauses import PauseRequest, ResumeRequest, RunState, StatesWait
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import flow_run_pauses

router = APIRouter(prefix="/flow_runs", tags=["flow runs"], route_class=RetryingRoute)


@router.post("/states/wait")
async def wait_for_states(body: StatesWait, db: DB) -> list[RunState]:
    """The runs' current states, answered once one differs from `known` (or after
    `wait_seconds`); unknown ids are left out."""
    current = await flow_run_pauses.wait_for_states(db, body.ids, body.known, body.wait_seconds)
    return [RunState(flow_run_id=run_id, state=state) for run_id, state in current.items()]


@router.post("/{flow_run_id}/pause", responses=NOT_FOUND)
async def pause_flow_run(
    flow_run_id: uuid.UUID, db: DB, body: PauseRequest | None = None
) -> api.OrchestrationResult:
    """Ask a running run to pause at its next task (state `Pausing` until it does; its
    process waits to be resumed)."""
    timeout = body.timeout_seconds if body else None
    return await flow_run_pauses.request(
        db, flow_run_id, reschedule=False, timeout_seconds=timeout, by="an API request"
    )


@router.post("/{flow_run_id}/suspend", responses=NOT_FOUND)
async def suspend_flow_run(
    flow_run_id: uuid.UUID, db: DB, body: PauseRequest | None = None
) -> api.OrchestrationResult:
    """Ask a running run to suspend at its next task (state `Suspending` until it does; its
    process exits, and resuming starts it again with completed tasks' results reused)."""
    timeout = body.timeout_seconds if body else None
    return await flow_run_pauses.request(
        db, flow_run_id, reschedule=True, timeout_seconds=timeout, by="an API request"
    )


@router.post("/{flow_run_id}/resume", responses=NOT_FOUND)
async def resume_flow_run(
    flow_run_id: uuid.UUID, db: DB, body: ResumeRequest | None = None
) -> api.OrchestrationResult:
    """Resume a paused or suspended run; its input is checked against the schema the run
    stored (422 naming the field; the run stays paused). REJECT when it is not paused."""
    body = body or ResumeRequest()
    return await flow_run_pauses.resume(
        db, flow_run_id, body.run_input, run_here=body.run_here, by="an API request"
    )

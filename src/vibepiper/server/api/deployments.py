"""`/api/deployments`: deployments, their schedules, their runs and backfills."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from vibepiper.schemas import api
from vibepiper.schemas import deployments as wire
from vibepiper.schemas.schedules import (
    DeploymentScheduleCreate,
    DeploymentScheduleRead,
    DeploymentScheduleUpdate,
)
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import deployment_runs, deployment_schedules, deployments

router = APIRouter(prefix="/deployments", tags=["deployments"], route_class=RetryingRoute)


@router.post("/", status_code=201, responses={200: {"model": wire.DeploymentRead}, **NOT_FOUND})
async def create_deployment(
    body: wire.DeploymentCreate, db: DB, response: Response
) -> wire.DeploymentRead:
    """Create (201) or replace (200) the deployment with this flow and name; its
    schedules are replaced and their next runs made at once."""
    deployment, created = await deployments.create_or_replace(db, body)
    response.status_code = 201 if created else 200
    return deployment


@router.post("/filter")
async def filter_deployments(
    db: DB, body: wire.DeploymentFilter | None = None
) -> list[wire.DeploymentRead]:
    """Deployments matching every given field, by flow name then name."""
    return await deployments.filter_deployments(db, body or wire.DeploymentFilter())


@router.post("/count")
async def count_deployments(db: DB, body: wire.DeploymentFilter | None = None) -> int:
    return await deployments.count_deployments(db, body or wire.DeploymentFilter())


@router.get("/name/{flow_name}/{deployment_name}", responses=NOT_FOUND)
async def read_deployment_by_name(
    flow_name: str, deployment_name: str, db: DB
) -> wire.DeploymentRead:
    return await deployments.read_by_name(db, flow_name, deployment_name)


@router.get("/{deployment_id}", responses=NOT_FOUND)
async def read_deployment(deployment_id: uuid.UUID, db: DB) -> wire.DeploymentRead:
    return await deployments.read(db, deployment_id)


@router.patch("/{deployment_id}", responses=NOT_FOUND)
async def update_deployment(
    deployment_id: uuid.UUID, body: wire.DeploymentUpdate, db: DB
) -> wire.DeploymentRead:
    """Change the given fields; `schedules`, when given, replaces them all."""
    return await deployments.update(db, deployment_id, body)


@router.delete("/{deployment_id}", status_code=204, responses=NOT_FOUND)
async def delete_deployment(deployment_id: uuid.UUID, db: DB) -> None:
    """Delete the deployment and its runs that never started (other runs stay)."""
    await deployments.delete(db, deployment_id)


@router.post("/{deployment_id}/pause", responses=NOT_FOUND)
async def pause_deployment(deployment_id: uuid.UUID, db: DB) -> wire.DeploymentRead:
    """Stop scheduling: the future scheduled runs that have not started are deleted."""
    return await deployments.set_paused(db, deployment_id, True)


@router.post("/{deployment_id}/resume", responses=NOT_FOUND)
async def resume_deployment(deployment_id: uuid.UUID, db: DB) -> wire.DeploymentRead:
    """Schedule again from now."""
    return await deployments.set_paused(db, deployment_id, False)


@router.post(
    "/{deployment_id}/create_flow_run",
    status_code=201,
    responses={200: {"model": api.FlowRunRead}, **NOT_FOUND},
)
async def create_deployment_flow_run(
    deployment_id: uuid.UUID, body: wire.DeploymentFlowRunCreate, db: DB, response: Response
) -> api.FlowRunRead:
    """A new Scheduled run (201); the run of an existing idempotency key (200)."""
    run, created = await deployment_runs.create_flow_run(db, deployment_id, body)
    response.status_code = 201 if created else 200
    return run


@router.post("/{deployment_id}/backfill", responses=NOT_FOUND)
async def backfill_deployment(
    deployment_id: uuid.UUID, body: wire.BackfillRequest, db: DB
) -> wire.BackfillResult:
    """Create the runs the active schedules would have made in [start, end]."""
    return await deployment_runs.backfill(db, deployment_id, body)


@router.get("/{deployment_id}/schedules", responses=NOT_FOUND)
async def list_deployment_schedules(
    deployment_id: uuid.UUID, db: DB
) -> list[DeploymentScheduleRead]:
    return await deployment_schedules.list_schedules(db, deployment_id)


@router.post("/{deployment_id}/schedules", status_code=201, responses=NOT_FOUND)
async def create_deployment_schedule(
    deployment_id: uuid.UUID, body: DeploymentScheduleCreate, db: DB
) -> DeploymentScheduleRead:
    return await deployment_schedules.create(db, deployment_id, body)


@router.patch("/{deployment_id}/schedules/{schedule_id}", responses=NOT_FOUND)
async def update_deployment_schedule(
    deployment_id: uuid.UUID, schedule_id: uuid.UUID, body: DeploymentScheduleUpdate, db: DB
) -> DeploymentScheduleRead:
    return await deployment_schedules.update(db, deployment_id, schedule_id, body)


@router.delete("/{deployment_id}/schedules/{schedule_id}", status_code=204, responses=NOT_FOUND)
async def delete_deployment_schedule(
    deployment_id: uuid.UUID, schedule_id: uuid.UUID, db: DB
) -> None:
    await deployment_schedules.delete(db, deployment_id, schedule_id)

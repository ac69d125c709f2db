"""`/api/automations`: Prefect's automation routes (create, read, filter, count, replace,
turn on/off, delete, related to or owned by a resource)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from vibepiper.schemas import automations as wire
from vibepiper.schemas.automation_log import (
    AutomationActionRun,
    AutomationLogEntry,
    LastFiring,
    LastFiringsRequest,
    MetricReplay,
    MetricReplayRequest,
)
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import automations

router = APIRouter(prefix="/automations", tags=["automations"], route_class=RetryingRoute)


@router.post("/", status_code=201)
async def create_automation(body: wire.AutomationCreate, db: DB) -> wire.AutomationRead:
    return await automations.create(db, body)


@router.post("/filter")
async def read_automations(
    db: DB, body: wire.AutomationFilter | None = None
) -> list[wire.AutomationRead]:
    return await automations.search(db, body or wire.AutomationFilter())


@router.post("/count")
async def count_automations(db: DB, body: wire.AutomationFilter | None = None) -> int:
    return await automations.count(db, (body or wire.AutomationFilter()).automations)


@router.get("/related-to/{resource_id:path}")
async def read_automations_related_to_resource(
    resource_id: str, db: DB
) -> list[wire.AutomationRead]:
    return await automations.related_to(db, resource_id)


@router.delete("/owned-by/{resource_id:path}", status_code=202)
async def delete_automations_owned_by_resource(resource_id: str, db: DB) -> None:
    await automations.delete_owned_by(db, resource_id)


Limit = Annotated[int, Query(ge=1, le=1000, description="Most entries to return.")]


@router.post("/last-firings")
async def read_last_firings(body: LastFiringsRequest, db: DB) -> list[LastFiring]:
    """When each of these automations last fired (one entry per automation that has)."""
    return await automations.last_firings(db, body)


@router.get("/{automation_id}/log", responses=NOT_FOUND)
async def read_automation_log(
    automation_id: uuid.UUID, db: DB, limit: Limit = 100
) -> list[AutomationLogEntry]:
    """The evaluation log: which events the trigger took in, what each did to its bucket
    (and so why it fired or not yet), its firings and its actions' outcomes."""
    return await automations.read_log(db, automation_id, limit)


@router.get("/{automation_id}/actions", responses=NOT_FOUND)
async def read_automation_actions(
    automation_id: uuid.UUID, db: DB, limit: Limit = 50
) -> list[AutomationActionRun]:
    """The actions its firings queued: status, attempts, result or the reason it failed."""
    return await automations.read_actions(db, automation_id, limit)


@router.post("/{automation_id}/replay", responses=NOT_FOUND)
async def replay_automation(
    automation_id: uuid.UUID, body: MetricReplayRequest, db: DB
) -> MetricReplay:
    """A metric trigger's dry run over the stored flow runs: when it would have fired
    or resolved between `since` and `until`, and why (nothing is run or changed)."""
    return await automations.replay_metric(db, automation_id, body)


@router.get("/{automation_id}", responses=NOT_FOUND)
async def read_automation(automation_id: uuid.UUID, db: DB) -> wire.AutomationRead:
    return await automations.read(db, automation_id)


@router.put("/{automation_id}", status_code=204, responses=NOT_FOUND)
async def update_automation(automation_id: uuid.UUID, body: wire.AutomationUpdate, db: DB) -> None:
    await automations.replace(db, automation_id, body)


@router.patch("/{automation_id}", status_code=204, responses=NOT_FOUND)
async def patch_automation(
    automation_id: uuid.UUID, body: wire.AutomationPartialUpdate, db: DB
) -> None:
    await automations.set_enabled(db, automation_id, body.enabled)


@router.delete("/{automation_id}", status_code=204, responses=NOT_FOUND)
async def delete_automation(automation_id: uuid.UUID, db: DB) -> None:
    await automations.delete(db, automation_id)

"""The schedules of a deployment: list, add, change, delete, replace all.

Replacing keeps each existing schedule whose definition is unchanged (same id, same
progress), so re-registering a deployment (`flow.serve()` on every start) neither
makes its ticks twice nor forgets which ones it has handled. Removing or changing a
schedule deletes the future runs it made that have not started.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.schedules import (
    DeploymentScheduleCreate,
    DeploymentScheduleRead,
    DeploymentScheduleUpdate,
)
from vibepiper.server.database import Database
from vibepiper.server.repositories import deployments
from vibepiper.server.services import scheduler
from vibepiper.server.services._deployment_read import schedule_read
from vibepiper.server.services._parameters import check_parameters, enforced_schema


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def schedule_row(deployment_id: uuid.UUID, body: DeploymentScheduleCreate) -> dict[str, Any]:
    """The `deployment_schedule` row of a new schedule."""
    return {
        "deployment_id": deployment_id,
        "schedule": body.schedule.model_dump(mode="json"),
        "active": body.active,
        "catchup": body.catchup,
        "max_catchup_runs": body.max_catchup_runs,
        "overlap": body.overlap,
        "parameters": body.parameters,
        "last_scheduled_time": None,
    }


async def replace_schedules(
    connection: AsyncConnection,
    deployment_id: uuid.UUID,
    wanted: Sequence[DeploymentScheduleCreate],
) -> None:
    """Make the deployment's schedules `wanted`, keeping the unchanged ones."""
    existing = (await deployments.schedules_of(connection, [deployment_id]))[deployment_id]
    unmatched = {row["id"]: row for row in existing}
    for body in wanted:
        definition = body.schedule.model_dump(mode="json")
        match = next((r for r in unmatched.values() if r["schedule"] == definition), None)
        if match is None:
            await deployments.insert_schedule(connection, schedule_row(deployment_id, body))
            continue
        del unmatched[match["id"]]
        changes = schedule_row(deployment_id, body)
        changes.pop("last_scheduled_time")
        await deployments.update_schedule(connection, match["id"], changes)
    if unmatched:
        await _drop_future_runs(connection, deployment_id, list(unmatched))
        await deployments.delete_schedules(connection, deployment_id, list(unmatched))


async def _drop_future_runs(
    connection: AsyncConnection, deployment_id: uuid.UUID, schedule_ids: list[uuid.UUID]
) -> None:
    await deployments.delete_unstarted_runs(
        connection, deployment_id, scheduled_only=True, after=_now(), schedule_ids=schedule_ids
    )


async def _deployment_exists(connection: AsyncConnection, deployment_id: uuid.UUID) -> RowMapping:
    row = await deployments.get(connection, deployment_id)
    if row is None:
        raise ObjectNotFound(f"deployment {deployment_id} not found")
    return row


async def list_schedules(db: Database, deployment_id: uuid.UUID) -> list[DeploymentScheduleRead]:
    async with db.read() as connection:
        await _deployment_exists(connection, deployment_id)
        rows = (await deployments.schedules_of(connection, [deployment_id]))[deployment_id]
    return [schedule_read(row) for row in rows]


async def create(
    db: Database, deployment_id: uuid.UUID, body: DeploymentScheduleCreate
) -> DeploymentScheduleRead:
    await scheduler.check_computable([(["body", "schedule"], body.schedule)])
    async with db.write() as connection:
        deployment = await _deployment_exists(connection, deployment_id)
        check_parameters(enforced_schema(deployment), body.parameters, partial=True)
        schedule_id = await deployments.insert_schedule(
            connection, schedule_row(deployment_id, body)
        )
    await scheduler.schedule_deployment(db, deployment_id)
    return await _read(db, deployment_id, schedule_id)


async def update(
    db: Database, deployment_id: uuid.UUID, schedule_id: uuid.UUID, body: DeploymentScheduleUpdate
) -> DeploymentScheduleRead:
    """Change the given fields; a new definition drops the future runs of the old one."""
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in body.model_fields_set
        if getattr(body, name) is not None
    }
    if body.schedule is not None:
        await scheduler.check_computable([(["body", "schedule"], body.schedule)])
    async with db.write() as connection:
        row = await _get(connection, deployment_id, schedule_id)
        if "parameters" in changes:
            deployment = await _deployment_exists(connection, deployment_id)
            check_parameters(enforced_schema(deployment), changes["parameters"], partial=True)
        if "schedule" in changes:
            changes["schedule"] = body.schedule.model_dump(mode="json") if body.schedule else None
            if changes["schedule"] != row["schedule"]:
                await _drop_future_runs(connection, deployment_id, [schedule_id])
                changes["last_scheduled_time"] = None
        if changes.get("active") is False:
            await _drop_future_runs(connection, deployment_id, [schedule_id])
        elif changes.get("active") is True and not row["active"]:
            changes["last_scheduled_time"] = _now()
        if changes:
            await deployments.update_schedule(connection, schedule_id, changes)
    await scheduler.schedule_deployment(db, deployment_id)
    return await _read(db, deployment_id, schedule_id)


async def delete(db: Database, deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
    async with db.write() as connection:
        await _get(connection, deployment_id, schedule_id)
        await _drop_future_runs(connection, deployment_id, [schedule_id])
        await deployments.delete_schedules(connection, deployment_id, [schedule_id])


async def _get(
    connection: AsyncConnection, deployment_id: uuid.UUID, schedule_id: uuid.UUID
) -> Any:
    await _deployment_exists(connection, deployment_id)
    row = await deployments.get_schedule(connection, deployment_id, schedule_id)
    if row is None:
        raise ObjectNotFound(f"schedule {schedule_id} of deployment {deployment_id} not found")
    return row


async def _read(
    db: Database, deployment_id: uuid.UUID, schedule_id: uuid.UUID
) -> DeploymentScheduleRead:
    async with db.read() as connection:
        return schedule_read(await _get(connection, deployment_id, schedule_id))

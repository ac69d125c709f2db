"""Deployments: create-or-replace, read, filter, update, pause/resume, delete.

A deployment is keyed by flow name and deployment name; creating one that exists
replaces it (and its schedules; runs already scheduled stay). Pausing stops its
schedules: the future runs they made that have not started are deleted, and
resuming schedules again from now (the ticks of the pause are neither created nor
counted as missed). A deployment's runs
are made in `deployment_runs`; its schedules are edited in `deployment_schedules`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import deployments as wire
from vibepiper.schemas.runs import flow_id_for
from vibepiper.schemas.schedules import DeploymentScheduleCreate, Schedule
from vibepiper.server.database import Database
from vibepiper.server.repositories import automations, deployments, flows, work_pools
from vibepiper.server.services import _notify, lifecycle_events, scheduler
from vibepiper.server.services._deployment_read import SETTABLE_FIELDS, deployment_read
from vibepiper.server.services._errors import invalid
from vibepiper.server.services._parameters import check_defaults, check_schema, enforced_schema
from vibepiper.server.services.deployment_schedules import replace_schedules
from vibepiper.server.services.job_templates import check_deployment_job_variables


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def read_row(connection: AsyncConnection, deployment_id: uuid.UUID) -> RowMapping:
    row = await deployments.get(connection, deployment_id)
    if row is None:
        raise ObjectNotFound(f"deployment {deployment_id} not found")
    return row


async def to_read(connection: AsyncConnection, row: RowMapping) -> wire.DeploymentRead:
    schedules = await deployments.schedules_of(connection, [row["id"]])
    return deployment_read(row, schedules[row["id"]], _now())


async def create_or_replace(
    db: Database, body: wire.DeploymentCreate
) -> tuple[wire.DeploymentRead, bool]:
    """The deployment named `body.name` of flow `body.flow_name`, created or replaced;
    True when it was created. Its schedules are replaced and scheduled at once."""
    _check_schema(body.parameter_openapi_schema)
    schema = body.parameter_openapi_schema if body.enforce_parameter_schema else None
    check_defaults(schema, body.parameters, body.schedules)
    await scheduler.check_computable(_schedules_at(body.schedules))
    flow_id = flow_id_for(body.flow_name)
    values = {name: getattr(body, name) for name in SETTABLE_FIELDS}
    async with db.write() as connection:
        pool = await _check_pool(connection, values)
        check_deployment_job_variables(pool, values["job_variables"])
        await flows.insert_if_missing(connection, flow_id, body.flow_name)
        existing = await deployments.get_by_name(connection, flow_id, body.name)
        if existing is None:
            deployment_id = uuid.uuid4()
            row = {"id": deployment_id, "flow_id": flow_id, "name": body.name, **values}
            await deployments.insert(connection, row)
        else:
            deployment_id = existing["id"]
            await deployments.update(connection, deployment_id, values)
        await replace_schedules(connection, deployment_id, body.schedules)
        named = {"id": deployment_id, "name": body.name}
        action: Literal["created", "updated"] = "created" if existing is None else "updated"
        await lifecycle_events.changed(connection, "deployment", named, action)
    await scheduler.schedule_deployment(db, deployment_id)
    async with db.read() as connection:
        return await to_read(connection, await read_row(connection, deployment_id)), (
            existing is None
        )


async def read(db: Database, deployment_id: uuid.UUID) -> wire.DeploymentRead:
    async with db.read() as connection:
        return await to_read(connection, await read_row(connection, deployment_id))


async def read_by_name(db: Database, flow_name: str, name: str) -> wire.DeploymentRead:
    async with db.read() as connection:
        row = await deployments.get_by_name(connection, flow_id_for(flow_name), name)
        if row is None:
            raise ObjectNotFound(f"deployment {flow_name}/{name} not found")
        return await to_read(connection, row)


async def filter_deployments(
    db: Database, query: wire.DeploymentFilter
) -> list[wire.DeploymentRead]:
    async with db.read() as connection:
        rows = await deployments.filter_deployments(connection, query)
        schedules = await deployments.schedules_of(connection, [row["id"] for row in rows])
    now = _now()
    return [deployment_read(row, schedules[row["id"]], now) for row in rows]


async def count_deployments(db: Database, query: wire.DeploymentFilter) -> int:
    async with db.read() as connection:
        return await deployments.count_deployments(connection, query)


async def update(
    db: Database, deployment_id: uuid.UUID, body: wire.DeploymentUpdate
) -> wire.DeploymentRead:
    """Change the given fields; `schedules`, when given, replaces them all."""
    changes = {name: getattr(body, name) for name in body.model_fields_set if name != "schedules"}
    if changes.get("paused") is None:
        changes.pop("paused", None)
    if "parameter_openapi_schema" in changes:
        _check_schema(changes["parameter_openapi_schema"])
    if body.schedules is not None:
        await scheduler.check_computable(_schedules_at(body.schedules))
    async with db.write() as connection:
        row = await read_row(connection, deployment_id)
        if _PARAMETER_FIELDS & body.model_fields_set:
            # the defaults and schedules the deployment will have, against its new schema
            after = {**row, **{name: value for name, value in changes.items() if value is not None}}
            if "parameter_openapi_schema" in changes:
                after["parameter_openapi_schema"] = changes["parameter_openapi_schema"]
            check_defaults(enforced_schema(after), after["parameters"], body.schedules)
        placed = "work_pool_name" in changes or "work_queue_name" in changes
        if placed:
            merged = {
                "work_pool_name": changes.get("work_pool_name", row["work_pool_name"]),
                "work_queue_name": changes.get("work_queue_name", row["work_queue_name"]),
            }
            pool = await _check_pool(connection, merged)
            changes.update(merged)
        if placed or "job_variables" in changes:
            if not placed:  # the deployment's pool, as it is
                name = row["work_pool_name"]
                pool = None if name is None else await work_pools.get_pool(connection, name)
            check_deployment_job_variables(
                pool, changes.get("job_variables", row["job_variables"] or {})
            )
        await deployments.update(connection, deployment_id, changes)
        if body.schedules is not None:
            await replace_schedules(connection, deployment_id, body.schedules)
        if changes.get("paused") is not None and changes["paused"] != row["paused"]:
            await _on_pause_change(connection, deployment_id, changes["paused"])
        fields = sorted(body.model_fields_set)
        await lifecycle_events.changed(connection, "deployment", row, "updated", fields)
    await scheduler.schedule_deployment(db, deployment_id)
    return await read(db, deployment_id)


async def set_paused(db: Database, deployment_id: uuid.UUID, paused: bool) -> wire.DeploymentRead:
    async with db.write() as connection:
        row = await read_row(connection, deployment_id)
        if row["paused"] != paused:
            await deployments.update(connection, deployment_id, {"paused": paused})
            await _on_pause_change(connection, deployment_id, paused)
            await lifecycle_events.changed(connection, "deployment", row, "updated", ["paused"])
    if not paused:
        await scheduler.schedule_deployment(db, deployment_id)
        _notify.runs_changed(db)
    return await read(db, deployment_id)


async def _on_pause_change(
    connection: AsyncConnection, deployment_id: uuid.UUID, paused: bool
) -> None:
    now = _now()
    if paused:
        await deployments.delete_unstarted_runs(
            connection, deployment_id, scheduled_only=True, after=now
        )
    else:
        # the pause was deliberate: its ticks are neither made now nor counted missed
        schedules = await deployments.schedules_of(connection, [deployment_id])
        for schedule in schedules[deployment_id]:
            await deployments.update_schedule(
                connection, schedule["id"], {"last_scheduled_time": now}
            )


async def delete(db: Database, deployment_id: uuid.UUID) -> None:
    """Delete the deployment, its schedules, its runs that never started and the
    automations it owns (its triggers)."""
    async with db.write() as connection:
        row = await read_row(connection, deployment_id)
        await deployments.delete_unstarted_runs(connection, deployment_id, scheduled_only=False)
        await deployments.delete(connection, deployment_id)
        await automations.delete_owned_by(connection, f"vibepiper.deployment.{deployment_id}")
        await lifecycle_events.changed(connection, "deployment", row, "deleted")


_PARAMETER_FIELDS = {
    "parameters",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "schedules",
}


def _schedules_at(
    schedules: list[DeploymentScheduleCreate],
) -> list[tuple[list[str | int], Schedule]]:
    return [(["body", "schedules", i, "schedule"], s.schedule) for i, s in enumerate(schedules)]


def _check_schema(schema: dict[str, Any] | None) -> None:
    """422 unless `schema` is a JSON schema whose every `$ref` resolves (see `_parameters`)."""
    check_schema(schema)


async def _check_pool(connection: AsyncConnection, values: dict[str, Any]) -> RowMapping | None:
    """The pool's row (None for none): it must exist; a queue it lacks is created (after
    its other queues)."""
    pool_name, queue_name = values.get("work_pool_name"), values.get("work_queue_name")
    if pool_name is None:
        if queue_name is not None:
            raise invalid(["body", "work_queue_name"], "a work queue needs a work_pool_name")
        return None
    pool = await work_pools.get_pool(connection, pool_name)
    if pool is None:
        raise ObjectNotFound(f"work pool {pool_name!r} not found")
    if (
        queue_name is not None
        and await work_pools.get_queue(connection, pool["id"], queue_name) is None
    ):
        priority = await work_pools.lowest_priority(connection, pool["id"]) + 1
        await work_pools.insert_queue(
            connection,
            pool["id"],
            {"name": queue_name, "priority": priority, "paused": False, "description": None},
        )
    return pool

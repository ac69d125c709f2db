"""Deployment, schedule, pool, queue and worker rows to wire models."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter

from vibepiper.schemas import deployments as wire
from vibepiper.schemas.schedules import DeploymentScheduleRead, Schedule

READY_WITHIN = dt.timedelta(seconds=60)
"""A deployment or pool is READY when something polled it this recently."""

_schedule: TypeAdapter[Schedule] = TypeAdapter(Schedule)


def _recent(moment: dt.datetime | None, now: dt.datetime) -> bool:
    return moment is not None and now - moment <= READY_WITHIN


def schedule_read(row: Mapping[Any, Any]) -> DeploymentScheduleRead:
    return DeploymentScheduleRead(
        **{
            name: row[name]
            for name in DeploymentScheduleRead.model_fields
            if name not in ("schedule", "parameters")
        },
        schedule=_schedule.validate_python(row["schedule"]),
        parameters=row["parameters"] or {},
    )


def deployment_read(
    row: Mapping[Any, Any], schedules: Sequence[Mapping[Any, Any]], now: dt.datetime
) -> wire.DeploymentRead:
    return wire.DeploymentRead(
        **{name: row[name] for name in _DEPLOYMENT_FIELDS},
        tags=row["tags"] or [],
        parameters=row["parameters"] or {},
        job_variables=row["job_variables"] or {},
        schedules=[schedule_read(schedule) for schedule in schedules],
        status="READY" if _recent(row["last_polled"], now) else "NOT_READY",
    )


SETTABLE_FIELDS = (
    "description",
    "version",
    "tags",
    "parameters",
    "parameter_openapi_schema",
    "enforce_parameter_schema",
    "entrypoint",
    "path",
    "source",
    "work_pool_name",
    "work_queue_name",
    "job_variables",
    "paused",
    "concurrency_limit",
)
"""The deployment fields a client sets, named alike in `DeploymentCreate` and the table."""

_DEFAULTED = ("tags", "parameters", "job_variables")  # NULL reads as empty
_DEPLOYMENT_FIELDS = (
    "id",
    "name",
    "flow_id",
    "flow_name",
    *(name for name in SETTABLE_FIELDS if name not in _DEFAULTED),
    "last_polled",
    "created",
    "updated",
)


def pool_read(
    row: Mapping[Any, Any], last_heartbeat: dt.datetime | None, now: dt.datetime
) -> wire.WorkPoolRead:
    status = "READY" if _recent(last_heartbeat, now) else "NOT_READY"
    if row["paused"]:
        status = "PAUSED"
    fields = ("id", "name", "type", "description", "paused", "concurrency_limit", "created")
    return wire.WorkPoolRead(
        **{name: row[name] for name in fields},
        base_job_template=row["base_job_template"] or {},
        status=status,  # type: ignore[arg-type]
        updated=row["updated"],
    )


def queue_read(row: Mapping[Any, Any]) -> wire.WorkQueueRead:
    return wire.WorkQueueRead(**{name: row[name] for name in wire.WorkQueueRead.model_fields})


def worker_online(row: Mapping[Any, Any], now: dt.datetime) -> bool:
    """Heard from within three heartbeat intervals (at least 30 s)."""
    window = max(3 * float(row["heartbeat_interval_seconds"]), 30.0)
    return bool((now - row["last_heartbeat"]).total_seconds() <= window)


def worker_read(
    row: Mapping[Any, Any], held: Sequence[uuid.UUID], now: dt.datetime
) -> wire.WorkerRead:
    return wire.WorkerRead(
        id=row["id"],
        work_pool_name=row["work_pool_name"],
        name=row["name"],
        last_heartbeat=row["last_heartbeat"],
        heartbeat_interval_seconds=row["heartbeat_interval_seconds"],
        status="ONLINE" if worker_online(row, now) else "OFFLINE",
        flow_run_ids=list(held),
        created=row["created"],
    )

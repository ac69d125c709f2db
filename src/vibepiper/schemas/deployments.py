"""Wire models of deployments, work pools, work queues, workers and run claims.

A deployment is a flow made runnable from elsewhere: where its code is (`entrypoint`,
`path`, `source`), with which default parameters, on which schedules, in which work
pool (or, with no pool, by the `serve()` process that registered it). Workers and
serve processes *claim* due runs (`POST /api/workers/claim`) and *heartbeat* the runs
they hold (`POST /api/workers/heartbeat`); the answer to a heartbeat says which of
them to cancel.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vibepiper.schemas.api import (
    MAX_INT,
    FlowRunRead,
    JsonDict,
    Name,
    RequestModel,
    StateCreate,
    Tags,
    Text,
    UtcDatetime,
)
from vibepiper.schemas.api_filters import Limit, Names, Offset
from vibepiper.schemas.schedules import DeploymentScheduleCreate, DeploymentScheduleRead

Slots = Annotated[int, Field(ge=1, le=MAX_INT)]
Priority = Annotated[int, Field(ge=1, le=MAX_INT)]
DEFAULT_QUEUE = "default"


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- deployments ----------------------------------------------------------------------
class DeploymentCreate(RequestModel):
    """Create a deployment, or replace the one with the same flow and deployment name
    (its schedules are replaced too; runs already scheduled stay)."""

    name: Name
    flow_name: Name
    description: Text | None = None
    version: Name | None = None
    tags: Tags = Field(default_factory=list)
    parameters: JsonDict = Field(default_factory=dict, description="Default parameters.")
    parameter_openapi_schema: JsonDict | None = Field(
        default=None, description="JSON schema of the flow's parameters."
    )
    enforce_parameter_schema: bool = True
    entrypoint: Text | None = Field(
        default=None,
        description="`path/to/file.py:flow_function` (relative to `path`) or "
        "`module:flow_function`.",
    )
    path: Text | None = Field(
        default=None, description="Directory the entrypoint is resolved in and runs from."
    )
    source: JsonDict | None = Field(
        default=None,
        description='Where to fetch the code first: {"type": "git", "url": ..., "branch": ...} '
        'or {"type": "directory", "path": ...}.',
    )
    work_pool_name: Name | None = Field(
        default=None, description="None: run by the `serve()` process that registered it."
    )
    work_queue_name: Name | None = Field(default=None, description=f"Default: {DEFAULT_QUEUE!r}.")
    job_variables: JsonDict = Field(default_factory=dict)
    paused: bool = False
    concurrency_limit: Slots | None = Field(
        default=None, description="At most this many runs of the deployment at once."
    )
    schedules: Annotated[list[DeploymentScheduleCreate], Field(max_length=100)] = Field(
        default_factory=list
    )


class DeploymentUpdate(RequestModel):
    """Fields to change; omitted ones stay. `schedules`, when given, replaces them all."""

    description: Text | None = None
    version: Name | None = None
    tags: Tags | None = None
    parameters: JsonDict | None = None
    parameter_openapi_schema: JsonDict | None = None
    enforce_parameter_schema: bool | None = None
    entrypoint: Text | None = None
    path: Text | None = None
    source: JsonDict | None = None
    work_pool_name: Name | None = None
    work_queue_name: Name | None = None
    job_variables: JsonDict | None = None
    paused: bool | None = None
    concurrency_limit: Slots | None = None
    schedules: Annotated[list[DeploymentScheduleCreate], Field(max_length=100)] | None = None

    @field_validator(
        "tags", "parameters", "enforce_parameter_schema", "job_variables", "paused", mode="before"
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # omitted means "keep it"; an explicit null would erase a value the deployment needs
        if value is None:
            raise ValueError("may not be null (omit the field to keep its value)")
        return value


class DeploymentRead(_Read):
    id: uuid.UUID
    name: str
    flow_id: uuid.UUID
    flow_name: str
    description: str | None
    version: str | None
    tags: list[str]
    parameters: dict[str, Any]
    parameter_openapi_schema: dict[str, Any] | None
    enforce_parameter_schema: bool
    entrypoint: str | None
    path: str | None
    source: dict[str, Any] | None
    work_pool_name: str | None
    work_queue_name: str | None
    job_variables: dict[str, Any]
    paused: bool
    concurrency_limit: int | None
    schedules: list[DeploymentScheduleRead]
    last_polled: dt.datetime | None = Field(
        description="When a worker or serve process last asked for this deployment's runs."
    )
    status: Literal["READY", "NOT_READY"] = Field(
        description="READY when something polled for its runs within the last minute."
    )
    created: dt.datetime
    updated: dt.datetime


class DeploymentFilter(RequestModel):
    """Which deployments to return (`POST /api/deployments/filter`)."""

    id: Annotated[list[uuid.UUID], Field(max_length=1000)] | None = None
    flow_name: Names | None = None
    name_like: Name | None = Field(default=None, description="Case-insensitive substring.")
    work_pool_name: Names | None = None
    paused: bool | None = None
    limit: Limit = 100
    offset: Offset = 0


class DeploymentFlowRunCreate(RequestModel):
    """A run of a deployment (`POST /api/deployments/{id}/create_flow_run`).

    `parameters` are merged over the deployment's defaults and validated against its
    parameter schema (a 422 names the field; no run is created).
    """

    parameters: JsonDict = Field(default_factory=dict)
    name: Name | None = None
    tags: Tags | None = Field(default=None, description="Default: the deployment's tags.")
    scheduled_time: UtcDatetime | None = Field(default=None, description="Default: now.")
    idempotency_key: Name | None = Field(
        default=None, description="A second request with the same key returns the first run."
    )
    job_variables: JsonDict | None = None
    state: StateCreate | None = Field(default=None, description="Default: Scheduled.")
    parent_task_run_id: uuid.UUID | None = Field(
        default=None,
        description="The task run standing for this run in a parent flow run (a "
        "`run_deployment` call inside a flow): the run is shown as that flow's subflow.",
    )


class BackfillRequest(RequestModel):
    """Create the runs every active schedule would have created in [start, end]."""

    start: UtcDatetime
    end: UtcDatetime


class BackfillResult(BaseModel):
    created: int
    existing: int = Field(description="Ticks whose run already existed (nothing created).")
    flow_run_ids: list[uuid.UUID]


# --- work pools and queues ------------------------------------------------------------
_TEMPLATE_HELP = (
    'Prefect\'s base job template: {"job_configuration": {...}, "variables": {JSON schema}}; '
    "every `{{ name }}` in `job_configuration` must be declared in `variables.properties`. "
    "Empty: the default template of the pool's type."
)


class WorkPoolCreate(RequestModel):
    name: Name
    type: Literal["process", "docker"] = "process"
    description: Text | None = None
    paused: bool = False
    concurrency_limit: Slots | None = None
    base_job_template: JsonDict = Field(default_factory=dict, description=_TEMPLATE_HELP)


class WorkPoolUpdate(RequestModel):
    description: Text | None = None
    paused: bool | None = None
    concurrency_limit: Slots | None = None
    base_job_template: JsonDict | None = Field(default=None, description=_TEMPLATE_HELP)


class WorkPoolRead(_Read):
    id: uuid.UUID
    name: str
    type: str
    description: str | None
    paused: bool
    concurrency_limit: int | None
    base_job_template: dict[str, Any]
    status: Literal["READY", "NOT_READY", "PAUSED"] = Field(
        description="READY when a worker heartbeated within the last minute."
    )
    created: dt.datetime
    updated: dt.datetime


class WorkQueueCreate(RequestModel):
    name: Name
    description: Text | None = None
    priority: Priority = Field(default=1, description="1 is served first.")
    concurrency_limit: Slots | None = None
    paused: bool = False


class WorkQueueUpdate(RequestModel):
    description: Text | None = None
    priority: Priority | None = None
    concurrency_limit: Slots | None = None
    paused: bool | None = None


class WorkQueueRead(_Read):
    id: uuid.UUID
    work_pool_name: str
    name: str
    description: str | None
    priority: int
    concurrency_limit: int | None
    paused: bool
    last_polled: dt.datetime | None
    created: dt.datetime
    updated: dt.datetime


class WorkerRead(_Read):
    id: uuid.UUID
    work_pool_name: str | None
    name: str
    last_heartbeat: dt.datetime
    heartbeat_interval_seconds: float
    status: Literal["ONLINE", "OFFLINE"]
    flow_run_ids: list[uuid.UUID] = Field(description="Runs the worker holds.")
    created: dt.datetime


# --- claims and heartbeats ------------------------------------------------------------
class ClaimRequest(RequestModel):
    """Claim due runs (`POST /api/workers/claim`).

    A worker names its pool (and optionally queues); a serve process names its
    deployments. Claimed runs move to Pending and are held by `worker_name`, which
    must heartbeat them. With `wait_seconds`, the call waits up to that long for a run
    to come due (long poll) instead of answering an empty list at once.
    """

    worker_name: Name
    work_pool_name: Name | None = None
    work_queue_names: Names | None = None
    deployment_ids: Annotated[list[uuid.UUID], Field(max_length=1000)] | None = None
    limit: Annotated[int, Field(ge=0, le=1000)] = 1
    wait_seconds: Annotated[float, Field(ge=0, le=60)] = 0
    heartbeat_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0


class ClaimedRun(BaseModel):
    flow_run: FlowRunRead
    deployment: DeploymentRead
    job_variables: dict[str, Any] = Field(
        default_factory=dict,
        description="The run's own job variables (from the request that made it), laid "
        "over the deployment's when the worker renders the pool's base job template.",
    )


class HeartbeatRequest(RequestModel):
    """A worker (or serve process) is alive and holds these runs."""

    worker_name: Name
    work_pool_name: Name | None = None
    deployment_ids: Annotated[list[uuid.UUID], Field(max_length=1000)] | None = None
    flow_run_ids: Annotated[list[uuid.UUID], Field(max_length=10_000)] = Field(default_factory=list)
    heartbeat_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 2.0
    infrastructure_pids: Annotated[dict[uuid.UUID, Name], Field(max_length=10_000)] = Field(
        default_factory=dict,
        description='"host:pid" of the process running each held run: recorded on the run, '
        "so the slots that process holds are released if the run crashes.",
    )


class CancellationWatch(RequestModel):
    """`POST /api/workers/cancellations`: wait until one of these held runs is asked to
    cancel (or is final or gone), at most `wait_seconds`."""

    flow_run_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10_000)]
    wait_seconds: Annotated[float, Field(ge=0, le=60)] = 10.0


class HeartbeatResponse(BaseModel):
    cancel: list[uuid.UUID] = Field(
        description="Held runs that were asked to cancel (state Cancelling): stop them."
    )
    gone: list[uuid.UUID] = Field(
        description="Held runs already in a final state or deleted: forget them."
    )


class CancelResult(BaseModel):
    """`POST /api/flow_runs/{id}/cancel`: a run not started yet is Cancelled at once;
    a claimed or running one becomes Cancelling until its worker stops it."""

    flow_run: FlowRunRead
    status: Literal["CANCELLED", "CANCELLING", "ALREADY_FINAL"]

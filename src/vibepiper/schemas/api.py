"""Wire models of the REST API: what clients send to the server and what it answers.

Every text field refuses NUL characters and unpaired surrogates (PostgreSQL and UTF-8
cannot store them), every number is bounded to what both databases hold, and every
datetime is turned into aware UTC (a naive one is taken to be UTC already), so bad
input is a 422 naming the field rather than a database error. Filters live in
`schemas.api_filters`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vibepiper.states import StateType

MAX_INT = 2**31 - 1
"""Largest integer accepted in a counter or level (fits every backend's INTEGER)."""

MAX_NAME = 500
MAX_MESSAGE = 1_000_000
MAX_TAGS = 100


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no unpaired surrogates)") from None
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise ValueError("is nested more than 64 levels deep")
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            _clean_text(key)
            _clean_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _clean_json(item, depth + 1)
    return value


def check_storable(value: Any) -> Any:
    """`value` (JSON) if every text in it can be stored (no NUL, valid Unicode, at most
    64 levels deep); ValueError naming the problem otherwise."""
    return _clean_json(value)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Text = Annotated[str, Field(max_length=MAX_MESSAGE), AfterValidator(_clean_text)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_clean_text)]
Tag = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_clean_text)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
JsonDict = Annotated[dict[str, Any], AfterValidator(_clean_json)]
UtcDatetime = Annotated[dt.datetime, AfterValidator(_utc)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]


class RequestModel(BaseModel):
    """A request body: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- states ---------------------------------------------------------------------------
class StateCreate(RequestModel):
    """A state proposed for a run.

    With an `id`, proposing it again once it is recorded changes nothing (a client may
    re-send after a lost answer).
    """

    id: uuid.UUID | None = None
    type: StateType
    name: Name | None = Field(default=None, description="Display name; defaults from the type.")
    message: Text | None = None
    timestamp: UtcDatetime | None = Field(default=None, description="Default: the server's clock.")
    state_details: JsonDict = Field(default_factory=dict)


class StateRead(_Read):
    """One state of a run, as stored."""

    id: uuid.UUID
    type: StateType
    name: str
    message: str | None = None
    timestamp: dt.datetime
    state_details: dict[str, Any] = Field(default_factory=dict)


class SetState(RequestModel):
    """Body of `POST /{kind}_runs/{id}/set_state`."""

    state: StateCreate
    force: bool = Field(
        default=False, description="Skip the orchestration rules (operator override)."
    )
    run_details: JsonDict | None = Field(
        default=None,
        description="Task runs: replace the run's details (cache and result facts) when the "
        "state is accepted.",
    )


class OrchestrationResult(BaseModel):
    """What the orchestration rules made of a proposed state."""

    status: Literal["ACCEPT", "REJECT"]
    state: StateRead | None = Field(description="The run's state after the proposal.")
    reason: str | None = None


# --- flows ----------------------------------------------------------------------------
class FlowCreate(RequestModel):
    """A flow, created on first use and found by name afterwards."""

    name: Name


class FlowRead(_Read):
    id: uuid.UUID
    name: str
    created: dt.datetime


# --- flow runs ------------------------------------------------------------------------
class FlowRunCreate(RequestModel):
    """A new flow run. Sending an `id` that exists returns that run unchanged."""

    id: uuid.UUID | None = None
    flow_id: uuid.UUID
    name: Name | None = None
    parameters: JsonDict = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    parent_task_run_id: uuid.UUID | None = None
    deployment_id: uuid.UUID | None = None
    flow_version: Name | None = None
    entrypoint: Text | None = None
    infrastructure_pid: Name | None = None
    expected_start_time: UtcDatetime | None = None
    state: StateCreate | None = None


class FlowRunUpdate(RequestModel):
    """The fields of a flow run to change (`PATCH /flow_runs/{id}`).

    A field left out, or sent as null, stays as it is; `tags` and `parameters` replace
    the run's whole list or object (nothing is merged).
    """

    name: Name | None = None
    tags: Tags | None = None
    parameters: JsonDict | None = None
    flow_version: Name | None = None


class FlowRunRead(_Read):
    id: uuid.UUID
    name: str
    flow_id: uuid.UUID
    flow_name: str | None
    state_type: StateType | None
    state_name: str | None
    state: StateRead | None
    parameters: dict[str, Any]
    tags: list[str]
    run_count: int
    parent_task_run_id: uuid.UUID | None
    deployment_id: uuid.UUID | None
    flow_version: str | None
    entrypoint: str | None
    infrastructure_pid: str | None
    created: dt.datetime
    updated: dt.datetime
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    expected_start_time: dt.datetime | None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    worker_name: str | None = Field(
        default=None, description="The worker or serve process that claimed the run."
    )
    heartbeat_time: dt.datetime | None = Field(
        default=None, description="When the worker holding the run last reported it alive."
    )
    idempotency_key: str | None = None
    deployment_schedule_id: uuid.UUID | None = Field(
        default=None, description="The schedule that created the run, if one did."
    )


# --- task runs ------------------------------------------------------------------------
class TaskRunInput(RequestModel):
    """An upstream run (or flow parameter) feeding a task run's parameter."""

    input_type: Literal["task_run", "flow_run", "parameter"]
    id: uuid.UUID | None = None
    name: Name | None = None


class TaskRunCreate(RequestModel):
    """A new task run. Sending an `id` that exists returns that run unchanged."""

    id: uuid.UUID | None = None
    flow_run_id: uuid.UUID | None = None
    name: Name
    task_key: Name
    task_name: Name | None = Field(default=None, description="Default: the run's name.")
    dynamic_key: Name = "0"
    tags: Tags = Field(default_factory=list)
    task_inputs: Annotated[dict[Name, list[TaskRunInput]], Field(max_length=1000)] = Field(
        default_factory=dict
    )
    cache_key: Name | None = None
    cache_expiration: UtcDatetime | None = None
    task_version: Name | None = None
    subflow_run_id: uuid.UUID | None = None
    state: StateCreate | None = None


class TaskRunRead(_Read):
    id: uuid.UUID
    name: str
    flow_run_id: uuid.UUID | None
    task_key: str
    task_name: str
    dynamic_key: str
    state_type: StateType | None
    state_name: str | None
    state: StateRead | None
    tags: list[str]
    run_count: int
    cache_key: str | None
    cache_expiration: dt.datetime | None
    task_version: str | None
    subflow_run_id: uuid.UUID | None
    task_inputs: dict[str, list[TaskRunInput]]
    details: dict[str, Any]
    created: dt.datetime
    updated: dt.datetime
    start_time: dt.datetime | None
    end_time: dt.datetime | None


# --- logs -----------------------------------------------------------------------------
class LogCreate(RequestModel):
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None
    name: Name
    level: Annotated[int, Field(ge=0, le=1000)]
    message: Text
    timestamp: UtcDatetime


class LogRead(_Read):
    id: int
    flow_run_id: uuid.UUID | None
    task_run_id: uuid.UUID | None
    name: str
    level: int
    message: str
    timestamp: dt.datetime


class LogsCreated(BaseModel):
    count: int


# --- graph ----------------------------------------------------------------------------
class GraphNode(BaseModel):
    """A task run of the graph; `subflow_run_id` links to the flow run it stands for."""

    id: uuid.UUID
    name: str
    task_key: str
    state_type: StateType | None
    state_name: str | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    subflow_run_id: uuid.UUID | None


class GraphEdge(BaseModel):
    """`upstream_id` feeds parameter `parameter` of task run `downstream_id`.

    For `input_type` `flow_run`, `upstream_id` is a subflow's run; `upstream_node_id`
    is the task run standing for it in this graph, when there is one.
    """

    upstream_id: uuid.UUID
    downstream_id: uuid.UUID
    parameter: str
    input_type: str
    upstream_node_id: uuid.UUID | None


class FlowRunGraph(BaseModel):
    flow_run_id: uuid.UUID
    nodes: list[GraphNode]
    edges: list[GraphEdge]


# --- server ---------------------------------------------------------------------------
class VersionInfo(BaseModel):
    version: str
    api_version: str
    database: str = Field(description="The database backend: sqlite or postgresql.")
    schema_revision: str

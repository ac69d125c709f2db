"""Filters of the client's `read_*` methods, with Prefect's shape
(`prefect.client.schemas.filters`): one model per object, one sub-model per field, and
Prefect's operators (`any_`, `all_`, `like_`, `before_`, `after_`, ...).

    from vibepiper.client.schemas.filters import FlowRunFilter, FlowRunFilterState, ...

    FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["FAILED"])))

The client turns them into the API's own filter. A criterion the API cannot express
(`is_null_`, `not_any_`, an `or_` between criteria, ...) is refused with
`UnsupportedFilter` naming it and listing what can be asked, never silently dropped.
Unknown fields are an error, so a typo does not widen the result.
"""

from __future__ import annotations

import enum
import uuid

from pydantic import BaseModel, ConfigDict, Field

from vibepiper.schemas.api import UtcDatetime
from vibepiper.states import StateType

__all__ = [
    "DeploymentFilter",
    "DeploymentFilterId",
    "DeploymentFilterName",
    "DeploymentFilterPaused",
    "DeploymentFilterTags",
    "DeploymentFilterWorkQueueName",
    "FlowFilter",
    "FlowFilterId",
    "FlowFilterName",
    "FlowFilterTags",
    "FlowRunFilter",
    "FlowRunFilterDeploymentId",
    "FlowRunFilterEndTime",
    "FlowRunFilterExpectedStartTime",
    "FlowRunFilterFlowVersion",
    "FlowRunFilterId",
    "FlowRunFilterIdempotencyKey",
    "FlowRunFilterName",
    "FlowRunFilterNextScheduledStartTime",
    "FlowRunFilterParentFlowRunId",
    "FlowRunFilterParentTaskRunId",
    "FlowRunFilterStartTime",
    "FlowRunFilterState",
    "FlowRunFilterStateName",
    "FlowRunFilterStateType",
    "FlowRunFilterTags",
    "FlowRunFilterWorkQueueName",
    "LogFilter",
    "LogFilterFlowRunId",
    "LogFilterLevel",
    "LogFilterName",
    "LogFilterTaskRunId",
    "LogFilterTimestamp",
    "Operator",
    "TaskRunFilter",
    "TaskRunFilterFlowRunId",
    "TaskRunFilterId",
    "TaskRunFilterName",
    "TaskRunFilterStartTime",
    "TaskRunFilterState",
    "TaskRunFilterStateName",
    "TaskRunFilterStateType",
    "TaskRunFilterSubFlowRuns",
    "TaskRunFilterTags",
    "WorkPoolFilter",
    "WorkPoolFilterId",
    "WorkPoolFilterName",
    "WorkPoolFilterType",
    "WorkQueueFilter",
    "WorkQueueFilterId",
    "WorkQueueFilterName",
]


class Operator(enum.StrEnum):
    """How the criteria of one filter combine (`and_` unless told)."""

    and_ = "and_"
    or_ = "or_"


class _Filter(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Combined(_Filter):
    operator: Operator = Field(default=Operator.and_, description="and_ (default) or or_.")


# --- flows -----------------------------------------------------------------------------
class FlowFilterId(_Filter):
    any_: list[uuid.UUID] | None = None


class FlowFilterName(_Filter):
    any_: list[str] | None = None
    like_: str | None = None


class FlowFilterTags(_Combined):
    all_: list[str] | None = None
    is_null_: bool | None = None


class FlowFilter(_Combined):
    id: FlowFilterId | None = None
    name: FlowFilterName | None = None
    tags: FlowFilterTags | None = None


# --- flow runs -------------------------------------------------------------------------
class FlowRunFilterId(_Filter):
    any_: list[uuid.UUID] | None = None
    not_any_: list[uuid.UUID] | None = None


class FlowRunFilterName(_Filter):
    any_: list[str] | None = None
    like_: str | None = None


class FlowRunFilterTags(_Combined):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilterDeploymentId(_Combined):
    any_: list[uuid.UUID] | None = None
    is_null_: bool | None = None


class FlowRunFilterWorkQueueName(_Combined):
    any_: list[str] | None = None
    is_null_: bool | None = None


class FlowRunFilterStateType(_Filter):
    any_: list[StateType] | None = None
    not_any_: list[StateType] | None = None


class FlowRunFilterStateName(_Filter):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class FlowRunFilterState(_Combined):
    type: FlowRunFilterStateType | None = None
    name: FlowRunFilterStateName | None = None


class FlowRunFilterFlowVersion(_Filter):
    any_: list[str] | None = None


class FlowRunFilterStartTime(_Filter):
    before_: UtcDatetime | None = None
    after_: UtcDatetime | None = None
    is_null_: bool | None = None


class FlowRunFilterEndTime(_Filter):
    before_: UtcDatetime | None = None
    after_: UtcDatetime | None = None
    is_null_: bool | None = None


class FlowRunFilterExpectedStartTime(_Filter):
    before_: UtcDatetime | None = None
    after_: UtcDatetime | None = None


class FlowRunFilterNextScheduledStartTime(_Filter):
    before_: UtcDatetime | None = None
    after_: UtcDatetime | None = None


class FlowRunFilterParentFlowRunId(_Combined):
    any_: list[uuid.UUID] | None = None


class FlowRunFilterParentTaskRunId(_Combined):
    any_: list[uuid.UUID] | None = None
    is_null_: bool | None = None


class FlowRunFilterIdempotencyKey(_Filter):
    any_: list[str] | None = None
    not_any_: list[str] | None = None


class FlowRunFilter(_Combined):
    id: FlowRunFilterId | None = None
    name: FlowRunFilterName | None = None
    tags: FlowRunFilterTags | None = None
    deployment_id: FlowRunFilterDeploymentId | None = None
    work_queue_name: FlowRunFilterWorkQueueName | None = None
    state: FlowRunFilterState | None = None
    flow_version: FlowRunFilterFlowVersion | None = None
    start_time: FlowRunFilterStartTime | None = None
    end_time: FlowRunFilterEndTime | None = None
    expected_start_time: FlowRunFilterExpectedStartTime | None = None
    next_scheduled_start_time: FlowRunFilterNextScheduledStartTime | None = None
    parent_flow_run_id: FlowRunFilterParentFlowRunId | None = None
    parent_task_run_id: FlowRunFilterParentTaskRunId | None = None
    idempotency_key: FlowRunFilterIdempotencyKey | None = None


# --- task runs -------------------------------------------------------------------------
class TaskRunFilterFlowRunId(_Filter):
    any_: list[uuid.UUID] | None = None
    is_null_: bool = False


class TaskRunFilterId(_Filter):
    any_: list[uuid.UUID] | None = None


class TaskRunFilterName(_Filter):
    any_: list[str] | None = None
    like_: str | None = None


class TaskRunFilterTags(_Combined):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class TaskRunFilterStateType(_Filter):
    any_: list[StateType] | None = None


class TaskRunFilterStateName(_Filter):
    any_: list[str] | None = None


class TaskRunFilterState(_Combined):
    type: TaskRunFilterStateType | None = None
    name: TaskRunFilterStateName | None = None


class TaskRunFilterSubFlowRuns(_Filter):
    exists_: bool | None = None


class TaskRunFilterStartTime(_Filter):
    before_: UtcDatetime | None = None
    after_: UtcDatetime | None = None
    is_null_: bool | None = None


class TaskRunFilter(_Combined):
    id: TaskRunFilterId | None = None
    name: TaskRunFilterName | None = None
    tags: TaskRunFilterTags | None = None
    state: TaskRunFilterState | None = None
    start_time: TaskRunFilterStartTime | None = None
    subflow_runs: TaskRunFilterSubFlowRuns | None = None
    flow_run_id: TaskRunFilterFlowRunId | None = None


# --- deployments -----------------------------------------------------------------------
class DeploymentFilterId(_Filter):
    any_: list[uuid.UUID] | None = None
    not_any_: list[uuid.UUID] | None = None


class DeploymentFilterName(_Filter):
    any_: list[str] | None = None
    like_: str | None = None


class DeploymentFilterPaused(_Filter):
    eq_: bool | None = None


class DeploymentFilterWorkQueueName(_Filter):
    any_: list[str] | None = None


class DeploymentFilterTags(_Combined):
    all_: list[str] | None = None
    any_: list[str] | None = None
    is_null_: bool | None = None


class DeploymentFilter(_Combined):
    id: DeploymentFilterId | None = None
    name: DeploymentFilterName | None = None
    paused: DeploymentFilterPaused | None = None
    tags: DeploymentFilterTags | None = None
    work_queue_name: DeploymentFilterWorkQueueName | None = None


# --- logs ------------------------------------------------------------------------------
class LogFilterName(_Filter):
    any_: list[str] | None = None


class LogFilterLevel(_Filter):
    ge_: int | None = None
    le_: int | None = None


class LogFilterTimestamp(_Filter):
    before_: UtcDatetime | None = None
    after_: UtcDatetime | None = None


class LogFilterFlowRunId(_Filter):
    any_: list[uuid.UUID] | None = None


class LogFilterTaskRunId(_Filter):
    any_: list[uuid.UUID] | None = None
    is_null_: bool | None = None


class LogFilter(_Combined):
    level: LogFilterLevel | None = None
    timestamp: LogFilterTimestamp | None = None
    flow_run_id: LogFilterFlowRunId | None = None
    task_run_id: LogFilterTaskRunId | None = None


# --- work pools and queues -------------------------------------------------------------
class WorkPoolFilterId(_Filter):
    any_: list[uuid.UUID] | None = None


class WorkPoolFilterName(_Filter):
    any_: list[str] | None = None


class WorkPoolFilterType(_Filter):
    any_: list[str] | None = None


class WorkPoolFilter(_Combined):
    id: WorkPoolFilterId | None = None
    name: WorkPoolFilterName | None = None
    type: WorkPoolFilterType | None = None


class WorkQueueFilterId(_Filter):
    any_: list[uuid.UUID] | None = None


class WorkQueueFilterName(_Filter):
    any_: list[str] | None = None
    startswith_: list[str] | None = None


class WorkQueueFilter(_Combined):
    id: WorkQueueFilterId | None = None
    name: WorkQueueFilterName | None = None

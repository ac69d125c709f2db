"""Filter bodies of the REST API's `POST .../filter` and `.../count` endpoints.

Each field narrows the result (fields combine with AND; a list means any of its
values). `limit`/`offset` paginate; `sort` picks the order, with the id as the last
key so pages never overlap.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

from pydantic import Field

from vibepiper.schemas.api import Name, RequestModel, Tag, UtcDatetime
from vibepiper.states import StateType

MAX_LIMIT = 1000
_LIKE = "Case-insensitive substring of the name."
MAX_OFFSET = 10_000_000

Ids = Annotated[list[uuid.UUID], Field(max_length=MAX_LIMIT)]
Names = Annotated[list[Name], Field(max_length=MAX_LIMIT)]
TagList = Annotated[list[Tag], Field(max_length=100)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]


class FlowRunSort(enum.StrEnum):
    CREATED_DESC = "CREATED_DESC"
    CREATED_ASC = "CREATED_ASC"
    START_TIME_DESC = "START_TIME_DESC"
    START_TIME_ASC = "START_TIME_ASC"
    END_TIME_DESC = "END_TIME_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    EXPECTED_START_TIME_ASC = "EXPECTED_START_TIME_ASC"
    EXPECTED_START_TIME_DESC = "EXPECTED_START_TIME_DESC"


class TaskRunSort(enum.StrEnum):
    CREATED_ASC = "CREATED_ASC"
    CREATED_DESC = "CREATED_DESC"
    START_TIME_ASC = "START_TIME_ASC"
    START_TIME_DESC = "START_TIME_DESC"
    NAME_ASC = "NAME_ASC"


class LogSort(enum.StrEnum):
    TIMESTAMP_ASC = "TIMESTAMP_ASC"
    TIMESTAMP_DESC = "TIMESTAMP_DESC"


class FlowFilter(RequestModel):
    names: Names | None = None
    name_like: Name | None = Field(
        default=None, description="Case-insensitive substring of the name."
    )
    limit: Limit = 100
    offset: Offset = 0


class RunFilter(RequestModel):
    """The filter fields flow runs and task runs share."""

    id: Ids | None = None
    state_type: Annotated[list[StateType], Field(max_length=20)] | None = None
    state_name: Names | None = Field(default=None, description="Display names, e.g. TimedOut.")
    tags_all: TagList | None = Field(default=None, description="Runs carrying every one of these.")
    tags_any: TagList | None = Field(
        default=None, description="Runs carrying at least one of these."
    )
    name: Names | None = Field(default=None, description="Exact names (any of them).")
    name_like: Name | None = Field(
        default=None, description="Case-insensitive substring of the name."
    )
    created_after: UtcDatetime | None = None
    created_before: UtcDatetime | None = None
    start_time_after: UtcDatetime | None = None
    start_time_before: UtcDatetime | None = None


class FlowRunFilter(RunFilter):
    """Which flow runs to return (`POST /api/flow_runs/filter`)."""

    flow_id: Ids | None = None
    flow_name: Names | None = None
    parent_task_run_id: Ids | None = None
    parent_flow_run_id: uuid.UUID | None = Field(
        default=None, description="Only subflow runs started by this flow run."
    )
    root_only: bool = Field(default=False, description="Only runs that are not subflows.")
    deployment_id: Ids | None = None
    work_pool_name: Names | None = None
    expected_start_time_after: UtcDatetime | None = None
    expected_start_time_before: UtcDatetime | None = None
    sort: FlowRunSort = FlowRunSort.CREATED_DESC
    limit: Limit = 100
    offset: Offset = 0


class TaskRunFilter(RunFilter):
    """Which task runs to return (`POST /api/task_runs/filter`)."""

    flow_run_id: Ids | None = None
    task_key: Names | None = None
    sort: TaskRunSort = TaskRunSort.CREATED_ASC
    limit: Limit = 100
    offset: Offset = 0


class LogFilter(RequestModel):
    """Which log lines to return (`POST /api/logs/filter`)."""

    flow_run_id: Ids | None = None
    task_run_id: Ids | None = None
    level_ge: Annotated[int, Field(ge=0, le=1000)] | None = None
    timestamp_after: UtcDatetime | None = None
    timestamp_before: UtcDatetime | None = None
    sort: LogSort = LogSort.TIMESTAMP_ASC
    limit: Limit = 200
    offset: Offset = 0

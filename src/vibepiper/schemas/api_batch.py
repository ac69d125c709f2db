"""Wire models of `POST /api/batch`: many writes, applied in order in one transaction.

A batch is an ordered list of operations, each tagged by `op`. Each answers with one
`BatchOutcome` at the same index: `ok`, `rejected` (a state the orchestration rules
refused, with the run's current state) or `error` (e.g. an unknown run, with a
message). A malformed operation fails the whole request with a 422 naming its index
and field, and nothing is written.

Re-sending a batch is safe: runs are created by id (an existing id is left as it is),
a state carrying an `id` that is recorded already is not applied again, and a log
line identical to one stored for the same run at the same instant is skipped.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from vibepiper.schemas.api import (
    FlowRunCreate,
    JsonDict,
    LogCreate,
    Name,
    RequestModel,
    StateCreate,
    StateRead,
    TaskRunCreate,
)
from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
from vibepiper.schemas.events import Event

MAX_BATCH_OPERATIONS = 5000
"""Most operations (and most log lines in one `create_logs`) a batch may hold."""


class CreateFlow(RequestModel):
    """The flow named `name`, created if missing."""

    op: Literal["create_flow"]
    name: Name


class CreateFlowRun(RequestModel):
    op: Literal["create_flow_run"]
    flow_run: FlowRunCreate


class CreateTaskRun(RequestModel):
    op: Literal["create_task_run"]
    task_run: TaskRunCreate


class SetFlowRunState(RequestModel):
    op: Literal["set_flow_run_state"]
    flow_run_id: uuid.UUID
    state: StateCreate
    force: bool = False


class SetTaskRunState(RequestModel):
    op: Literal["set_task_run_state"]
    task_run_id: uuid.UUID
    state: StateCreate
    force: bool = False
    run_details: JsonDict | None = None


class CreateLogs(RequestModel):
    op: Literal["create_logs"]
    logs: Annotated[list[LogCreate], Field(max_length=MAX_BATCH_OPERATIONS)]


class CreateEvents(RequestModel):
    """Events to record (one with an id recorded already is skipped)."""

    op: Literal["create_events"]
    events: Annotated[list[Event], Field(max_length=MAX_BATCH_OPERATIONS)]


class CreateArtifacts(RequestModel):
    """Artifacts to record (one with an id recorded already is skipped)."""

    op: Literal["create_artifacts"]
    artifacts: Annotated[list[ArtifactCreate], Field(max_length=MAX_BATCH_OPERATIONS)]


class UpdateArtifact(RequestModel):
    """A new value for an artifact (a progress bar's), recorded or made earlier in the
    batch."""

    op: Literal["update_artifact"]
    artifact_id: uuid.UUID
    update: ArtifactUpdate


BatchOperation = Annotated[
    CreateFlow
    | CreateFlowRun
    | CreateTaskRun
    | SetFlowRunState
    | SetTaskRunState
    | CreateLogs
    | CreateEvents
    | CreateArtifacts
    | UpdateArtifact,
    Field(discriminator="op"),
]


class BatchRequest(RequestModel):
    """Body of `POST /api/batch`."""

    operations: Annotated[
        list[BatchOperation], Field(min_length=0, max_length=MAX_BATCH_OPERATIONS)
    ]


class BatchOutcome(BaseModel):
    """What became of one operation."""

    status: Literal["ok", "rejected", "error"]
    state: StateRead | None = Field(
        default=None, description="For `rejected`: the run's current state."
    )
    created: bool | None = Field(
        default=None, description="For creates: False when it existed already."
    )
    detail: str | None = Field(default=None, description="Why it was rejected or failed.")


class BatchResult(BaseModel):
    """One outcome per operation, in the request's order."""

    outcomes: list[BatchOutcome]

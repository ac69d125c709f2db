"""What the client reads, shaped as Prefect's `prefect.client.schemas.objects`.

Most are the API's read models under Prefect's names; `FlowRun` and `TaskRun` add
Prefect's `state_id` and `total_run_time`, and `ConcurrencyLimit` is a tag limit as
Prefect shows one (`tag`, `concurrency_limit`, `active_slots`). The state of a
`FlowRun` or `TaskRun` is a `vibepiper.states.State`, as in Prefect:
`run.state.is_completed()`, `run.state.name`, `run.state.message`, and for a completed run
`run.state.result()`, which loads the persisted return value (read through
`vibepiper.runs`, from the store this process records in) or raises `MissingResult` when
it was not persisted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, model_validator

from vibepiper.schemas import api
from vibepiper.schemas import deployments as dep
from vibepiper.schemas.blocks import BlockDocumentRead, BlockSchemaRead, BlockTypeRead
from vibepiper.schemas.flow_run_input import FlowRunInput
from vibepiper.schemas.variables import VariableRead
from vibepiper.states import State, StateDetails, StateType

__all__ = [
    "BlockDocument",
    "BlockSchema",
    "BlockType",
    "ConcurrencyLimit",
    "Deployment",
    "Flow",
    "FlowRun",
    "FlowRunInput",
    "Log",
    "State",
    "StateDetails",
    "StateType",
    "TaskRun",
    "Variable",
    "WorkPool",
    "WorkQueue",
    "Worker",
    "state_from_read",
]


def state_from_read(read: api.StateRead) -> State[Any]:
    """The `State` a stored state row stands for; a persisted value stays loadable."""
    details = read.state_details
    record = details.get("result")
    data: Any = None
    if isinstance(record, dict):
        from vibepiper.result_storage import StoredResult

        try:
            data = StoredResult.from_json(record)
        except (KeyError, TypeError, ValueError):
            record = None
    return State(
        read.type,
        name=read.name,
        message=read.message,
        data=data,
        timestamp=read.timestamp,
        state_details=StateDetails.from_json(
            {**details, "result": record if isinstance(record, dict) else None}
        ),
        id=read.id,
    )


def _to_state(value: Any) -> State[Any] | None:
    if value is None or isinstance(value, State):
        return value
    return state_from_read(api.StateRead.model_validate(value))


def _state_json(state: State[Any] | None) -> dict[str, Any] | None:
    if state is None:
        return None
    read = api.StateRead(
        id=state.id,
        type=state.type,
        name=state.name,
        message=state.message,
        timestamp=state.timestamp,
        state_details=state.state_details.to_json(),
    )
    return read.model_dump(mode="json")


RunState = Annotated[
    State[Any] | None,
    PlainValidator(_to_state),
    PlainSerializer(_state_json, return_type=dict[str, Any] | None),
]
"""A run's state: validated from the API's state JSON into a `State`, dumped back to it."""


class _ResultOfRun:
    """The value of a run's completed state, loaded from its stored state history when
    `.result()` asks (the run as read carries no pointer to it)."""

    __slots__ = ("kind", "run_id")

    def __init__(self, kind: str, run_id: uuid.UUID) -> None:
        self.kind = kind
        self.run_id = run_id

    def load_result(self) -> Any:
        from vibepiper import runs

        read = runs.get_flow_run_state if self.kind == "flow run" else runs.get_task_run_state
        return read(self.run_id).result(_sync=True)


def _with_result(state: State[Any] | None, kind: str, run_id: uuid.UUID) -> None:
    if state is not None and state.is_completed() and state.data is None:
        state.data = _ResultOfRun(kind, run_id)


def _run_time(start: dt.datetime | None, end: dt.datetime | None) -> dt.timedelta:
    if start is None:
        return dt.timedelta(0)
    return (end or dt.datetime.now(dt.UTC)) - start


class FlowRun(api.FlowRunRead):
    """A flow run, with its current state as a `State`."""

    # a read model's state is the engine's State, as in Prefect (the API answers with the
    # stored row, `StateRead`, which this validates from)
    state: RunState = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _result_of_state(self) -> FlowRun:
        _with_result(self.state, "flow run", self.id)
        return self

    @property
    def state_id(self) -> uuid.UUID | None:
        return self.state.id if self.state is not None else None

    @property
    def total_run_time(self) -> dt.timedelta:
        """Time from start to end (to now while it runs); zero before it starts."""
        return _run_time(self.start_time, self.end_time)


class TaskRun(api.TaskRunRead):
    """A task run, with its current state as a `State`."""

    state: RunState = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _result_of_state(self) -> TaskRun:
        _with_result(self.state, "task run", self.id)
        return self

    @property
    def state_id(self) -> uuid.UUID | None:
        return self.state.id if self.state is not None else None

    @property
    def total_run_time(self) -> dt.timedelta:
        """Time from start to end (to now while it runs); zero before it starts."""
        return _run_time(self.start_time, self.end_time)


Flow = api.FlowRead
"""A flow (found by name; created on its first run)."""
Log = api.LogRead
"""One log line of a flow run or task run."""
Deployment = dep.DeploymentRead
"""A deployment (Prefect's `DeploymentResponse`)."""
WorkPool = dep.WorkPoolRead
"""A work pool (`paused` is Prefect's `is_paused`)."""
WorkQueue = dep.WorkQueueRead
"""A queue of a work pool (`paused` is Prefect's `is_paused`)."""
Worker = dep.WorkerRead
"""A worker polling a pool."""


class ConcurrencyLimit(BaseModel):
    """A tag concurrency limit, as Prefect's client returns it.

    `active_slots` lists the task runs holding slots now (the lease holders that are
    task runs: slots taken by `concurrency()` blocks are counted in `slots_in_use`).
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    tag: str
    concurrency_limit: int
    active: bool = True
    active_slots: list[uuid.UUID] = Field(default_factory=list)
    slots_in_use: int = 0
    created: dt.datetime | None = None
    updated: dt.datetime | None = None


BlockType = BlockTypeRead
"""A kind of block (Prefect's `BlockType`)."""
BlockSchema = BlockSchemaRead
"""One version of a block type's fields (Prefect's `BlockSchema`)."""
BlockDocument = BlockDocumentRead
"""A saved block (Prefect's `BlockDocument`)."""
Variable = VariableRead
"""A named JSON value (Prefect's `Variable`)."""

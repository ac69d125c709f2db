"""Flow runs, task runs, their input edges and log rows, as the engine holds them.

These are slotted dataclasses, not pydantic models: the engine makes one per task
call and hands them to hooks (`on_completion(task, task_run, state)`), so they must
be cheap and mutable (the engine updates `state`, `run_count`, `start_time`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from vibepiper.states import State

# Namespace for deterministic flow ids: the id of a flow is derived from its name,
# so recording a run needs no read of the flow table.
FLOW_NAMESPACE = uuid.UUID("6f1c3d2a-9b4e-4c57-8e1a-3c5d7f9b2e41")


def flow_id_for(name: str) -> uuid.UUID:
    """The stable id of the flow called `name`."""
    return uuid.uuid5(FLOW_NAMESPACE, name)


class StateNames:
    """`state_type` and `state_name` of a run holding its current `state` (None before it
    has one): one definition for the engine's runs and `run_deployment`'s `FlowRun`."""

    __slots__ = ()  # keeps the slotted dataclasses built on it without a __dict__

    state: State[Any] | None

    @property
    def state_type(self) -> str | None:
        return self.state.type.value if self.state else None

    @property
    def state_name(self) -> str | None:
        return self.state.name if self.state else None


@dataclass(slots=True, frozen=True)
class TaskRunInput:
    """One upstream reference feeding a task run's parameter (an edge of the run graph).

    `input_type` is `task_run` (a future or state of another task run), `flow_run`
    (a subflow's state) or `parameter` (a flow parameter passed through).
    """

    input_type: Literal["task_run", "flow_run", "parameter"]
    id: uuid.UUID | None = None
    name: str | None = None


@dataclass(slots=True)
class FlowRun(StateNames):
    """One execution of a flow."""

    id: uuid.UUID
    name: str
    flow_id: uuid.UUID
    flow_name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    run_count: int = 0
    parent_task_run_id: uuid.UUID | None = None
    deployment_id: uuid.UUID | None = None
    flow_version: str | None = None
    state: State[Any] | None = None
    created: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    expected_start_time: dt.datetime | None = None
    # how to run the flow again: `path/to/file.py:function` or `package.module:function`
    entrypoint: str | None = None
    # `hostname:pid` of the process running the flow run
    infrastructure_pid: str | None = None
    # parameters as given, before validation (what is stored and shown)
    empirical_policy: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TaskRun(StateNames):
    """One execution of a task inside (or outside) a flow run."""

    id: uuid.UUID
    name: str
    task_key: str
    task_name: str
    flow_run_id: uuid.UUID | None = None
    dynamic_key: str = "0"
    tags: list[str] = field(default_factory=list)
    run_count: int = 0
    task_inputs: dict[str, list[TaskRunInput]] = field(default_factory=dict)
    cache_key: str | None = None
    cache_expiration: dt.datetime | None = None
    state: State[Any] | None = None
    created: dt.datetime | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    task_version: str | None = None
    # the flow run this task run stands for in its parent, when it is a subflow's proxy
    subflow_run_id: uuid.UUID | None = None
    # extra facts for `inspect`, e.g. why the cache hit or missed
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class LogRecordRow:
    """A log line as stored: which run it belongs to, its level and text."""

    flow_run_id: uuid.UUID | None
    task_run_id: uuid.UUID | None
    name: str
    level: int
    message: str
    timestamp: dt.datetime

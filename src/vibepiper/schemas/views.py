"""Read models: what a store returns when asked about past runs (CLI, dashboard)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class StateRow:
    """One entry of a run's state history."""

    id: uuid.UUID
    run_id: uuid.UUID
    type: str
    name: str
    message: str | None
    timestamp: dt.datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class FlowRunView:
    """A flow run as read back from a store."""

    id: uuid.UUID
    name: str
    flow_id: uuid.UUID
    flow_name: str
    state_type: str | None
    state_name: str | None
    state_message: str | None
    parameters: dict[str, Any]
    tags: list[str]
    run_count: int
    parent_task_run_id: uuid.UUID | None
    created: dt.datetime | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    entrypoint: str | None = None
    infrastructure_pid: str | None = None

    @property
    def duration(self) -> float | None:
        if self.start_time is None or self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


@dataclass(slots=True, frozen=True)
class TaskRunView:
    """A task run as read back from a store, with its input edges."""

    id: uuid.UUID
    name: str
    task_key: str
    task_name: str
    flow_run_id: uuid.UUID | None
    dynamic_key: str
    state_type: str | None
    state_name: str | None
    state_message: str | None
    tags: list[str]
    run_count: int
    cache_key: str | None
    created: dt.datetime | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    subflow_run_id: uuid.UUID | None
    # parameter name -> list of {"input_type": ..., "id": ...}
    task_inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class LogView:
    """A stored log line."""

    flow_run_id: uuid.UUID | None
    task_run_id: uuid.UUID | None
    name: str
    level: int
    message: str
    timestamp: dt.datetime

"""Wire models of pausing, suspending and resuming flow runs, and of waiting for their
states to change."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from vibepiper.schemas.api import RequestModel, StateRead

MAX_PAUSE_SECONDS = 366 * 24 * 3600.0
MAX_WAIT_SECONDS = 30.0
MAX_WATCHED = 200


class PauseRequest(RequestModel):
    """Body of `POST /api/flow_runs/{id}/pause` and `/suspend`."""

    timeout_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_PAUSE_SECONDS,
        description="Seconds the run stays paused before it fails (default one hour).",
    )


class ResumeRequest(RequestModel):
    """Body of `POST /api/flow_runs/{id}/resume`."""

    run_input: dict[str, Any] | None = Field(
        default=None,
        description="The input the paused run waits for; checked against the schema it stored.",
    )
    run_here: bool = Field(
        default=False,
        description="A suspended run without a deployment: the caller starts it (Pending).",
    )


class StatesWait(RequestModel):
    """Body of `POST /api/flow_runs/states/wait`: a long poll for state changes."""

    ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_WATCHED)
    known: dict[uuid.UUID, uuid.UUID | None] = Field(
        default_factory=dict, description="The state id the caller knows for each run."
    )
    wait_seconds: float = Field(default=10.0, ge=0, le=MAX_WAIT_SECONDS)


class RunState(BaseModel):
    flow_run_id: uuid.UUID
    state: StateRead

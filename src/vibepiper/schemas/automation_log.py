"""What the server says about an automation's work: its evaluation log and its action
runs (`GET /api/automations/{id}/log`, `/actions`)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vibepiper.schemas.api import UtcDatetime


class AutomationLogEntry(BaseModel):
    """One line of an automation's evaluation log.

    `kind`: `evaluated` (an event its trigger took in, and what it did to the bucket:
    counted, waiting for an `after` event, satisfied ...), `triggered`, `resolved`,
    `action-executed`, `action-retry` or `action-failed`.
    """

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    occurred: UtcDatetime
    kind: str
    event_id: uuid.UUID | None = None
    bucket: str | None = None
    message: str


class AutomationActionRun(BaseModel):
    """One action of one firing: `pending`, `running`, `done` or `failed`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    firing_id: uuid.UUID
    position: int
    action: dict[str, Any]
    status: str
    attempts: int
    next_attempt: UtcDatetime
    result: dict[str, Any] | None = None
    error: str | None = None
    created: UtcDatetime
    updated: UtcDatetime


class MetricReplayRequest(BaseModel):
    """`POST /api/automations/{id}/replay`: the span of a metric trigger's dry run
    (`until` defaults to now; at most 30 days)."""

    model_config = ConfigDict(extra="forbid")

    since: UtcDatetime
    until: UtcDatetime | None = None


class ReplayedFiring(BaseModel):
    """When a dry run's trigger would have fired (`triggered`) or resolved, and why."""

    at: UtcDatetime
    decision: str
    why: str


class MetricReplay(BaseModel):
    """A metric trigger's dry run over the stored flow runs: how many runs of its range
    it measured and what it would have done."""

    since: UtcDatetime
    until: UtcDatetime
    runs_read: int
    firings: list[ReplayedFiring]


class LastFiringsRequest(BaseModel):
    """`POST /api/automations/last-firings`: the automations asked about (at most 200)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(max_length=200)


class LastFiring(BaseModel):
    """When an automation last fired."""

    automation_id: uuid.UUID
    occurred: UtcDatetime

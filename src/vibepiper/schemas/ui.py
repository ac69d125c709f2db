"""Wire models of the dashboard's own read endpoints (`/api/ui/...`).

Only what the dashboard needs and the generic API does not give in one cheap call:
flow-run counts by state over time buckets (the Dashboard's chart).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from vibepiper.schemas.api import Name, RequestModel, UtcDatetime

MAX_BUCKETS = 200


class RunHistoryRequest(RequestModel):
    """Count the flow runs created in [`since`, `until`) in `buckets` equal slices."""

    since: UtcDatetime
    until: UtcDatetime
    buckets: Annotated[int, Field(ge=1, le=MAX_BUCKETS)] = 24
    flow_name: Annotated[list[Name], Field(max_length=100)] | None = None
    deployment_id: Annotated[list[uuid.UUID], Field(max_length=100)] | None = None
    root_only: bool = Field(default=False, description="Leave subflow runs out.")

    @model_validator(mode="after")
    def _ordered(self) -> RunHistoryRequest:
        if self.until <= self.since:
            raise ValueError("until must be later than since")
        return self


class RunHistoryBucket(BaseModel):
    start: dt.datetime
    end: dt.datetime
    counts: dict[str, int] = Field(
        description="Runs per state type (SCHEDULED, RUNNING, ...); absent types are 0."
    )


class ConcurrencyLimitUsage(BaseModel):
    """A concurrency limit with the slots its live leases hold right now."""

    id: uuid.UUID
    name: str
    kind: str
    limit: int
    active: bool
    slot_decay_per_second: float
    slots_in_use: int = Field(description="Slots held by leases that have not expired.")
    holders: list[str] = Field(description="Who holds those leases (a task run, a process).")

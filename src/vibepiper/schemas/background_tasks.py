"""Wire models of the background-task queue (`/api/background_tasks`).

`task.delay()` sends a `BackgroundTaskCreate`: the task run to create (it is recorded
Scheduled) and the caller's serialized call, which the server stores as opaque text
and hands to the task worker that claims the run. Task workers `claim` runs of the
task keys they serve, holding each under a lease until `lease_until`; one `renew`
call extends the leases of every run a worker holds; `ack` takes finished runs off
the queue (only runs whose task run is final); `release` gives held runs back at once
(a worker stopping). A run whose lease ran out is claimable again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from vibepiper.schemas.api import Name, RequestModel, TaskRunCreate, TaskRunRead, UtcDatetime

__all__ = [
    "MAX_LEASE_SECONDS",
    "MAX_PARAMETERS",
    "MAX_WAIT_SECONDS",
    "AckResult",
    "BackgroundTaskCreate",
    "ClaimRequest",
    "ClaimedTaskRun",
    "HeldRuns",
    "RenewResult",
]

MAX_PARAMETERS = 20_000_000
"""Most characters of one serialized call (pass large data by reference: a path, a key)."""
MAX_WAIT_SECONDS = 30.0
"""Longest a claim or a wait may hold its request open."""
MAX_LEASE_SECONDS = 24 * 3600.0
MAX_RUNS = 10_000
"""Most run ids one renew, ack or release call may name."""

RunIds = Annotated[list[uuid.UUID], Field(max_length=MAX_RUNS)]


class BackgroundTaskCreate(RequestModel):
    """A task run to run in the background (`task.delay()`): recorded Scheduled, queued
    for the task workers serving `task_run.task_key` (or `queue_key`, when given)."""

    task_run: TaskRunCreate = Field(description="The run to create; its `state` is ignored.")
    parameters: Annotated[str, Field(max_length=MAX_PARAMETERS)] = Field(
        description="The caller's serialized call; stored as is and given to the worker."
    )
    queue_key: Name | None = Field(
        default=None,
        description="The key task workers claim it by (default: the run's task_key).",
    )
    scheduled_time: UtcDatetime | None = Field(
        default=None, description="Not claimable before this time (default: now)."
    )


class ClaimRequest(RequestModel):
    """Body of `POST /background_tasks/claim`."""

    worker: Name = Field(description="Who claims (the holder named in each claimed row).")
    task_keys: Annotated[list[Name], Field(min_length=1, max_length=1000)]
    limit: Annotated[int, Field(ge=0, le=1000)] = 10
    lease_seconds: Annotated[float, Field(gt=0, le=MAX_LEASE_SECONDS)] = 30.0
    wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS)] = 0.0


class ClaimedTaskRun(BaseModel):
    """A run a worker now holds: the run (in the state it was queued in, or the one its
    previous holder left it in; the worker moves it to Pending; its `task_inputs` are
    left out, read the run for its edges), the key it was queued under, the call to
    make, how many times it was handed out (1 the first time) and until when the lease
    holds."""

    task_run: TaskRunRead
    queue_key: str
    parameters: str
    deliveries: int
    lease_until: dt.datetime


class HeldRuns(RequestModel):
    """Body of `renew`, `ack` and `release`: a worker and runs it holds."""

    worker: Name
    task_run_ids: RunIds
    lease_seconds: Annotated[float, Field(gt=0, le=MAX_LEASE_SECONDS)] = Field(
        default=30.0, description="For `renew`: the new lease, from now."
    )


class RenewResult(BaseModel):
    """Which leases were extended, and which runs the worker no longer holds (another
    worker took them after its lease ran out, or they left the queue)."""

    renewed: list[uuid.UUID]
    lost: list[uuid.UUID]


class AckResult(BaseModel):
    """Which runs left the queue, and which stay because their task run is not final
    yet (the worker's last states have not reached the server: ack them again)."""

    removed: list[uuid.UUID]
    not_final: list[uuid.UUID]

"""Wire models of deployment schedules: cron, interval and rrule, with their policies.

A schedule says *when* runs are due; the policies say what happens to ticks missed
while the scheduler was down (`catchup`) and to a tick that comes due while an
earlier run of the same deployment is still going (`overlap`). The arithmetic of
ticks lives in `vibepiper.orchestration.scheduling`.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from vibepiper.schemas.api import RequestModel, UtcDatetime

OverlapPolicy = Literal["allow", "skip", "cancel_previous", "queue_one"]
"""`allow`: start regardless; `skip`: do not start a tick while an earlier run of the
deployment is active (the skipped run ends Cancelled with the reason); `cancel_previous`:
cancel the active run(s), then start; `queue_one`: wait for the active run, keeping at
most one waiting run (later ticks are skipped)."""

MAX_CATCHUP = 10_000
MIN_INTERVAL_SECONDS = 1.0
"""The shortest interval schedule (and the finest tick of any schedule the scheduler
plans a run for): shorter ones are refused with a 422."""


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')"
        ) from None
    return value


TimeZone = Annotated[str, Field(max_length=100), AfterValidator(_timezone)]


class _Schedule(RequestModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: TimeZone = Field(default="UTC", description="IANA zone the ticks are computed in.")


class CronSchedule(_Schedule):
    """Ticks of a cron expression, computed in `timezone` (correct across DST changes)."""

    cron: Annotated[str, Field(min_length=1, max_length=200)]
    day_or: bool = Field(
        default=True,
        description="With both day-of-month and day-of-week set: True matches either (cron's "
        "rule), False requires both.",
    )

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}")
        return value


class IntervalSchedule(_Schedule):
    """A tick every `interval` seconds counted from `anchor_date` (default 2020-01-01 UTC)."""

    interval: Annotated[float, Field(ge=MIN_INTERVAL_SECONDS, le=10 * 365 * 86400)] = Field(
        description=f"Seconds between ticks (at least {MIN_INTERVAL_SECONDS:g})."
    )
    anchor_date: UtcDatetime | None = None

    @field_validator("interval", mode="before")
    @classmethod
    def _timedelta_seconds(cls, value: Any) -> Any:
        if isinstance(value, dt.timedelta):
            return value.total_seconds()
        return value


class RRuleSchedule(_Schedule):
    """Ticks of an iCalendar RRULE (may carry its own DTSTART)."""

    rrule: Annotated[str, Field(min_length=1, max_length=6000)]

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str) -> str:
        from dateutil import rrule

        def _zone(name: str) -> zoneinfo.ZoneInfo:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown TZID {name!r}") from None

        try:
            rrule.rrulestr(value, cache=False, tzids=_zone)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid rrule {value!r}: {exc}") from None
        return value


Schedule = CronSchedule | IntervalSchedule | RRuleSchedule


class DeploymentScheduleCreate(RequestModel):
    schedule: Schedule
    active: bool = True
    catchup: bool = Field(
        default=False,
        description="After downtime, create the missed ticks (oldest first, at most "
        "`max_catchup_runs`) instead of skipping and recording them.",
    )
    max_catchup_runs: Annotated[int, Field(ge=1, le=MAX_CATCHUP)] = 100
    overlap: OverlapPolicy = "allow"
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Overrides the deployment's parameters for its runs."
    )


class DeploymentScheduleUpdate(RequestModel):
    schedule: Schedule | None = None
    active: bool | None = None
    catchup: bool | None = None
    max_catchup_runs: Annotated[int, Field(ge=1, le=MAX_CATCHUP)] | None = None
    overlap: OverlapPolicy | None = None
    parameters: dict[str, Any] | None = None


class DeploymentScheduleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    deployment_id: uuid.UUID
    schedule: Schedule
    active: bool
    catchup: bool
    max_catchup_runs: int
    overlap: OverlapPolicy
    parameters: dict[str, Any]
    last_scheduled_time: dt.datetime | None = Field(
        description="The latest tick the scheduler has handled (created or skipped)."
    )
    missed_count: int = Field(description="Ticks skipped because the scheduler was down.")
    last_missed_time: dt.datetime | None
    created: dt.datetime
    updated: dt.datetime


ScheduleKind = Literal["cron", "interval", "rrule"]


def schedule_kind(schedule: Schedule) -> ScheduleKind:
    if isinstance(schedule, CronSchedule):
        return "cron"
    if isinstance(schedule, IntervalSchedule):
        return "interval"
    return "rrule"

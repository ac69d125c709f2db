"""Schedules for deployments, written the Prefect way: `Cron`, `Interval`, `RRule`.

    from vibepiper.schedules import Cron, Interval

    my_flow.serve(schedules=[Cron("0 6 * * *", timezone="Europe/Berlin"),
                             Interval(3600, catchup=True)])

Each returns a light `Schedule` value (no pydantic at import time) that is checked when
it is made, so a bad cron expression or time zone fails where it is written, and that
becomes the wire model `DeploymentScheduleCreate` when the deployment is registered.
Beyond Prefect, every schedule carries a catch-up policy (`catchup`, `max_catchup_runs`:
what happens to ticks missed while the server was down) and an `overlap` policy (what a
tick does while an earlier run of the deployment is still going).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

if TYPE_CHECKING:
    from vibepiper.schemas.schedules import DeploymentScheduleCreate

Overlap = Literal["allow", "skip", "cancel_previous", "queue_one"]
OVERLAP_POLICIES: tuple[str, ...] = ("allow", "skip", "cancel_previous", "queue_one")


@dataclass(frozen=True, slots=True)
class Schedule:
    """One schedule of a deployment: when (`kind` + `spec`) and its policies."""

    kind: Literal["cron", "interval", "rrule"]
    spec: dict[str, Any]
    active: bool = True
    parameters: dict[str, Any] = field(default_factory=dict)
    catchup: bool = False
    max_catchup_runs: int = 100
    overlap: Overlap = "allow"

    def __post_init__(self) -> None:
        # a copy, so the caller's dict cannot change a frozen schedule; None means none
        object.__setattr__(self, "parameters", dict(self.parameters or {}))
        self.to_schedule_create()  # fail where the schedule is written, not at serve()

    def to_schedule_create(self) -> DeploymentScheduleCreate:
        """The wire model; ValueError naming the bad field when a value does not fit."""
        from pydantic import ValidationError

        from vibepiper.schemas.schedules import DeploymentScheduleCreate

        try:
            return DeploymentScheduleCreate.model_validate(
                {
                    "schedule": self.spec,
                    "active": self.active,
                    "parameters": self.parameters,
                    "catchup": self.catchup,
                    "max_catchup_runs": self.max_catchup_runs,
                    "overlap": self.overlap,
                }
            )
        except ValidationError as exc:
            raise ValueError(f"invalid {self.kind} schedule: {_describe(exc, self.kind)}") from None

    # --- Prefect's attributes: which kind of schedule this is, and its settings ---------
    @property
    def interval(self) -> dt.timedelta | None:
        """The interval of an `Interval` schedule (None for the other kinds)."""
        if self.kind != "interval":
            return None
        return dt.timedelta(seconds=float(self.spec["interval"]))

    @property
    def cron(self) -> str | None:
        """The expression of a `Cron` schedule (None for the other kinds)."""
        return str(self.spec["cron"]) if self.kind == "cron" else None

    @property
    def rrule(self) -> str | None:
        """The recurrence rule of an `RRule` schedule (None for the other kinds)."""
        return str(self.spec["rrule"]) if self.kind == "rrule" else None

    @property
    def timezone(self) -> str | None:
        """The time zone the schedule ticks in."""
        zone = self.spec.get("timezone")
        return str(zone) if zone is not None else None

    @property
    def anchor_date(self) -> dt.datetime | None:
        """When an `Interval` schedule's ticks are counted from, if it was given."""
        anchor = self.spec.get("anchor_date")
        return anchor if isinstance(anchor, dt.datetime) else None

    @property
    def day_or(self) -> bool:
        """For a `Cron` schedule: whether day-of-month and day-of-week combine with OR."""
        return bool(self.spec.get("day_or", True))

    def describe(self) -> str:
        """A short human text: `cron '0 6 * * *' (Europe/Berlin)`."""
        zone = self.spec.get("timezone", "UTC")
        if self.kind == "interval":
            text = f"every {interval_text(float(self.spec['interval']))}"
        else:
            text = f"{self.kind} {self.spec[self.kind]!r}"
        return f"{text} ({zone})" + ("" if self.active else " [inactive]")


class SchedulePolicies(TypedDict, total=False):
    """What every kind of schedule takes besides its own spec (defaults: `Schedule`'s)."""

    active: bool
    parameters: dict[str, Any]
    catchup: bool
    max_catchup_runs: int
    overlap: Overlap


def Cron(
    cron: str,
    *,
    timezone: str | None = None,
    day_or: bool = True,
    **policies: Unpack[SchedulePolicies],
) -> Schedule:
    """Runs at the ticks of a cron expression, in `timezone` (default UTC; DST-correct)."""
    spec: dict[str, Any] = {"cron": cron, "timezone": timezone or "UTC", "day_or": day_or}
    return _make("cron", spec, policies)


def Interval(
    interval: float | dt.timedelta,
    *,
    anchor_date: dt.datetime | None = None,
    timezone: str | None = None,
    **policies: Unpack[SchedulePolicies],
) -> Schedule:
    """Runs every `interval` (seconds or a timedelta), counted from `anchor_date`."""
    seconds = interval.total_seconds() if isinstance(interval, dt.timedelta) else interval
    spec: dict[str, Any] = {"interval": seconds, "timezone": timezone or "UTC"}
    if anchor_date is not None:
        spec["anchor_date"] = anchor_date
    return _make("interval", spec, policies)


def RRule(
    rrule: str, *, timezone: str | None = None, **policies: Unpack[SchedulePolicies]
) -> Schedule:
    """Runs at the ticks of an iCalendar recurrence rule (`FREQ=DAILY;BYHOUR=6`)."""
    spec: dict[str, Any] = {"rrule": rrule, "timezone": timezone or "UTC"}
    return _make("rrule", spec, policies)


def _make(
    kind: Literal["cron", "interval", "rrule"], spec: dict[str, Any], policies: SchedulePolicies
) -> Schedule:
    unknown = sorted(set(policies) - SchedulePolicies.__optional_keys__)
    if unknown:  # as Python words it for a fixed signature
        name = {"cron": "Cron", "interval": "Interval", "rrule": "RRule"}[kind]
        raise TypeError(f"{name}() got an unexpected keyword argument {unknown[0]!r}")
    return Schedule(kind=kind, spec=spec, **policies)


def as_schedule(value: Any) -> Schedule:
    """A `Schedule` from a `Schedule`, a wire model, or a dict (`{"cron": ...}` and the
    policies, as written in `vibepiper.yaml`). ValueError naming what is wrong."""
    if isinstance(value, Schedule):
        return value
    if hasattr(value, "model_dump"):  # DeploymentScheduleCreate or a bare schedule model
        value = value.model_dump(mode="python")
        if "schedule" in value:
            value = {**value.pop("schedule"), **value}
    if not isinstance(value, dict):
        raise ValueError(
            f"a schedule must be Cron(...), Interval(...), RRule(...) or a mapping, "
            f"got {type(value).__name__}"
        )
    kinds = [kind for kind in ("cron", "interval", "rrule") if kind in value]
    if len(kinds) != 1:
        raise ValueError(
            "a schedule needs exactly one of 'cron', 'interval' or 'rrule', "
            f"got {sorted(value) or 'nothing'}"
        )
    options = dict(value)
    kind = kinds[0]
    known = _KNOWN_KEYS[kind]
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown {kind} schedule key(s) {', '.join(map(repr, unknown))} "
            f"(allowed: {', '.join(sorted(known))})"
        )
    first = options.pop(kind)
    if kind == "cron":
        return Cron(first, **options)
    if kind == "interval":
        return Interval(first, **options)
    return RRule(first, **options)


_POLICY_KEYS = {"timezone", *SchedulePolicies.__optional_keys__}
_KNOWN_KEYS = {
    "cron": _POLICY_KEYS | {"cron", "day_or"},
    "interval": _POLICY_KEYS | {"interval", "anchor_date"},
    "rrule": _POLICY_KEYS | {"rrule"},
}


def _describe(exc: Any, kind: str) -> str:
    """The errors of this kind's model only: the schedule union reports every member's."""
    own_tag = _MODEL_TAGS[kind]
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        tags = [p for p in loc if p in _MODEL_TAGS.values()]
        if tags and tags[0] != own_tag:
            continue
        name = ".".join(p for p in loc if p != "schedule" and p not in tags) or kind
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "; ".join(dict.fromkeys(parts)) or str(exc)


_MODEL_TAGS = {"cron": "CronSchedule", "interval": "IntervalSchedule", "rrule": "RRuleSchedule"}


def interval_text(seconds: float) -> str:
    """`90s`, `5m`, `2h`, `1d`: an interval as people write it."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


__all__ = ["Cron", "Interval", "RRule", "Schedule", "as_schedule", "interval_text"]

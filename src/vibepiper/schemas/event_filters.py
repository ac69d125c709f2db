"""Wire models of event queries (`POST /api/events/filter`, `/count-by/...`): Prefect's
`EventFilter` shape.

Every name, label key and resource id given here is read with `prefect.` as
`vibepiper.` (events are stored that way). A label value may be negated (`!value`) or
a prefix (`value*`), as in Prefect.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from vibepiper.schemas.api import RequestModel, UtcDatetime
from vibepiper.schemas.events import ReceivedEvent, canonical

__all__ = [
    "EVENT_PAGE_SIZE",
    "EventAnyResourceFilter",
    "EventCount",
    "EventCountRequest",
    "EventFilter",
    "EventFilterRequest",
    "EventIDFilter",
    "EventNameFilter",
    "EventOccurredFilter",
    "EventOrder",
    "EventPage",
    "EventRelatedFilter",
    "EventResourceFilter",
    "EventTextFilter",
    "TimeUnit",
]

EVENT_PAGE_SIZE = 50
"""Events a page holds unless asked (Prefect's interactive page size)."""
MAX_EVENT_PAGE_SIZE = 200
"""Most events one page may hold."""
MAX_COUNTED_TOTAL = 10_000
"""A page's `total` counts matching events up to this many."""

Names = list[str] | None
LabelSpec = dict[str, str | list[str]]


def _names(value: list[str] | None) -> list[str] | None:
    return None if value is None else [canonical(item) for item in value]


def _labels(value: LabelSpec | None) -> LabelSpec | None:
    if value is None:
        return None
    result: LabelSpec = {}
    for key, wanted in value.items():
        items = [wanted] if isinstance(wanted, str) else list(wanted)
        if canonical(key) == "vibepiper.resource.id":
            items = [_canonical_value(item) for item in items]
        result[canonical(key)] = items
    return result


def _canonical_value(item: str) -> str:
    return "!" + canonical(item[1:]) if item.startswith("!") else canonical(item)


def _yesterday() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EventOccurredFilter(RequestModel):
    since: UtcDatetime = Field(default_factory=_yesterday, description="Default: a day ago.")
    until: UtcDatetime = Field(default_factory=_now, description="Default: now.")


class EventNameFilter(RequestModel):
    prefix: Names = None
    exclude_prefix: Names = None
    name: Names = None
    exclude_name: Names = None

    _canonical = field_validator("prefix", "exclude_prefix", "name", "exclude_name")(_names)


class EventResourceFilter(RequestModel):
    id: Names = None
    id_prefix: Names = None
    labels: LabelSpec | None = None
    distinct: bool = False

    _ids = field_validator("id", "id_prefix")(_names)
    _label_spec = field_validator("labels")(_labels)


class EventRelatedFilter(RequestModel):
    id: Names = None
    role: list[str] | None = None
    resources_in_roles: list[tuple[str, str]] | None = None
    labels: LabelSpec | None = None

    _ids = field_validator("id")(_names)
    _label_spec = field_validator("labels")(_labels)

    @field_validator("resources_in_roles")
    @classmethod
    def _pairs(cls, value: list[tuple[str, str]] | None) -> list[tuple[str, str]] | None:
        return None if value is None else [(canonical(rid), role) for rid, role in value]


class EventAnyResourceFilter(RequestModel):
    id: Names = None
    id_prefix: Names = None
    labels: LabelSpec | None = None

    _ids = field_validator("id", "id_prefix")(_names)
    _label_spec = field_validator("labels")(_labels)


class EventIDFilter(RequestModel):
    id: list[uuid.UUID] | None = None


class EventTextFilter(RequestModel):
    query: Annotated[str, Field(max_length=200)] = Field(
        description="Words the event's name, resource or payload holds; `-word` excludes."
    )


class EventOrder(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class EventFilter(RequestModel):
    """Which events: every given part must hold."""

    occurred: EventOccurredFilter = Field(default_factory=EventOccurredFilter)
    event: EventNameFilter | None = None
    any_resource: EventAnyResourceFilter | None = None
    resource: EventResourceFilter | None = None
    related: EventRelatedFilter | None = None
    id: EventIDFilter = Field(default_factory=EventIDFilter)
    text: EventTextFilter | None = None
    order: EventOrder = EventOrder.DESC


class EventFilterRequest(RequestModel):
    """Body of `POST /api/events/filter`."""

    filter: EventFilter | None = None
    limit: Annotated[int, Field(ge=0, le=MAX_EVENT_PAGE_SIZE)] = EVENT_PAGE_SIZE


class EventPage(BaseModel):
    """A page of events, the number matching in all, and where the next page is."""

    events: list[ReceivedEvent]
    total: int = Field(description="Events matching the filter, counted up to 10,000.")
    next_page: str | None = None


class TimeUnit(enum.StrEnum):
    week = "week"
    day = "day"
    hour = "hour"
    minute = "minute"
    second = "second"

    def seconds(self) -> float:
        return {"week": 604800.0, "day": 86400.0, "hour": 3600.0, "minute": 60.0}.get(
            self.value, 1.0
        )


class EventCountRequest(RequestModel):
    """Body of `POST /api/events/count-by/{countable}`."""

    filter: EventFilter = Field(default_factory=EventFilter)
    time_unit: TimeUnit = TimeUnit.day
    time_interval: Annotated[float, Field(ge=0.01)] = 1.0


class EventCount(BaseModel):
    """How many events fell in one bucket (a time span, an event name, a resource)."""

    value: str
    label: str
    count: int
    start_time: dt.datetime
    end_time: dt.datetime


def dump_filter(value: EventFilter) -> dict[str, Any]:
    """`value` as JSON-ready data (for page tokens)."""
    return value.model_dump(mode="json", exclude_none=True)

"""Wire models of events, with Prefect's names, fields and rules.

An event says that something (`event`, a dotted name) happened to a resource (a set of
string labels, `vibepiper.resource.id` naming it) at `occurred`, maybe involving related
resources (each with a `vibepiper.resource.role`), with a free JSON `payload`.

Scripts migrated from Prefect keep saying `prefect.`: a label key, a resource id or an
event name beginning `prefect.` is read as the one beginning `vibepiper.`, and stored
that way (see `canonical`).

Limits (Prefect's defaults): 500 labels per resource, 500 related resources, and an
event of at most 1,500,000 bytes of JSON (`EventTooLarge`).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from vibepiper.schemas.api import check_storable

__all__ = [
    "MAX_EVENT_SIZE_BYTES",
    "MAX_LABELS_PER_RESOURCE",
    "MAX_RELATED_RESOURCES",
    "TIGHT_TIMING",
    "Event",
    "EventTooLarge",
    "ReceivedEvent",
    "RelatedResource",
    "Resource",
    "canonical",
    "canonical_labels",
    "uuid7",
]

MAX_LABELS_PER_RESOURCE = 500
MAX_RELATED_RESOURCES = 500
MAX_EVENT_SIZE_BYTES = 1_500_000
TIGHT_TIMING = dt.timedelta(minutes=5)
"""`follows` is kept only when the followed event happened within this of the new one."""

ID_LABEL = "vibepiper.resource.id"
ROLE_LABEL = "vibepiper.resource.role"
NAME_LABEL = "vibepiper.resource.name"

_PREFECT = "prefect."
_OURS = "vibepiper."


def canonical(text: str) -> str:
    """`text` with a leading `prefect.` read as `vibepiper.` (event names, label keys,
    resource ids); anything else unchanged."""
    if text.startswith(_PREFECT):
        return _OURS + text[len(_PREFECT) :]
    return text


def canonical_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """`labels` with canonical keys, and a canonical resource id."""
    result = {canonical(key): value for key, value in labels.items()}
    resource_id = result.get(ID_LABEL)
    if isinstance(resource_id, str):
        result[ID_LABEL] = canonical(resource_id)
    return result


class EventTooLarge(ValueError):
    """An event whose JSON is larger than `MAX_EVENT_SIZE_BYTES`."""

    def __init__(self, size: int, maximum: int = MAX_EVENT_SIZE_BYTES) -> None:
        super().__init__(f"the event is {size} bytes, more than the maximum of {maximum} bytes")
        self.size = size
        self.maximum = maximum


_uuid7_lock = threading.Lock()
_uuid7_last = 0


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): the first 48 bits are the Unix time in
    milliseconds, and ids made in one process increase strictly."""
    global _uuid7_last
    with _uuid7_lock:
        # 48 bits of milliseconds then 12 bits of sub-millisecond counter, kept monotonic
        stamp = (time.time_ns() // 1_000_000) << 12
        stamp = max(stamp, _uuid7_last + 1)
        _uuid7_last = stamp
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (stamp >> 12) << 80 | 0x7 << 76 | (stamp & 0xFFF) << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)


class Labels(RootModel[dict[str, str]]):
    """String labels, readable as a mapping; `prefect.` keys are stored as `vibepiper.`."""

    @model_validator(mode="before")
    @classmethod
    def _canonical(cls, value: Any) -> Any:
        if isinstance(value, Labels):
            return dict(value.root)
        if isinstance(value, Mapping):
            return canonical_labels(value)
        return value

    def __getitem__(self, key: str) -> str:
        return self.root[canonical(key)]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and canonical(key) in self.root

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.root)

    def __len__(self) -> int:
        return len(self.root)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.root.get(canonical(key), default)

    def keys(self) -> list[str]:
        return list(self.root)

    def items(self) -> list[tuple[str, str]]:
        return list(self.root.items())

    def labels(self) -> list[str]:
        return list(self.root)


class Resource(Labels):
    """A thing events happen to, named by its `vibepiper.resource.id` label."""

    @model_validator(mode="after")
    def _rules(self) -> Resource:
        if len(self.root) > MAX_LABELS_PER_RESOURCE:
            raise ValueError(
                f"The maximum number of labels per resource is {MAX_LABELS_PER_RESOURCE}"
            )
        if ID_LABEL not in self.root:
            raise ValueError(f"Resources must include the {ID_LABEL} label")
        if not self.root[ID_LABEL]:
            raise ValueError(f"The {ID_LABEL} label must be non-empty")
        return self

    @property
    def id(self) -> str:
        return self.root[ID_LABEL]

    @property
    def name(self) -> str | None:
        return self.root.get(NAME_LABEL)

    def prefect_object_id(self, kind: str) -> uuid.UUID:
        """The UUID at the end of this resource's id, when it is of `kind` (e.g.
        `vibepiper.flow-run`); ValueError otherwise."""
        prefix = canonical(kind if kind.endswith(".") else f"{kind}.")
        if not self.id.startswith(prefix):
            raise ValueError(f"Resource ID {self.id} does not start with {prefix}")
        return uuid.UUID(self.id[len(prefix) :])


class RelatedResource(Resource):
    """A resource involved in an event in some role (`vibepiper.resource.role`)."""

    @model_validator(mode="after")
    def _role(self) -> RelatedResource:
        if ROLE_LABEL not in self.root:
            raise ValueError(f"Related Resources must include the {ROLE_LABEL} label")
        if not self.root[ROLE_LABEL]:
            raise ValueError(f"The {ROLE_LABEL} label must be non-empty")
        return self

    @property
    def role(self) -> str:
        return self.root[ROLE_LABEL]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Event(BaseModel):
    """Something that happened to a resource, as its sender saw it."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="ignore")

    occurred: dt.datetime = Field(
        default_factory=_now, description="When the event happened, by the sender's clock."
    )
    event: str = Field(min_length=1, max_length=1024, description="What happened.")
    resource: Resource = Field(description="The resource the event is about.")
    related: list[RelatedResource] = Field(
        default_factory=list, description="Other resources involved, each in a role."
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="Free JSON data.")
    id: uuid.UUID = Field(default_factory=uuid7, description="Time-ordered, sender-chosen.")
    follows: uuid.UUID | None = Field(
        default=None, description="An event known to have happened just before this one."
    )

    @field_validator("occurred")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    @field_validator("event")
    @classmethod
    def _name(cls, value: str) -> str:
        return canonical(value)

    @field_validator("related")
    @classmethod
    def _related(cls, value: list[RelatedResource]) -> list[RelatedResource]:
        if len(value) > MAX_RELATED_RESOURCES:
            raise ValueError(f"The maximum number of related resources is {MAX_RELATED_RESOURCES}")
        return value

    @model_validator(mode="after")
    def _storable(self) -> Event:
        # PostgreSQL cannot store a NUL character in text or JSON: refused here, so a
        # sender learns it at once (a 422 at the API) instead of a database error
        check_storable(self.event)
        check_storable(self.resource.root)
        for related in self.related:
            check_storable(related.root)
        check_storable(self.payload)
        return self

    @property
    def involved_resources(self) -> list[Resource]:
        return [self.resource, *self.related]

    @property
    def resource_in_role(self) -> dict[str, RelatedResource]:
        """The first related resource of each role."""
        return {related.role: related for related in reversed(self.related)}

    @property
    def resources_in_role(self) -> dict[str, list[RelatedResource]]:
        """The related resources of each role, in order."""
        found: dict[str, list[RelatedResource]] = {}
        for related in self.related:
            found.setdefault(related.role, []).append(related)
        return found

    def find_resource_label(self, label: str) -> str | None:
        """A label of the resource, or `related:<role>:<label>` of the first related
        resource in that role."""
        directive, _, related_label = label.rpartition(":")
        directive, _, role = directive.partition(":")
        if directive == "related":
            for related in self.related:
                if related.role == canonical(role) or related.role == role:
                    return related.get(related_label)
            return None
        return self.resource.get(label)

    def size(self) -> int:
        """Bytes of this event's JSON."""
        return len(self.model_dump_json().encode())


class ReceivedEvent(Event):
    """An event as recorded: with the time it was received."""

    model_config: ClassVar[ConfigDict] = ConfigDict(from_attributes=True, extra="ignore")

    received: dt.datetime = Field(default_factory=_now, description="When it was recorded.")

    @field_validator("received")
    @classmethod
    def _received_utc(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

"""Events already written as the text a store records.

A writer that makes thousands of events a second (the engine's asset events) hands
`EncodedEvent`s to `RunStore.emit_event` instead of `vibepiper.events.Event`s: the
model's objects cost more to build, keep alive until the store's writer gets to them
and encode there than the whole event is worth. The embedded store records the text as
it is; a store that needs the model or the wire form asks for it (`to_event`, `wire`).

Nothing but the standard library is imported here (the embedded store's writer checks
for these without importing pydantic).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from vibepiper.schemas.events import Event

__all__ = ["EncodedEvent"]


class EncodedEvent(NamedTuple):
    """An event as text columns, made only from valid parts: string labels with
    `vibepiper.resource.id` in each resource and `vibepiper.resource.role` in each
    related one, a JSON-ready payload, canonical (`vibepiper.`) names."""

    id: str
    occurred: str  # ISO-8601 in UTC with microseconds: 2026-11-22T02:48:45.123456+00:00
    event: str
    resource_id: str
    resource: str  # the resource's labels, a JSON object
    related: str  # the related resources' labels, a JSON list of objects
    payload: str  # a JSON object
    follows: str | None = None

    def wire(self) -> dict[str, Any]:
        """The event as the API takes it (JSON-ready)."""
        return {
            "occurred": self.occurred,
            "event": self.event,
            "resource": json.loads(self.resource),
            "related": json.loads(self.related),
            "payload": json.loads(self.payload),
            "id": self.id,
            "follows": self.follows,
        }

    def to_event(self) -> Event:
        """The validated `Event`."""
        from vibepiper.schemas.events import Event

        return Event.model_validate(self.wire())

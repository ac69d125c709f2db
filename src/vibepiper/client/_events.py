"""Events in the client, with Prefect's method names: `read_events` (one page of the
events matching a filter, newest first) and `read_events_page` (the page a previous
page's `next_page` names), plus `count_events_by`.

Before reading, the process's own recorded writes are flushed (an event emitted a
moment ago is in the answer), whether they go to the embedded store or to a server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from vibepiper.client._layer import Call, _list, _model, _none
from vibepiper.schemas import event_filters as f
from vibepiper.schemas.events import Event

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

T = TypeVar("T")


def _flush_own_writes() -> None:
    from vibepiper.store import registry

    store = registry.current_store()  # only a store this process opened: none is opened here
    if store is not None:
        store.flush(5.0)  # the events of a flow that just ended included


def create_events(events: list[Event]) -> Call[None]:
    return Call("POST", "events", _none, [event.model_dump(mode="json") for event in events])


def read_events(filter: f.EventFilter | None, limit: int) -> Call[f.EventPage]:
    body = {"filter": None if filter is None else filter.model_dump(mode="json"), "limit": limit}
    return Call("POST", "events/filter", _model(f.EventPage), body)


def read_events_page(next_page_url: str) -> Call[f.EventPage]:
    """`next_page_url` as a path under the API's base URL (a server names itself by the
    address it was reached at, which a client behind a proxy may not share)."""
    parts = urlsplit(str(next_page_url))
    path = parts.path
    marker = "/events/filter/next"
    path = "events/filter/next" if path.endswith(marker) else path.lstrip("/")
    return Call("GET", f"{path}?{parts.query}", _model(f.EventPage))


def count_events_by(
    countable: str, request: f.EventCountRequest | None
) -> Call[list[f.EventCount]]:
    body = (request or f.EventCountRequest()).model_dump(mode="json")
    return Call("POST", f"events/count-by/{countable}", _list(f.EventCount), body)


class Events:
    """The async methods of events."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def emit_events(self, events: list[Event]) -> None:
        """Record `events` on the API now (`vibepiper.events.emit_event` batches instead)."""
        await self._send(create_events(events))

    async def read_events(
        self, filter: f.EventFilter | None = None, limit: int = 100
    ) -> f.EventPage:
        """The events matching `filter` (default: the last day's), at most `limit` (up to
        200), with the number matching and the URL of the next page."""
        _flush_own_writes()
        return await self._send(read_events(filter, limit))

    async def read_events_page(self, next_page_url: str) -> f.EventPage:
        """The page `next_page_url` (a page's `next_page`) names."""
        return await self._send(read_events_page(next_page_url))

    async def count_events_by(
        self, countable: str, request: f.EventCountRequest | None = None
    ) -> list[f.EventCount]:
        """Counts per `day`, `time` bucket, `event` name or `resource`."""
        _flush_own_writes()
        return await self._send(count_events_by(countable, request))


class SyncEvents:
    """The blocking methods of events (the same as `Events`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def emit_events(self, events: list[Event]) -> None:
        """Record `events` on the API now (`vibepiper.events.emit_event` batches instead)."""
        self._send(create_events(events))

    def read_events(self, filter: f.EventFilter | None = None, limit: int = 100) -> f.EventPage:
        """The events matching `filter` (default: the last day's), at most `limit` (up to
        200), with the number matching and the URL of the next page."""
        _flush_own_writes()
        return self._send(read_events(filter, limit))

    def read_events_page(self, next_page_url: str) -> f.EventPage:
        """The page `next_page_url` (a page's `next_page`) names."""
        return self._send(read_events_page(next_page_url))

    def count_events_by(
        self, countable: str, request: f.EventCountRequest | None = None
    ) -> list[f.EventCount]:
        """Counts per `day`, `time` bucket, `event` name or `resource`."""
        _flush_own_writes()
        return self._send(count_events_by(countable, request))

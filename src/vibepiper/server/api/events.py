"""`/api/events`: record events (a list, or a websocket of them), filter them in pages,
count them by day, time, name or resource."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from vibepiper.schemas import event_filters as f
from vibepiper.schemas.events import Event, ReceivedEvent
from vibepiper.server.api.deps import DB
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.database import Database
from vibepiper.server.services import events
from vibepiper.server.services._errors import invalid

logger = logging.getLogger("vibepiper.server.events")

router = APIRouter(prefix="/events", tags=["events"], route_class=RetryingRoute)
sockets = APIRouter(prefix="/events", tags=["events"])
"""The websockets: they check the API key themselves (header, or a first `auth` message
as Prefect's clients send it)."""

MAX_EVENTS = 5000


@router.post("", status_code=204)
async def create_events(body: Annotated[list[Event], Body(max_length=MAX_EVENTS)], db: DB) -> None:
    """Record events (at most 5,000; one whose id is recorded already is skipped)."""
    await events.record(db, body)


def _next_url(request: Request) -> str:
    return str(request.url_for("read_next_events_page"))


@router.post("/filter")
async def read_events(
    request: Request, db: DB, body: f.EventFilterRequest | None = None
) -> f.EventPage:
    """A page of the events matching the filter (newest first unless `order` is ASC),
    the number matching, and the URL of the next page."""
    query = body or f.EventFilterRequest()
    spec = query.filter or f.EventFilter()
    return await events.read_page(db, spec, query.limit, _next_url(request))


@router.get("/filter/next", name="read_next_events_page")
async def read_next_events_page(
    request: Request, db: DB, page_token: Annotated[str, Query(alias="page-token")]
) -> f.EventPage:
    """The page a previous page's `next_page` names."""
    return await events.read_next_page(db, page_token, _next_url(request))


@router.post("/count-by/{countable}")
async def count_events(
    countable: events.Countable, db: DB, body: f.EventCountRequest | None = None
) -> list[f.EventCount]:
    """Events matching the filter counted per day, per time bucket (`time_unit` x
    `time_interval`), per event name or per resource."""
    return await events.count_by(db, countable, body or f.EventCountRequest())


async def authorized(websocket: WebSocket) -> bool:
    """Accept the websocket when it carries the API key (or none is set): in an
    `Authorization: Bearer` header, or in a first message `{"type": "auth", "token":
    ...}` (answered `{"type": "auth_success"}`). Closes it with 1008 otherwise."""
    expected: str | None = websocket.app.state.settings.server_api_key
    await websocket.accept()
    header = websocket.headers.get("authorization", "")
    if not expected or (
        header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), expected.encode())
    ):
        return True
    try:
        first = json.loads(await websocket.receive_text())
    except (ValueError, WebSocketDisconnect):
        first = {}
    if not isinstance(first, dict):
        first = {}
    token = first.get("token")
    if (
        first.get("type") == "auth"
        and isinstance(token, str)
        and hmac.compare_digest(token.encode(), expected.encode())
    ):
        await websocket.send_json({"type": "auth_success"})
        return True
    await websocket.close(code=1008, reason="invalid API key")
    return False


@sockets.websocket("/in")
async def events_in(websocket: WebSocket) -> None:
    """Each message is one event (JSON) to record; a malformed one closes the socket
    with 1007 naming the problem."""
    if not await authorized(websocket):
        return
    db: Database = websocket.app.state.database
    try:
        while True:
            text = await websocket.receive_text()
            try:
                event = Event.model_validate_json(text)
            except ValidationError as exc:
                await websocket.close(code=1007, reason=_first_error(exc))
                return
            await events.record(db, [event])
    except WebSocketDisconnect:
        return


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"invalid event: {where}: {error['msg']}"[:120]


@sockets.websocket("/out")
async def events_out(websocket: WebSocket) -> None:
    """Prefect's event subscription: after the key (see `authorized`), the client sends
    `{"type": "filter", "filter": <EventFilter>, "backfill": N}` (backfill optional,
    default 100, at most 500); the server then sends `{"type": "event", "event": ...}`
    for the recent matching events, oldest first, and for each new one as it comes."""
    if not await authorized(websocket):
        return
    db: Database = websocket.app.state.database
    try:
        message = json.loads(await websocket.receive_text())
        if not isinstance(message, dict) or message.get("type") != "filter":
            raise ValueError("the first message must be {'type': 'filter', 'filter': {...}}")
        spec = f.EventFilter.model_validate(message.get("filter") or {})
        backfill = int(message.get("backfill", DEFAULT_BACKFILL))
    except WebSocketDisconnect:
        return
    except (ValueError, ValidationError) as exc:
        await websocket.close(code=1007, reason=str(exc)[:120])
        return
    try:
        async for event in events.follow(db, spec, backfill):
            await websocket.send_text(
                json.dumps({"type": "event", "event": event.model_dump(mode="json")})
            )
    except (WebSocketDisconnect, RuntimeError):  # the client went away mid-send
        return


DEFAULT_BACKFILL = 100


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Events, forever."}},
)
async def stream_events(
    db: DB,
    filter: Annotated[str | None, Query(description="An EventFilter as JSON.")] = None,
    backfill: Annotated[int, Query(ge=0, le=events.MAX_BACKFILL)] = DEFAULT_BACKFILL,
) -> StreamingResponse:
    """Server-Sent Events for clients that cannot hold a websocket: the recent matching
    events (`backfill`), then each new one, as `event: event` / `data: <json>` messages,
    with a `: keep-alive` comment every 15 s of silence."""
    try:
        spec = f.EventFilter.model_validate_json(filter) if filter else f.EventFilter()
    except ValidationError as exc:
        raise invalid(("query", "filter"), _first_error(exc)) from None

    async def messages() -> AsyncIterator[str]:
        source = events.follow(db, spec, backfill).__aiter__()
        pending: asyncio.Task[ReceivedEvent] | None = None
        try:
            while True:
                pending = pending or asyncio.ensure_future(source.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECONDS)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                event = pending.result()
                pending = None
                yield f"event: event\nid: {event.id}\ndata: {event.model_dump_json()}\n\n"
        finally:
            if pending is not None:
                pending.cancel()

    return StreamingResponse(messages(), media_type="text/event-stream")


KEEPALIVE_SECONDS = 15.0

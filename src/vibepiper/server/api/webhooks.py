"""`/api/webhooks` (behind the API key): create, list, read, change, rotate, delete
inbound webhooks; and `/hooks/{slug}` (open: the slug is the credential), where they
receive requests that become events."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from vibepiper.schemas import webhooks as wire
from vibepiper.server.api.deps import DB, get_key_ring
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.encryption import KeyRing
from vibepiper.server.services import webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=RetryingRoute)
hooks = APIRouter(prefix=wire.HOOKS_PATH, tags=["webhooks"], route_class=RetryingRoute)
"""The receiving end: no API key (see docs/server.md, "API key")."""

CONFLICT: Responses = {409: {"model": ErrorBody, "description": "The name is taken."}}
HOOK_METHODS = ["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH"]
"""Prefect Cloud's: a template that needs no body may be called with GET, HEAD, DELETE."""
EVENT_ID_HEADER = "X-VibePiper-Event-Id"
Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
"""Slugs are URL-safe base64 (22 characters)."""


def _keys(request: Request) -> webhooks.KeyLoader:
    async def load() -> KeyRing:
        return await get_key_ring(request)

    return load


@router.post("/", status_code=201, responses=CONFLICT)
async def create_webhook(request: Request, body: wire.WebhookCreate, db: DB) -> wire.WebhookRead:
    """Create a webhook; a template that is not Jinja, or makes no event of a sample
    request, is a 422 naming the problem."""
    return await webhooks.create(db, _keys(request), body)


@router.post("/filter")
async def read_webhooks(db: DB, body: wire.WebhookQuery | None = None) -> list[wire.WebhookRead]:
    """The webhooks, by name."""
    return await webhooks.search(db, body or wire.WebhookQuery())


@router.get("/name/{name}", responses=NOT_FOUND)
async def read_webhook_by_name(name: str, db: DB) -> wire.WebhookRead:
    return await webhooks.read_by_name(db, name)


@router.get("/{webhook_id}", responses=NOT_FOUND)
async def read_webhook(webhook_id: uuid.UUID, db: DB) -> wire.WebhookRead:
    return await webhooks.read(db, webhook_id)


@router.patch("/{webhook_id}", responses={**NOT_FOUND, **CONFLICT})
async def update_webhook(
    request: Request, webhook_id: uuid.UUID, body: wire.WebhookUpdate, db: DB
) -> wire.WebhookRead:
    """Change the fields given (`enabled` turns it on or off)."""
    return await webhooks.update(db, _keys(request), webhook_id, body)


@router.put("/{webhook_id}", responses={**NOT_FOUND, **CONFLICT})
async def replace_webhook(
    request: Request, webhook_id: uuid.UUID, body: wire.WebhookUpdate, db: DB
) -> wire.WebhookRead:
    """The same as PATCH (Prefect Cloud's CLI updates with PUT)."""
    return await webhooks.update(db, _keys(request), webhook_id, body)


@router.post("/{webhook_id}/rotate", responses=NOT_FOUND)
async def rotate_webhook(webhook_id: uuid.UUID, db: DB) -> wire.WebhookRead:
    """Give the webhook a new random slug; the old URL answers 404 from now on."""
    return await webhooks.rotate(db, webhook_id)


@router.delete("/{webhook_id}", status_code=204, responses=NOT_FOUND)
async def delete_webhook(webhook_id: uuid.UUID, db: DB) -> None:
    await webhooks.delete(db, webhook_id)


async def receive_webhook(slug: Slug, request: Request, db: DB) -> Response:
    """Render the request with the webhook's template and record the event (204, its id
    in `X-VibePiper-Event-Id`)."""
    received = webhooks.HookRequest(
        method=request.method,
        headers=[(name, value) for name, value in request.headers.items()],
        body=await request.body(),
        query=dict(request.query_params),
    )
    event_id = await webhooks.receive(db, _keys(request), slug, received)
    return Response(status_code=204, headers={EVENT_ID_HEADER: str(event_id)})


for _method in HOOK_METHODS:  # one operation per method: each needs its own OpenAPI id
    hooks.add_api_route(
        "/{slug}",
        receive_webhook,
        methods=[_method],
        status_code=204,
        response_class=Response,
        operation_id=f"receive_webhook_{_method.lower()}",
        responses={
            400: {"model": ErrorBody, "description": "The request made no event (why)."},
            401: {"model": ErrorBody, "description": "A missing or wrong signature."},
            404: {"model": ErrorBody, "description": "No enabled webhook has this URL."},
        },
    )

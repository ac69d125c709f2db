"""Inbound webhooks: created, read, changed, rotated, deleted; and the requests they
receive, rendered into events and recorded through `events.record`.

A webhook's URL is `/hooks/<slug>`, the slug 16 random bytes (URL-safe base64), so it
cannot be guessed; rotating gives a new one and the old URL answers 404 at once. Its
template is checked when saved (`orchestration.webhook_templates.check_template`) and
rendered in a child process (`_deadline.run_with_deadline`) with a time limit, so a
template that loops for minutes is stopped after 2 s and never holds the event loop.

An optional secret (encrypted with the block documents' key ring, never read back)
makes every request carry `X-VibePiper-Signature: sha256=<hex>` (or GitHub's
`X-Hub-Signature-256`), the HMAC-SHA256 of the raw body; it is compared in constant
time before anything is rendered or recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.orchestration.webhook_templates import (
    WebhookTemplateError,
    check_template,
    render_event,
)
from vibepiper.schemas import webhooks as wire
from vibepiper.schemas.blocks import MASK
from vibepiper.schemas.events import Event
from vibepiper.server.database import Database
from vibepiper.server.encryption import KeyRing
from vibepiper.server.repositories import webhooks as repo
from vibepiper.server.services import events
from vibepiper.server.services._deadline import DeadlineExceeded, run_with_deadline
from vibepiper.server.services._errors import conflict, invalid

RENDER_TIMEOUT = 2.0
"""Seconds a template may take to render one request."""
CHECK_TIMEOUT = 5.0
"""Seconds checking a template being saved may take (it renders the samples)."""
BACKSTOP = 10.0
"""Seconds more before the child is killed: a new child imports the module first, and a
template stuck in one long C call does not see its time limit."""
SIGNATURE_HEADERS = (wire.SIGNATURE_HEADER, "X-Hub-Signature-256")

KeyLoader = Callable[[], Awaitable[KeyRing]]


@dataclass(frozen=True)
class HookRequest:
    """What the hook route received."""

    method: str
    headers: list[tuple[str, str]]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)


def _read(row: RowMapping) -> wire.WebhookRead:
    return wire.WebhookRead(
        id=row["id"],
        created=row["created"],
        updated=row["updated"],
        name=row["name"],
        description=row["description"],
        template=row["template"],
        enabled=row["enabled"],
        slug=row["slug"],
        url=wire.hook_url(row["slug"]),
        secret=MASK if row["secret"] is not None else None,
    )


def _new_slug() -> str:
    return secrets.token_urlsafe(16)


async def _row(connection: AsyncConnection, webhook_id: uuid.UUID) -> RowMapping:
    row = await repo.get(connection, webhook_id)
    if row is None:
        raise ObjectNotFound(f"webhook {webhook_id} not found")
    return row


async def _checked(template: str) -> None:
    """422 naming the problem when `template` cannot make events."""
    try:
        await run_with_deadline(
            check_template,
            template,
            time_limit=CHECK_TIMEOUT,
            timeout=CHECK_TIMEOUT + BACKSTOP,
            what="checking the template",
        )
    except WebhookTemplateError as exc:
        raise invalid(("body", "template"), str(exc)) from None
    except DeadlineExceeded as exc:
        raise invalid(("body", "template"), str(exc)) from None


async def _encrypted(keys: KeyLoader, secret: str) -> tuple[str, str]:
    ring = await keys()
    return ring.encrypt({"secret": secret})


async def create(db: Database, keys: KeyLoader, body: wire.WebhookCreate) -> wire.WebhookRead:
    await _checked(body.template)
    values: dict[str, Any] = {
        "name": body.name,
        "description": body.description,
        "template": body.template,
        "enabled": body.enabled,
        "slug": _new_slug(),
        "secret": None,
        "secret_key_id": None,
    }
    if body.secret:
        values["secret"], values["secret_key_id"] = await _encrypted(keys, body.secret)
    async with db.write() as connection:
        if await repo.get_by_name(connection, body.name) is not None:
            raise conflict(f"webhook {body.name!r} exists already")
        webhook_id = await repo.insert(connection, values)
        return _read(await _row(connection, webhook_id))


async def read(db: Database, webhook_id: uuid.UUID) -> wire.WebhookRead:
    async with db.read() as connection:
        return _read(await _row(connection, webhook_id))


async def read_by_name(db: Database, name: str) -> wire.WebhookRead:
    async with db.read() as connection:
        row = await repo.get_by_name(connection, name)
    if row is None:
        raise ObjectNotFound(f"webhook {name!r} not found")
    return _read(row)


async def search(db: Database, query: wire.WebhookQuery) -> list[wire.WebhookRead]:
    async with db.read() as connection:
        return [_read(row) for row in await repo.search(connection, query.limit, query.offset)]


async def update(
    db: Database, keys: KeyLoader, webhook_id: uuid.UUID, body: wire.WebhookUpdate
) -> wire.WebhookRead:
    """Set the fields the request gave; a new template is checked first."""
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in body.model_fields_set
        if name != "secret" and getattr(body, name) is not None
    }
    if "template" in changes:
        await _checked(changes["template"])
    if "secret" in body.model_fields_set and body.secret != MASK:
        if body.secret:
            changes["secret"], changes["secret_key_id"] = await _encrypted(keys, body.secret)
        else:
            changes["secret"] = changes["secret_key_id"] = None
    async with db.write() as connection:
        row = await _row(connection, webhook_id)
        new_name = changes.get("name")
        renamed = new_name is not None and new_name != row["name"]
        if renamed and await repo.get_by_name(connection, str(new_name)) is not None:
            raise conflict(f"webhook {new_name!r} exists already")
        if changes:
            await repo.update(connection, webhook_id, changes)
        return _read(await _row(connection, webhook_id))


async def rotate(db: Database, webhook_id: uuid.UUID) -> wire.WebhookRead:
    """A new slug: the old URL stops working at once."""
    async with db.write() as connection:
        await _row(connection, webhook_id)
        await repo.update(connection, webhook_id, {"slug": _new_slug()})
        return _read(await _row(connection, webhook_id))


async def delete(db: Database, webhook_id: uuid.UUID) -> None:
    async with db.write() as connection:
        await _row(connection, webhook_id)
        await repo.delete(connection, webhook_id)


async def reencrypt_secrets(connection: AsyncConnection, keys: KeyRing) -> int:
    """Re-encrypt every webhook secret under the key ring's current key (a key rotation,
    in its transaction); how many were."""
    rotated = 0
    for row in await repo.with_secrets(connection):
        if row["secret_key_id"] == keys.current_id:
            continue
        data = keys.decrypt(row["secret"], row["secret_key_id"], f"webhook {row['name']!r}")
        token, key = keys.encrypt(data)
        await repo.set_secret(connection, row["id"], token, key)
        rotated += 1
    return rotated


# --- receiving ------------------------------------------------------------------------
def _signature(headers: list[tuple[str, str]]) -> str | None:
    wanted = {name.lower() for name in SIGNATURE_HEADERS}
    for name, value in headers:
        if name.lower() in wanted:
            return value.strip()
    return None


def _verify(secret: str, request: HookRequest) -> None:
    given = _signature(request.headers)
    if given is None:
        raise HTTPException(
            401,
            f"missing signature: send '{wire.SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of "
            "the body with the webhook's secret>'",
        )
    digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    scheme, _, hex_digest = given.partition("=")
    valid = scheme.lower() == "sha256" and hmac.compare_digest(
        hex_digest.lower().encode(), digest.encode()
    )
    if not valid:
        raise HTTPException(401, "invalid signature")


async def receive(db: Database, keys: KeyLoader, slug: str, request: HookRequest) -> uuid.UUID:
    """Render the request into an event with the webhook's template and record it.

    Raises:
        ObjectNotFound: no enabled webhook has this slug (404, saying no more).
        HTTPException: 401 for a missing or wrong signature, 400 naming why the request
            made no event (nothing is recorded then).
    """
    async with db.read() as connection:
        row = await repo.get_by_slug(connection, slug)
    if row is None or not row["enabled"]:
        raise ObjectNotFound("no such webhook")
    if row["secret"] is not None:
        ring = await keys()
        data = ring.decrypt(row["secret"], row["secret_key_id"], f"webhook {row['name']!r}")
        _verify(str(data["secret"]), request)
    try:
        text = request.body.decode()
    except UnicodeDecodeError:
        raise HTTPException(400, "the body is not UTF-8 text") from None
    facts = {
        "method": request.method,
        "headers": request.headers,
        "raw_body": text,
        "query": request.query,
        "received": dt.datetime.now(dt.UTC),
    }
    hook = {"id": str(row["id"]), "name": row["name"]}
    try:
        rendered = await run_with_deadline(
            render_event,
            row["template"],
            facts,
            hook,
            time_limit=RENDER_TIMEOUT,
            timeout=RENDER_TIMEOUT + BACKSTOP,
            what="rendering the webhook's template",
        )
    except (WebhookTemplateError, DeadlineExceeded) as exc:
        raise HTTPException(400, str(exc)) from None
    event = Event.model_validate(rendered)
    await events.record(db, [event])
    return event.id

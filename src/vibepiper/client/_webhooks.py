"""Inbound webhooks in the client (`/api/webhooks`), async and blocking, over one set of
call descriptions: create, read (by id or name), list, update, rotate, delete."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from vibepiper.client._layer import Call, _dump, _list, _model, _none
from vibepiper.schemas import webhooks as wire

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

T = TypeVar("T")


def create_webhook(body: wire.WebhookCreate) -> Call[wire.WebhookRead]:
    return Call("POST", "webhooks/", _model(wire.WebhookRead), _dump(body))


def read_webhook(webhook_id: uuid.UUID) -> Call[wire.WebhookRead]:
    return Call("GET", f"webhooks/{webhook_id}", _model(wire.WebhookRead))


def read_webhook_by_name(name: str) -> Call[wire.WebhookRead]:
    return Call("GET", f"webhooks/name/{quote(name, safe='')}", _model(wire.WebhookRead))


def read_webhooks(query: wire.WebhookQuery | None) -> Call[list[wire.WebhookRead]]:
    return Call("POST", "webhooks/filter", _list(wire.WebhookRead), _dump(query) or {})


def update_webhook(webhook_id: uuid.UUID, body: wire.WebhookUpdate) -> Call[wire.WebhookRead]:
    return Call("PATCH", f"webhooks/{webhook_id}", _model(wire.WebhookRead), _dump(body))


def rotate_webhook(webhook_id: uuid.UUID) -> Call[wire.WebhookRead]:
    return Call("POST", f"webhooks/{webhook_id}/rotate", _model(wire.WebhookRead))


def delete_webhook(webhook_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"webhooks/{webhook_id}", _none)


class Webhooks:
    """The async methods of webhooks. Unknown ids and names raise `ObjectNotFound`."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_webhook(self, webhook: wire.WebhookCreate) -> wire.WebhookRead:
        """Create a webhook (`ApiValidationError` for a template that makes no event)."""
        return await self._send(create_webhook(webhook))

    async def read_webhook(self, webhook_id: uuid.UUID) -> wire.WebhookRead:
        return await self._send(read_webhook(webhook_id))

    async def read_webhook_by_name(self, name: str) -> wire.WebhookRead:
        return await self._send(read_webhook_by_name(name))

    async def read_webhooks(self, limit: int = 200, offset: int = 0) -> list[wire.WebhookRead]:
        return await self._send(read_webhooks(wire.WebhookQuery(limit=limit, offset=offset)))

    async def update_webhook(
        self, webhook_id: uuid.UUID, changes: wire.WebhookUpdate
    ) -> wire.WebhookRead:
        return await self._send(update_webhook(webhook_id, changes))

    async def rotate_webhook(self, webhook_id: uuid.UUID) -> wire.WebhookRead:
        """A new URL for the webhook; the old one stops working."""
        return await self._send(rotate_webhook(webhook_id))

    async def delete_webhook(self, webhook_id: uuid.UUID) -> None:
        return await self._send(delete_webhook(webhook_id))


class SyncWebhooks:
    """The blocking methods of webhooks (the same as `Webhooks`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_webhook(self, webhook: wire.WebhookCreate) -> wire.WebhookRead:
        """Create a webhook (`ApiValidationError` for a template that makes no event)."""
        return self._send(create_webhook(webhook))

    def read_webhook(self, webhook_id: uuid.UUID) -> wire.WebhookRead:
        return self._send(read_webhook(webhook_id))

    def read_webhook_by_name(self, name: str) -> wire.WebhookRead:
        return self._send(read_webhook_by_name(name))

    def read_webhooks(self, limit: int = 200, offset: int = 0) -> list[wire.WebhookRead]:
        return self._send(read_webhooks(wire.WebhookQuery(limit=limit, offset=offset)))

    def update_webhook(
        self, webhook_id: uuid.UUID, changes: wire.WebhookUpdate
    ) -> wire.WebhookRead:
        return self._send(update_webhook(webhook_id, changes))

    def rotate_webhook(self, webhook_id: uuid.UUID) -> wire.WebhookRead:
        """A new URL for the webhook; the old one stops working."""
        return self._send(rotate_webhook(webhook_id))

    def delete_webhook(self, webhook_id: uuid.UUID) -> None:
        return self._send(delete_webhook(webhook_id))

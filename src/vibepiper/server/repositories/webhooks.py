"""Queries on inbound webhooks (`webhook`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t

_hook = t.webhook.c


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def get(connection: AsyncConnection, webhook_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.webhook).where(_hook.id == webhook_id))
    return result.mappings().first()


async def get_by_name(connection: AsyncConnection, name: str) -> RowMapping | None:
    result = await connection.execute(sa.select(t.webhook).where(_hook.name == name))
    return result.mappings().first()


async def get_by_slug(connection: AsyncConnection, slug: str) -> RowMapping | None:
    result = await connection.execute(sa.select(t.webhook).where(_hook.slug == slug))
    return result.mappings().first()


async def insert(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    webhook_id = uuid.uuid4()
    now = _now()
    row = {"id": webhook_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.webhook).values(**row))
    return webhook_id


async def update(
    connection: AsyncConnection, webhook_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.webhook).where(_hook.id == webhook_id)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete(connection: AsyncConnection, webhook_id: uuid.UUID) -> None:
    await connection.execute(sa.delete(t.webhook).where(_hook.id == webhook_id))


async def search(connection: AsyncConnection, limit: int, offset: int) -> list[RowMapping]:
    statement = sa.select(t.webhook).order_by(_hook.name, _hook.id).limit(limit).offset(offset)
    return list((await connection.execute(statement)).mappings())


async def with_secrets(connection: AsyncConnection) -> list[RowMapping]:
    """The webhooks holding an encrypted secret (for a key rotation)."""
    statement = sa.select(_hook.id, _hook.name, _hook.secret, _hook.secret_key_id).where(
        _hook.secret.is_not(None)
    )
    return list((await connection.execute(statement)).mappings())


async def set_secret(
    connection: AsyncConnection, webhook_id: uuid.UUID, token: str, key_id: str
) -> None:
    statement = sa.update(t.webhook).where(_hook.id == webhook_id)
    await connection.execute(statement.values(secret=token, secret_key_id=key_id))

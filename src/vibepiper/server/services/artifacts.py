"""Artifacts: create (directly, or in a batch with the run's other records), read,
filter, the latest version per key, a key's versions, update, delete, and the content
of a stored file or image.

A stored file's bytes are not in the database: its `metadata_` names the storage (a
path or an fsspec URL) and the key the SDK wrote them under, and `content` reads them
from there (in a thread, at most `MAX_CONTENT_BYTES`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import MissingResult, ObjectNotFound
from vibepiper.schemas import artifacts as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import artifacts as repo
from vibepiper.server.services._errors import invalid
from vibepiper.server.services._stored import read_stored, readable_roots
from vibepiper.server.settings import ServerSettings

MAX_CONTENT_BYTES = 200_000_000
"""The largest stored file the server serves."""


def _read(row: RowMapping) -> wire.ArtifactRead:
    return wire.ArtifactRead.model_validate(dict(row))


def row_of(body: wire.ArtifactCreate, now: dt.datetime) -> dict[str, Any]:
    """The `artifact` row of a create (its id and time the client's when given)."""
    created = body.created or now
    return {
        "id": body.id or uuid.uuid4(),
        "key": body.key,
        "type": body.type,
        "description": body.description,
        "data": body.data,
        "metadata_": body.metadata_,
        "flow_run_id": body.flow_run_id,
        "task_run_id": body.task_run_id,
        "created": created,
        "updated": created,
    }


async def create(db: Database, body: wire.ArtifactCreate) -> wire.ArtifactRead:
    row = row_of(body, dt.datetime.now(dt.UTC))
    async with db.write() as connection:
        await repo.insert(connection, [row])
        found = await repo.get(connection, row["id"])
    assert found is not None
    return _read(found)


async def _row(connection: AsyncConnection, artifact_id: uuid.UUID) -> RowMapping:
    row = await repo.get(connection, artifact_id)
    if row is None:
        raise ObjectNotFound(f"artifact {artifact_id} not found")
    return row


async def read(db: Database, artifact_id: uuid.UUID) -> wire.ArtifactRead:
    async with db.read() as connection:
        return _read(await _row(connection, artifact_id))


def _where(query: wire.ArtifactQuery) -> list[Any]:
    for name in ("flow_runs", "task_runs", "flows", "deployments"):
        if getattr(query, name):
            raise invalid(
                ("body", name),
                f"filtering artifacts by {name} is not supported: filter by "
                "artifacts.flow_run_id / task_run_id",
            )
    return repo.conditions(query.artifacts)


async def search(db: Database, query: wire.ArtifactQuery) -> list[wire.ArtifactRead]:
    where = _where(query)
    async with db.read() as connection:
        rows = await repo.search(connection, where, query.sort, query.limit, query.offset)
    return [_read(row) for row in rows]


async def count(db: Database, query: wire.ArtifactQuery) -> int:
    where = _where(query)
    async with db.read() as connection:
        return await repo.count(connection, where)


async def search_latest(
    db: Database, query: wire.ArtifactCollectionQuery
) -> list[wire.ArtifactCollection]:
    where = _where(query)
    async with db.read() as connection:
        rows = await repo.search_latest(connection, where, query.sort, query.limit, query.offset)
    return [wire.ArtifactCollection(**dict(row), latest_id=row["id"]) for row in rows]


async def count_latest(db: Database, query: wire.ArtifactCollectionQuery) -> int:
    where = _where(query)
    async with db.read() as connection:
        return await repo.count_latest(connection, where)


async def latest(db: Database, key: str) -> wire.ArtifactRead:
    async with db.read() as connection:
        rows = await repo.versions(connection, key, 1)
    if not rows:
        raise ObjectNotFound(f"no artifact with key {key!r}")
    return _read(rows[0])


async def versions(db: Database, key: str, limit: int) -> list[wire.ArtifactRead]:
    async with db.read() as connection:
        rows = await repo.versions(connection, key, limit)
    if not rows:
        raise ObjectNotFound(f"no artifact with key {key!r}")
    return [_read(row) for row in rows]


def _changes(body: wire.ArtifactUpdate) -> dict[str, Any]:
    return {name: getattr(body, name) for name in body.model_fields_set}


async def update_in(
    connection: AsyncConnection, artifact_id: uuid.UUID, body: wire.ArtifactUpdate
) -> bool:
    """Apply `body` in the caller's transaction; False if there is no such artifact."""
    changes = _changes(body)
    if not changes:
        return await repo.get(connection, artifact_id) is not None
    return await repo.update(connection, artifact_id, changes)


async def update(db: Database, artifact_id: uuid.UUID, body: wire.ArtifactUpdate) -> None:
    async with db.write() as connection:
        if not await update_in(connection, artifact_id, body):
            raise ObjectNotFound(f"artifact {artifact_id} not found")


async def delete(db: Database, artifact_id: uuid.UUID) -> None:
    async with db.write() as connection:
        if not await repo.delete(connection, artifact_id):
            raise ObjectNotFound(f"artifact {artifact_id} not found")


async def delete_key(db: Database, key: str) -> int:
    async with db.write() as connection:
        deleted = await repo.delete_key(connection, key)
    if not deleted:
        raise ObjectNotFound(f"no artifact with key {key!r}")
    return deleted


class Content:
    """A stored file: its bytes, name and media type."""

    def __init__(self, data: bytes, filename: str, content_type: str) -> None:
        self.data, self.filename, self.content_type = data, filename, content_type


async def content(
    db: Database, artifact_id: uuid.UUID, settings: ServerSettings | None = None
) -> Content:
    """The stored file or image of the artifact (ObjectNotFound when it has none, the
    storage no longer holds it, or it is not in storage this server may read:
    `_stored.readable_roots` of `settings`)."""
    artifact = await read(db, artifact_id)
    meta = artifact.metadata_ or {}
    storage, key = meta.get("storage"), meta.get("storage_key")
    if not storage or not key:
        raise ObjectNotFound(f"artifact {artifact_id} has no stored content")
    try:
        roots = readable_roots(settings)
        data = await asyncio.to_thread(read_stored, storage, key, MAX_CONTENT_BYTES, roots)
    except (MissingResult, OSError, ValueError) as exc:
        raise ObjectNotFound(f"artifact {artifact_id}: its content cannot be read: {exc}") from None
    filename = meta.get("filename") or key.rsplit("/", 1)[-1]
    return Content(data, filename, meta.get("content_type") or "application/octet-stream")

"""Flow-run input: keyed JSON text sent to a flow run, written once per key, read by key
or by key prefix (oldest first), deleted.

`read_value` and `insert` work inside a caller's transaction (resuming a paused run
reads the input's schema and stores the answer in the same transaction as its state).
"""

from __future__ import annotations

import uuid

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import flow_run_input as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_run_inputs as repo
from vibepiper.server.repositories.flow_run_inputs import FlowRunInputExists
from vibepiper.server.services._errors import conflict

__all__ = [
    "FlowRunInputExists",
    "create",
    "delete",
    "insert",
    "read",
    "read_value",
    "search",
]


def _read(row: RowMapping) -> wire.FlowRunInputRead:
    return wire.FlowRunInputRead.model_validate(dict(row))


async def _require_run(connection: AsyncConnection, flow_run_id: uuid.UUID) -> None:
    if not await repo.run_exists(connection, flow_run_id):
        raise ObjectNotFound(f"flow run {flow_run_id} not found")


async def read_value(connection: AsyncConnection, flow_run_id: uuid.UUID, key: str) -> str | None:
    """The JSON text stored under `key` for the run, None when there is none."""
    row = await repo.get(connection, flow_run_id, key)
    return None if row is None else str(row["value"])


async def insert(
    connection: AsyncConnection,
    flow_run_id: uuid.UUID,
    key: str,
    value: str,
    sender: str | None,
) -> wire.FlowRunInputRead:
    """Store `value` (JSON text) under `key` in the caller's transaction; raises
    `FlowRunInputExists` when the run has that key (the transaction stays usable).
    The caller has checked that the run exists."""
    return _read(await repo.insert(connection, flow_run_id, key, value, sender))


async def create(
    db: Database, flow_run_id: uuid.UUID, body: wire.FlowRunInputCreate
) -> wire.FlowRunInputRead:
    """404 for an unknown run, 409 when the key is taken."""
    async with db.write() as connection:
        await _require_run(connection, flow_run_id)
        try:
            return await insert(connection, flow_run_id, body.key, body.value, body.sender)
        except FlowRunInputExists as exc:
            raise conflict(f"a flow run input with key {body.key!r} exists already") from exc


async def read(db: Database, flow_run_id: uuid.UUID, key: str) -> str:
    """The JSON text under `key`; 404 when the run has no such input."""
    async with db.read() as connection:
        value = await read_value(connection, flow_run_id, key)
    if value is None:
        raise ObjectNotFound(f"flow run {flow_run_id} has no input with key {key!r}")
    return value


async def search(
    db: Database, flow_run_id: uuid.UUID, query: wire.FlowRunInputFilter
) -> list[wire.FlowRunInputRead]:
    """The run's inputs matching `query`, oldest first (none for an unknown run, as in
    Prefect)."""
    async with db.read() as connection:
        rows = await repo.search(
            connection, flow_run_id, query.prefix, query.limit, query.exclude_keys
        )
    return [_read(row) for row in rows]


async def delete(db: Database, flow_run_id: uuid.UUID, key: str) -> None:
    """404 when the run has no such input."""
    async with db.write() as connection:
        if not await repo.delete(connection, flow_run_id, key):
            raise ObjectNotFound(f"flow run {flow_run_id} has no input with key {key!r}")

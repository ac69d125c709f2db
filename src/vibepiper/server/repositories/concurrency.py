"""Queries on `concurrency_limit` and `concurrency_lease`.

Row locks: a slot decision reads a limit's leases and may add one, so two decisions
on one limit must not interleave. `lock_limits` takes the limit rows with
`SELECT ... FOR UPDATE` ordered by name, so requests over overlapping sets of limits
lock them in the same order and cannot deadlock; on SQLite the write transaction
holds the database's write lock already (`BEGIN IMMEDIATE`). Renewals lock the same
rows first, so a renewal can never revive a lease a concurrent grant has counted as
expired. Releases and deletes only remove leases (freeing is always safe) and lock
nothing extra.

Expired leases are filtered out of every read; `delete_expired_leases` (the reaper)
removes them in bounded batches with `SKIP LOCKED`, so replicas share the work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotLease
from vibepiper.server.repositories._dialect import locked, locked_skipping

_limit_t = t.concurrency_limit
_lease_t = t.concurrency_lease

_LEASE_COLUMNS = (
    _lease_t.c.lease_id,
    _limit_t.c.name,
    _lease_t.c.holder,
    _lease_t.c.occupy,
    _lease_t.c.expires_at,
    _lease_t.c.decaying,
    _lease_t.c.created,
)


def _limit(row: Any) -> ConcurrencyLimit:
    return ConcurrencyLimit(
        id=row.id,
        name=row.name,
        kind=row.kind,
        limit=row.limit,
        active=bool(row.active),
        slot_decay_per_second=float(row.slot_decay_per_second),
        created=row.created,
        updated=row.updated,
    )


def _lease(row: Any) -> SlotLease:
    return SlotLease(
        lease_id=row.lease_id,
        limit_name=row.name,
        holder=row.holder,
        occupy=row.occupy,
        expires_at=row.expires_at,
        decaying=bool(row.decaying),
        created=row.created,
    )


# --- limits -----------------------------------------------------------------------------
async def get_limit(
    connection: AsyncConnection, name: str, *, lock: bool = False
) -> ConcurrencyLimit | None:
    query = sa.select(_limit_t).where(_limit_t.c.name == name)
    if lock:
        query = locked(connection, query)
    row = (await connection.execute(query)).first()
    return None if row is None else _limit(row)


async def list_limits(connection: AsyncConnection, kind: str | None) -> list[ConcurrencyLimit]:
    query = sa.select(_limit_t).order_by(_limit_t.c.name)
    if kind is not None:
        query = query.where(_limit_t.c.kind == kind)
    return [_limit(row) for row in await connection.execute(query)]


async def insert_limit(connection: AsyncConnection, limit: ConcurrencyLimit) -> None:
    await connection.execute(
        sa.insert(_limit_t).values(
            id=limit.id,
            name=limit.name,
            kind=limit.kind,
            limit=limit.limit,
            active=limit.active,
            slot_decay_per_second=limit.slot_decay_per_second,
            created=limit.created,
            updated=limit.updated,
        )
    )


async def update_limit(connection: AsyncConnection, limit: ConcurrencyLimit) -> None:
    await connection.execute(
        sa.update(_limit_t)
        .where(_limit_t.c.id == limit.id)
        .values(
            limit=limit.limit,
            active=limit.active,
            slot_decay_per_second=limit.slot_decay_per_second,
            updated=limit.updated,
        )
    )


async def delete_limit(connection: AsyncConnection, limit_id: uuid.UUID) -> None:
    # SQLite enforces no cascade here: delete the leases explicitly
    await connection.execute(sa.delete(_lease_t).where(_lease_t.c.limit_id == limit_id))
    await connection.execute(sa.delete(_limit_t).where(_limit_t.c.id == limit_id))


async def lock_limits(
    connection: AsyncConnection, names: Sequence[str], *, lock: bool = True
) -> dict[str, ConcurrencyLimit]:
    """The limits named in `names` by name, row-locked in name order when `lock`."""
    query = sa.select(_limit_t).where(_limit_t.c.name.in_(sorted(set(names))))
    query = query.order_by(_limit_t.c.name)
    if lock:
        query = locked(connection, query)
    return {limit.name: limit for limit in map(_limit, await connection.execute(query))}


# --- leases -----------------------------------------------------------------------------
async def live_leases(
    connection: AsyncConnection, limit_ids: Sequence[uuid.UUID], now: dt.datetime
) -> dict[str, list[SlotLease]]:
    """The unexpired leases on the limits `limit_ids`, by limit name, oldest first."""
    if not limit_ids:
        return {}
    query = (
        sa.select(*_LEASE_COLUMNS)
        .join(_limit_t, _limit_t.c.id == _lease_t.c.limit_id)
        .where(_lease_t.c.limit_id.in_(list(limit_ids)), _lease_t.c.expires_at > now)
        .order_by(_lease_t.c.created, _lease_t.c.id)
    )
    out: dict[str, list[SlotLease]] = {}
    for row in await connection.execute(query):
        lease = _lease(row)
        out.setdefault(lease.limit_name, []).append(lease)
    return out


async def insert_leases(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(sa.insert(_lease_t), list(rows))


async def lease_rows(connection: AsyncConnection, lease_id: uuid.UUID) -> list[SlotLease]:
    """Every row of one lease (one per limit), expired or not."""
    query = (
        sa.select(*_LEASE_COLUMNS)
        .join(_limit_t, _limit_t.c.id == _lease_t.c.limit_id)
        .where(_lease_t.c.lease_id == lease_id)
    )
    return [_lease(row) for row in await connection.execute(query)]


async def set_lease_expiry(
    connection: AsyncConnection, lease_id: uuid.UUID, expires_at: dt.datetime
) -> None:
    await connection.execute(
        sa.update(_lease_t).where(_lease_t.c.lease_id == lease_id).values(expires_at=expires_at)
    )


async def delete_lease(connection: AsyncConnection, lease_id: uuid.UUID) -> dict[str, int]:
    """Delete the lease; the slots it held, per limit name (empty: there was none)."""
    held = await connection.execute(
        sa.select(_limit_t.c.name, _lease_t.c.occupy)
        .join(_limit_t, _limit_t.c.id == _lease_t.c.limit_id)
        .where(_lease_t.c.lease_id == lease_id)
    )
    slots = {str(name): int(occupy) for name, occupy in held}
    if slots:
        await connection.execute(sa.delete(_lease_t).where(_lease_t.c.lease_id == lease_id))
    return slots


async def delete_leases_of(
    connection: AsyncConnection, limit_id: uuid.UUID, now: dt.datetime
) -> int:
    """Delete every lease on the limit; returns how many were live (held slots)."""
    of_limit = _lease_t.c.limit_id == limit_id
    await connection.execute(sa.delete(_lease_t).where(of_limit, _lease_t.c.expires_at <= now))
    result = await connection.execute(sa.delete(_lease_t).where(of_limit))
    return int(result.rowcount)


async def delete_expired_leases(connection: AsyncConnection, now: dt.datetime, limit: int) -> int:
    """Delete at most `limit` leases expired at `now`, skipping rows others hold."""
    ids = sa.select(_lease_t.c.id).where(_lease_t.c.expires_at <= now).limit(limit)
    found = list((await connection.execute(locked_skipping(connection, ids))).scalars())
    if found:
        await connection.execute(sa.delete(_lease_t).where(_lease_t.c.id.in_(found)))
    return len(found)

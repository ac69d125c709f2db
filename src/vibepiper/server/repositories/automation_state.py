"""Queries on what automations keep between events: the buckets of their triggers, the
events the evaluator has taken (`automation_event_seen`), their firings, the queue of
their actions and their evaluation log.

Rows are locked in one order everywhere: the `automation_event_seen` rows of a batch
first (whoever inserts them evaluates those events), then buckets in (automation,
trigger, bucket) order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server import metrics
from vibepiper.server.repositories._dialect import insert_ignoring_conflicts

_bucket = t.automation_bucket.c
_seen = t.automation_event_seen.c
_action = t.automation_action_run.c
_log = t.automation_log.c
_event = t.event.c

BucketKey = tuple[uuid.UUID, uuid.UUID, str]


# --- events -------------------------------------------------------------------------------
async def events_after(
    connection: AsyncConnection, after: tuple[dt.datetime, uuid.UUID], limit: int
) -> list[RowMapping]:
    """Events after `after` in (received, id) order, oldest first (a keyset page through
    `ix_event__received`)."""
    received, event_id = after
    later = sa.or_(
        _event.received > received, sa.and_(_event.received == received, _event.id > event_id)
    )
    statement = sa.select(t.event).where(later).order_by(_event.received, _event.id).limit(limit)
    return list((await connection.execute(statement)).mappings())


async def event_keys_between(
    connection: AsyncConnection, since: dt.datetime, until: dt.datetime, limit: int
) -> list[tuple[uuid.UUID, dt.datetime]]:
    """(id, received) of the events received in [since, until], oldest first."""
    statement = (
        sa.select(_event.id, _event.received)
        .where(_event.received >= since, _event.received <= until)
        .order_by(_event.received, _event.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await connection.execute(statement)]


async def events_by_ids(connection: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
    if not ids:
        return []
    statement = sa.select(t.event).where(_event.id.in_(list(ids)))
    return list((await connection.execute(statement)).mappings())


async def claim_events(
    connection: AsyncConnection, events: Sequence[tuple[uuid.UUID, dt.datetime]]
) -> set[uuid.UUID]:
    """Mark events (id, received) as taken; the ids this transaction took (an event
    another replica or pass took already is not among them)."""
    if not events:
        return set()
    ids = [event_id for event_id, _ in events]
    taken = set(
        (await connection.execute(sa.select(_seen.event_id).where(_seen.event_id.in_(ids))))
        .scalars()
        .all()
    )
    fresh = [{"event_id": i, "received": r} for i, r in events if i not in taken]
    fresh_ids = {event_id for event_id, _ in events if event_id not in taken}
    if not fresh:
        return set()
    statement = insert_ignoring_conflicts(connection, t.automation_event_seen, fresh)
    if connection.dialect.name == "postgresql":
        returned = await connection.execute(statement.returning(_seen.event_id))
        return set(returned.scalars().all())
    await connection.execute(statement)  # SQLite: one writer, nobody took them meanwhile
    return fresh_ids


async def last_seen(connection: AsyncConnection) -> dt.datetime | None:
    """When the latest event any evaluator took was received."""
    last: dt.datetime | None = (
        await connection.execute(sa.select(sa.func.max(_seen.received)))
    ).scalar_one()
    return last


# --- buckets ------------------------------------------------------------------------------
async def buckets(
    connection: AsyncConnection, keys: Sequence[BucketKey]
) -> dict[BucketKey, RowMapping]:
    """The buckets of `keys` that exist, locked for this transaction on PostgreSQL."""
    if not keys:
        return {}
    found: dict[BucketKey, RowMapping] = {}
    ordered = sorted(set(keys), key=lambda k: (str(k[0]), str(k[1]), k[2]))
    for start in range(0, len(ordered), 200):
        chunk = ordered[start : start + 200]
        statement = (
            sa.select(t.automation_bucket)
            .where(sa.tuple_(_bucket.automation_id, _bucket.trigger_id, _bucket.bucket).in_(chunk))
            .order_by(_bucket.automation_id, _bucket.trigger_id, _bucket.bucket)
        )
        if connection.dialect.name == "postgresql":
            statement = statement.with_for_update()
        for row in (await connection.execute(statement)).mappings():
            found[(row["automation_id"], row["trigger_id"], row["bucket"])] = row
    return found


async def any_due(connection: AsyncConnection, now: dt.datetime) -> bool:
    """Whether some bucket's window has ended (a read, before taking locks)."""
    statement = sa.select(_bucket.automation_id).where(_bucket.end <= now).limit(1)
    return (await connection.execute(statement)).first() is not None


async def any_due_action(connection: AsyncConnection, now: dt.datetime) -> bool:
    """Whether some action is due (a read, before taking locks; every 50 ms: built once)."""
    return (await connection.execute(_ANY_DUE, {"now": now})).first() is not None


_ANY_DUE = (
    sa.select(_action.id)
    .where(
        _action.status.in_(["pending", "running"]),
        _action.next_attempt <= sa.bindparam("now", type_=_action.next_attempt.type),
    )
    .limit(1)
)


async def due_buckets(
    connection: AsyncConnection, now: dt.datetime, limit: int
) -> list[RowMapping]:
    """Buckets whose window has ended, oldest end first; locked, skipping those another
    replica holds, on PostgreSQL."""
    statement = (
        sa.select(t.automation_bucket).where(_bucket.end <= now).order_by(_bucket.end).limit(limit)
    )
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list((await connection.execute(statement)).mappings())


async def bucket_count(
    connection: AsyncConnection, automation_id: uuid.UUID, trigger_id: uuid.UUID
) -> int:
    statement = sa.select(sa.func.count()).where(
        _bucket.automation_id == automation_id, _bucket.trigger_id == trigger_id
    )
    return int((await connection.execute(statement)).scalar_one())


async def save_bucket(
    connection: AsyncConnection, key: BucketKey, values: dict[str, Any] | None, existed: bool
) -> None:
    """Write the bucket of `key` (`values` None: delete it)."""
    where = sa.and_(
        _bucket.automation_id == key[0], _bucket.trigger_id == key[1], _bucket.bucket == key[2]
    )
    if values is None:
        if existed:
            await connection.execute(sa.delete(t.automation_bucket).where(where))
        return
    values = {**values, "updated": dt.datetime.now(dt.UTC)}
    if existed:
        await connection.execute(sa.update(t.automation_bucket).where(where).values(**values))
        return
    row = {"automation_id": key[0], "trigger_id": key[1], "bucket": key[2], **values}
    await connection.execute(sa.insert(t.automation_bucket).values(**row))


_BUCKET_FIELDS = ("start", "end", "count", "triggered_at", "last_event", "updated")


async def save_buckets(
    connection: AsyncConnection,
    inserts: Sequence[dict[str, Any]],
    updates: Sequence[dict[str, Any]],
    deletes: Sequence[BucketKey],
) -> None:
    """Write many buckets at once (rows hold their key columns and `_BUCKET_FIELDS`; an
    update without `last_event` keeps the stored one): one statement per kind, sent as
    an executemany."""
    now = dt.datetime.now(dt.UTC)
    if inserts:
        rows = [{"last_event": None, **row, "updated": now} for row in inserts]
        await connection.execute(sa.insert(t.automation_bucket), rows)
    by_shape: dict[bool, list[dict[str, Any]]] = {}
    for row in updates:
        by_shape.setdefault("last_event" in row, []).append(row)
    for with_event, rows in by_shape.items():
        fields = [f for f in _BUCKET_FIELDS if f != "last_event" or with_event]
        statement = (
            sa.update(t.automation_bucket)
            .where(
                _bucket.automation_id == sa.bindparam("k_automation_id"),
                _bucket.trigger_id == sa.bindparam("k_trigger_id"),
                _bucket.bucket == sa.bindparam("k_bucket"),
            )
            .values({f: sa.bindparam(f"v_{f}") for f in fields})
        )
        params = [
            {
                "k_automation_id": row["automation_id"],
                "k_trigger_id": row["trigger_id"],
                "k_bucket": row["bucket"],
                **{f"v_{f}": row.get(f, now) if f == "updated" else row[f] for f in fields},
            }
            for row in rows
        ]
        await connection.execute(statement, params)
    if deletes:
        key = sa.tuple_(_bucket.automation_id, _bucket.trigger_id, _bucket.bucket)
        for start in range(0, len(deletes), 200):
            chunk = list(deletes[start : start + 200])
            await connection.execute(sa.delete(t.automation_bucket).where(key.in_(chunk)))


async def drop_buckets(connection: AsyncConnection, automation_id: uuid.UUID) -> None:
    """Forget an automation's buckets (it was changed, turned off or deleted)."""
    statement = sa.delete(t.automation_bucket).where(_bucket.automation_id == automation_id)
    await connection.execute(statement)


# --- firings, actions and the log -----------------------------------------------------------
async def insert_firing(connection: AsyncConnection, values: dict[str, Any]) -> None:
    await connection.execute(sa.insert(t.automation_firing).values(**values))
    metrics.FIRINGS.inc()


async def insert_actions(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(sa.insert(t.automation_action_run), list(rows))


async def claim_actions(
    connection: AsyncConnection, now: dt.datetime, lease: dt.timedelta, limit: int
) -> list[RowMapping]:
    """Actions due now (pending, or running past their lease: a server that stopped
    mid-action), marked running until `now + lease`; skipping rows another replica holds."""
    due = sa.and_(_action.status.in_(["pending", "running"]), _action.next_attempt <= now)
    statement = (
        sa.select(t.automation_action_run).where(due).order_by(_action.next_attempt).limit(limit)
    )
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = list((await connection.execute(statement)).mappings())
    if rows:
        await connection.execute(
            sa.update(t.automation_action_run)
            .where(_action.id.in_([row["id"] for row in rows]))
            .values(
                status="running",
                attempts=_action.attempts + 1,
                next_attempt=now + lease,
                updated=now,
            )
        )
    return rows


async def finish_action(
    connection: AsyncConnection, action_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.automation_action_run).where(_action.id == action_id)
    await connection.execute(statement.values(updated=dt.datetime.now(dt.UTC), **values))


async def insert_log(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(sa.insert(t.automation_log), list(rows))


async def last_firings(
    connection: AsyncConnection, automation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dt.datetime]:
    """When each of these automations last fired (those that ever did)."""
    if not automation_ids:
        return {}
    firing = t.automation_firing.c
    statement = (
        sa.select(firing.automation_id, sa.func.max(firing.occurred))
        .where(firing.automation_id.in_(list(automation_ids)), firing.kind == "triggered")
        .group_by(firing.automation_id)
    )
    return {row[0]: row[1] for row in await connection.execute(statement)}


async def read_log(
    connection: AsyncConnection, automation_id: uuid.UUID, limit: int
) -> list[RowMapping]:
    """An automation's evaluation log, newest first."""
    statement = (
        sa.select(t.automation_log)
        .where(_log.automation_id == automation_id)
        .order_by(_log.occurred.desc(), _log.id)
        .limit(limit)
    )
    return list((await connection.execute(statement)).mappings())


async def read_actions(
    connection: AsyncConnection, automation_id: uuid.UUID, limit: int
) -> list[RowMapping]:
    """An automation's action runs, newest first."""
    statement = (
        sa.select(t.automation_action_run)
        .where(_action.automation_id == automation_id)
        .order_by(_action.created.desc(), _action.position)
        .limit(limit)
    )
    return list((await connection.execute(statement)).mappings())


async def prune(
    connection: AsyncConnection,
    seen_before: dt.datetime,
    kept_before: dt.datetime,
    batch: int = 5000,
) -> int:
    """Delete taken-event marks older than `seen_before`, and log lines, firings and
    finished actions older than `kept_before`, at most `batch` rows of each per call."""
    removed = 0
    plans = (
        (t.automation_event_seen, _seen.received < seen_before, _seen.event_id),
        (t.automation_log, _log.occurred < kept_before, _log.id),
        (
            t.automation_firing,
            t.automation_firing.c.occurred < kept_before,
            t.automation_firing.c.id,
        ),
        (
            t.automation_action_run,
            sa.and_(_action.updated < kept_before, _action.status.in_(["done", "failed"])),
            _action.id,
        ),
    )
    for table, old, key in plans:
        doomed = sa.select(key).where(old).limit(batch).scalar_subquery()
        result = await connection.execute(sa.delete(table).where(key.in_(doomed)))
        removed += int(result.rowcount or 0)
    return removed

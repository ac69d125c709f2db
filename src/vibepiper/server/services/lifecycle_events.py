"""Events of what the server changes besides run states: deployments, work pools and
work queues created, updated and deleted, their readiness, and concurrency slots
acquired and released. Each is written in the transaction that makes the change.

Readiness (Prefect's statuses): a deployment, pool or queue is `READY` while a worker
(or serve process) has polled it within `READY_WITHIN` (60 s), `NOT_READY` otherwise,
and a pool or queue is `PAUSED` while paused. A status changes with a conditional
UPDATE of its row (`WHERE status IS NOT DISTINCT FROM <the status read>`), so with
several replicas one transaction wins the change and writes its one event
(`vibepiper.work-pool.ready`, `.not-ready`, `.paused`; the same for `work-queue` and
`deployment`), which `follows` the previous status event. Polls move objects to
`READY` at once; `readiness_loop` moves the silent ones to `NOT_READY`.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.events import Event, uuid7
from vibepiper.server.database import Database
from vibepiper.server.repositories import events
from vibepiper.server.services._periodic import every

logger = logging.getLogger("vibepiper.server.readiness")

READY_WITHIN = dt.timedelta(seconds=60)
Kind = Literal["deployment", "work-pool", "work-queue"]
_TABLES: dict[Kind, sa.Table] = {
    "deployment": t.deployment,
    "work-pool": t.work_pool,
    "work-queue": t.work_queue,
}
_EVENT_NAMES = {"READY": "ready", "NOT_READY": "not-ready", "PAUSED": "paused"}


async def emit(
    connection: AsyncConnection,
    name: str,
    resource: dict[str, str],
    *,
    related: list[dict[str, str]] | None = None,
    payload: dict[str, Any] | None = None,
    follows: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record one event in the caller's transaction; its id."""
    now = dt.datetime.now(dt.UTC)
    event = Event.model_validate(
        {
            "occurred": now,
            "event": name,
            "resource": resource,
            "related": related or [],
            "payload": payload or {},
            "id": event_id or uuid7(),
            "follows": follows,
        }
    )
    row, index = events.rows_of(event, now)
    await events.insert(connection, [row], index)
    return event.id


def resource_of(kind: Kind, row: Mapping[Any, Any], **labels: str) -> dict[str, str]:
    """The resource labels of a deployment, pool or queue row."""
    return {
        "vibepiper.resource.id": f"vibepiper.{kind}.{row['id']}",
        "vibepiper.resource.name": str(row["name"]),
        **labels,
    }


async def changed(
    connection: AsyncConnection,
    kind: Kind,
    row: Mapping[Any, Any],
    action: Literal["created", "updated", "deleted"],
    fields: list[str] | None = None,
) -> None:
    """`vibepiper.<kind>.<action>` for the object in `row`."""
    payload = {"updated_fields": sorted(fields)} if fields is not None else {}
    await emit(connection, f"vibepiper.{kind}.{action}", resource_of(kind, row), payload=payload)


def _desired(kind: Kind, table: sa.Table, now: dt.datetime) -> sa.ColumnElement[str]:
    recent = sa.and_(table.c.last_polled.is_not(None), table.c.last_polled >= now - READY_WITHIN)
    if kind == "deployment":
        return sa.case((recent, "READY"), else_="NOT_READY")
    return sa.case((table.c.paused, "PAUSED"), (recent, "READY"), else_="NOT_READY")


async def update_readiness(
    connection: AsyncConnection, kind: Kind, now: dt.datetime | None = None
) -> int:
    """Move every `kind` object whose status is not what its polls and pause say to that
    status, each with its event; how many changed."""
    now = now or dt.datetime.now(dt.UTC)
    table = _TABLES[kind]
    desired = _desired(kind, table, now).label("desired")
    query = (
        sa.select(table, desired)
        .where(table.c.status.is_distinct_from(desired))
        .order_by(table.c.id)  # one lock order for every replica
    )
    rows = list((await connection.execute(query)).mappings())
    moved = 0
    for row in rows:
        event_id = uuid7()
        statement = (
            sa.update(table)
            .where(table.c.id == row["id"], table.c.status.is_not_distinct_from(row["status"]))
            .values(status=row["desired"], status_event_id=event_id, status_updated=now)
        )
        if (await connection.execute(statement)).rowcount != 1:
            continue  # another transaction moved it first, with its own event
        labels = {}
        if kind == "work-pool":
            labels["vibepiper.work-pool.type"] = str(row["type"])
        related = []
        if kind == "work-queue":
            pool = await connection.execute(
                sa.select(t.work_pool.c.id, t.work_pool.c.name).where(
                    t.work_pool.c.id == row["work_pool_id"]
                )
            )
            found = pool.first()
            if found is not None:
                related.append(
                    {
                        "vibepiper.resource.id": f"vibepiper.work-pool.{found.id}",
                        "vibepiper.resource.name": str(found.name),
                        "vibepiper.resource.role": "work-pool",
                    }
                )
        await emit(
            connection,
            f"vibepiper.{kind}.{_EVENT_NAMES[row['desired']]}",
            resource_of(kind, row, **labels),
            related=related,
            payload={"status": row["desired"], "previous_status": row["status"]},
            follows=row["status_event_id"],
            event_id=event_id,
        )
        moved += 1
    return moved


async def update_all_readiness(connection: AsyncConnection) -> int:
    """`update_readiness` for pools, queues and deployments."""
    now = dt.datetime.now(dt.UTC)
    moved = 0
    for kind in ("work-pool", "work-queue", "deployment"):
        moved += await update_readiness(connection, kind, now)  # type: ignore[arg-type]
    return moved


async def readiness_loop(db: Database, *, interval: float) -> None:
    """Every `interval` seconds, move objects whose workers went silent to NOT_READY."""

    async def one_pass() -> int:
        async with db.write() as connection:
            return await update_all_readiness(connection)

    await every(interval, one_pass, what="readiness pass", logger=logger)


async def slots_acquired(
    connection: AsyncConnection,
    limits: list[tuple[uuid.UUID, str]],
    lease_id: uuid.UUID,
    occupy: int,
    holder: Any,
) -> None:
    """`vibepiper.concurrency-limit.acquired` for each limit a lease took slots on."""
    for limit_id, name in limits:
        await emit(
            connection,
            "vibepiper.concurrency-limit.acquired",
            _limit(limit_id, name),
            payload={"lease_id": str(lease_id), "slots": occupy, "holder": holder},
        )


async def slots_released(
    connection: AsyncConnection, released: dict[str, int], lease_id: uuid.UUID
) -> None:
    """`vibepiper.concurrency-limit.released` for each limit a lease gave slots back to."""
    if not released:
        return
    query = sa.select(t.concurrency_limit.c.id, t.concurrency_limit.c.name).where(
        t.concurrency_limit.c.name.in_(list(released))
    )
    for limit_id, name in (await connection.execute(query)).all():
        await emit(
            connection,
            "vibepiper.concurrency-limit.released",
            _limit(limit_id, str(name)),
            payload={"lease_id": str(lease_id), "slots": released[str(name)]},
        )


def _limit(limit_id: uuid.UUID, name: str) -> dict[str, str]:
    return {
        "vibepiper.resource.id": f"vibepiper.concurrency-limit.{limit_id}",
        "vibepiper.resource.name": name,
    }

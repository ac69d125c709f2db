"""Queries on the asset catalogue: the projection's cursor and the asset events past it,
assets (read, upsert, search, delete), their materializations, check results and
lineage edges, and the assets due for a freshness evaluation.

The projection's writers lock the cursor row first (`lock_cursor`), so on PostgreSQL
one catch-up at a time reads and applies the events past it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories._dialect import (
    insert_ignoring_conflicts,
    locked,
    locked_skipping,
)

A = t.asset
M = t.asset_materialization
C = t.asset_check_result
G = t.asset_edge
P = t.asset_projection
D = t.asset_deletion
E = t.event

CATALOGUE = "catalogue"
ASSET_EVENTS = "vibepiper.asset."
REFERENCED = "vibepiper.asset.referenced"
Cursor = tuple[dt.datetime, uuid.UUID] | None
_CHUNK = 2000

PROJECTED_COLUMNS = (
    "name",
    "url",
    "description",
    "owners",
    "metadata_",
    "last_event_id",
    "last_materialized",
    "last_status",
    "last_flow_run_id",
    "last_task_run_id",
    "last_flow_name",
    "last_deployment_id",
    "materialized_by",
    "last_succeeded",
    "checks",
    "freshness",
)
"""The columns of `asset` the projection writes (freshness status is the evaluator's)."""


# --- the projection's cursor --------------------------------------------------------------
def _asset_events() -> sa.ColumnElement[bool]:
    # a name prefix as a range (names sort bytewise; "/" follows ".")
    return sa.and_(E.c.event >= ASSET_EVENTS, E.c.event < ASSET_EVENTS[:-1] + "/")


def _after(cursor: Cursor) -> sa.ColumnElement[bool]:
    if cursor is None:
        return sa.true()
    received, event_id = cursor
    return sa.or_(E.c.received > received, sa.and_(E.c.received == received, E.c.id > event_id))


async def read_cursor(connection: AsyncConnection) -> Cursor:
    statement = sa.select(P.c.received, P.c.event_id).where(P.c.name == CATALOGUE)
    row = (await connection.execute(statement)).first()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


async def lock_cursor(connection: AsyncConnection) -> Cursor:
    """The cursor, locked until the transaction ends (made on first use)."""
    now = dt.datetime.now(dt.UTC)
    await connection.execute(
        insert_ignoring_conflicts(connection, P, [{"name": CATALOGUE, "updated": now}])
    )
    statement = locked(
        connection, sa.select(P.c.received, P.c.event_id).where(P.c.name == CATALOGUE)
    )
    row = (await connection.execute(statement)).one()
    return None if row[0] is None else (row[0], row[1])


async def save_cursor(
    connection: AsyncConnection, received: dt.datetime, event_id: uuid.UUID
) -> None:
    values = {"received": received, "event_id": event_id, "updated": dt.datetime.now(dt.UTC)}
    await connection.execute(sa.update(P).where(P.c.name == CATALOGUE).values(values))


async def newest_received(connection: AsyncConnection) -> dt.datetime | None:
    """When the latest event of any kind was received (the end of `ix_event__received`)."""
    found: dt.datetime | None = (
        await connection.execute(sa.select(sa.func.max(E.c.received)))
    ).scalar_one()
    return found


def _by_received(statement: sa.Select[Any]) -> sa.Select[Any]:
    # through the index on `received`: the cost is the events that arrived in the range,
    # however many asset events came before (SQLite would pick the name index)
    return statement.with_hint(E, "INDEXED BY ix_event__received", dialect_name="sqlite")


async def events_after(
    connection: AsyncConnection,
    cursor: Cursor,
    until: tuple[dt.datetime, uuid.UUID],
    limit: int,
) -> list[RowMapping]:
    """Asset events after `cursor` and up to `until`, in (received, id) order."""
    received, event_id = until
    upto = sa.or_(E.c.received < received, sa.and_(E.c.received == received, E.c.id <= event_id))
    statement = (
        sa.select(E)
        .where(_after(cursor), upto, _asset_events())
        .order_by(E.c.received, E.c.id)
        .limit(limit)
    )
    return list((await connection.execute(_by_received(statement))).mappings())


async def event_keys_between(
    connection: AsyncConnection, since: dt.datetime, until: dt.datetime, limit: int
) -> list[RowMapping]:
    """The asset events received in [since, until] (a look back for late commits), as
    what tells whether they are applied: `id`, `event`, `resource_id`, and `related` of
    the `referenced` ones (None for the others: most are applied, so their JSON is not
    read)."""
    related = sa.case((E.c.event == REFERENCED, E.c.related), else_=sa.null())
    statement = (
        sa.select(E.c.id, E.c.event, E.c.resource_id, related.label("related"))
        .where(E.c.received >= since, E.c.received <= until, _asset_events())
        .order_by(E.c.received, E.c.id)
        .limit(limit)
    )
    return list((await connection.execute(_by_received(statement))).mappings())


async def events_by_ids(connection: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
    """These events, in (received, id) order."""
    found: list[RowMapping] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        found.extend((await connection.execute(sa.select(E).where(E.c.id.in_(chunk)))).mappings())
    return sorted(found, key=lambda row: (row["received"], row["id"]))


async def existing_edges(
    connection: AsyncConnection, pairs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    wanted = set(pairs)
    upstream = sorted({u for u, _ in wanted})
    found: set[tuple[str, str]] = set()
    for start in range(0, len(upstream), _CHUNK):
        chunk = upstream[start : start + _CHUNK]
        statement = sa.select(G.c.upstream_key, G.c.downstream_key).where(
            G.c.upstream_key.in_(chunk)
        )
        found.update((row[0], row[1]) for row in await connection.execute(statement))
    return found & wanted


async def projected_ids(connection: AsyncConnection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these event ids are recorded as a materialization or a check result."""
    found: set[uuid.UUID] = set()
    for table in (M, C):
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            found.update(
                (
                    await connection.execute(sa.select(table.c.id).where(table.c.id.in_(chunk)))
                ).scalars()
            )
    return found


# --- writes of the projection -------------------------------------------------------------
async def assets_by_key(
    connection: AsyncConnection, keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        for row in (await connection.execute(sa.select(A).where(A.c.key.in_(chunk)))).mappings():
            found[row["key"]] = dict(row)
    return found


async def insert_assets(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        await connection.execute(
            insert_ignoring_conflicts(connection, A), list(rows[start : start + _CHUNK])
        )


async def update_assets(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Set the projected columns of existing assets (`key` names each)."""
    if not rows:
        return
    columns = [*PROJECTED_COLUMNS, "updated"]
    statement = (
        sa.update(A)
        .where(A.c.key == sa.bindparam("b_key"))
        .values({name: sa.bindparam(f"b_{name}") for name in columns})
    )
    params = [{f"b_{name}": row[name] for name in ["key", *columns]} for row in rows]
    await connection.execute(statement, params)


async def insert_ignoring(
    connection: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert `rows` into a table of the catalogue; a row whose key exists is skipped."""
    for start in range(0, len(rows), _CHUNK):
        chunk = list(rows[start : start + _CHUNK])
        await connection.execute(insert_ignoring_conflicts(connection, table), chunk)


async def insert_materializations(
    connection: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> None:
    await insert_ignoring(connection, M, rows)


async def insert_checks(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(connection, C, rows)


async def insert_edges(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await insert_ignoring(connection, G, rows)


# --- reads --------------------------------------------------------------------------------
def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(search: str | None) -> list[sa.ColumnElement[bool]]:
    if not search:
        return []
    pattern = f"%{_escape(search)}%"
    return [sa.or_(A.c.key.ilike(pattern, escape="\\"), A.c.name.ilike(pattern, escape="\\"))]


async def search(
    connection: AsyncConnection, text: str | None, limit: int, offset: int
) -> list[RowMapping]:
    statement = sa.select(A).where(*_search(text)).order_by(A.c.key).limit(limit).offset(offset)
    return list((await connection.execute(statement)).mappings())


async def count(connection: AsyncConnection, text: str | None) -> int:
    statement = sa.select(sa.func.count()).select_from(A).where(*_search(text))
    return int((await connection.execute(statement)).scalar_one())


async def get(connection: AsyncConnection, key: str) -> RowMapping | None:
    return (await connection.execute(sa.select(A).where(A.c.key == key))).mappings().first()


async def neighbours(connection: AsyncConnection, key: str) -> tuple[list[str], list[str]]:
    """(upstream keys, downstream keys) of `key`, sorted."""
    up = sa.select(G.c.upstream_key).where(G.c.downstream_key == key).order_by(G.c.upstream_key)
    down = sa.select(G.c.downstream_key).where(G.c.upstream_key == key).order_by(G.c.downstream_key)
    return (
        list((await connection.execute(up)).scalars()),
        list((await connection.execute(down)).scalars()),
    )


async def materializations(
    connection: AsyncConnection, key: str, limit: int, offset: int
) -> list[RowMapping]:
    statement = (
        sa.select(M)
        .where(M.c.key == key)
        .order_by(M.c.occurred.desc(), M.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await connection.execute(statement)).mappings())


async def check_results(
    connection: AsyncConnection, key: str, limit: int, offset: int
) -> list[RowMapping]:
    statement = (
        sa.select(C)
        .where(C.c.key == key)
        .order_by(C.c.occurred.desc(), C.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await connection.execute(statement)).mappings())


async def lineage(
    connection: AsyncConnection, limit: int
) -> tuple[list[RowMapping], list[tuple[str, str]]]:
    """Up to `limit` assets (by key) and the edges between them."""
    nodes = list((await connection.execute(sa.select(A).order_by(A.c.key).limit(limit))).mappings())
    keys = {row["key"] for row in nodes}
    statement = sa.select(G.c.upstream_key, G.c.downstream_key).order_by(
        G.c.upstream_key, G.c.downstream_key
    )
    edges = [
        (row[0], row[1])
        for row in await connection.execute(statement)
        if row[0] in keys and row[1] in keys
    ]
    return nodes, edges


async def flow_run_deployment(
    connection: AsyncConnection, flow_run_id: uuid.UUID
) -> uuid.UUID | None:
    statement = sa.select(t.flow_run.c.deployment_id).where(t.flow_run.c.id == flow_run_id)
    found: uuid.UUID | None = (await connection.execute(statement)).scalar_one_or_none()
    return found


async def deployment_exists(connection: AsyncConnection, deployment_id: uuid.UUID) -> bool:
    statement = sa.select(t.deployment.c.id).where(t.deployment.c.id == deployment_id)
    return (await connection.execute(statement)).first() is not None


async def latest_deployment(connection: AsyncConnection, key: str) -> uuid.UUID | None:
    """The deployment of the latest materialization of `key` that names one."""
    statement = (
        sa.select(M.c.deployment_id)
        .where(M.c.key == key, M.c.deployment_id.is_not(None))
        .order_by(M.c.occurred.desc())
        .limit(1)
    )
    found: uuid.UUID | None = (await connection.execute(statement)).scalar_one_or_none()
    return found


async def deletions(connection: AsyncConnection, keys: Sequence[str]) -> dict[str, dt.datetime]:
    """When each of these assets was deleted (those ever deleted)."""
    found: dict[str, dt.datetime] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        statement = sa.select(D.c.key, D.c.deleted).where(D.c.key.in_(chunk))
        found.update((row[0], row[1]) for row in await connection.execute(statement))
    return found


async def delete(connection: AsyncConnection, key: str, now: dt.datetime) -> bool:
    """Delete the asset with its materializations, check results and edges, and note
    when (its events received until then are not applied again)."""
    result = await connection.execute(sa.delete(A).where(A.c.key == key))
    if not result.rowcount:
        return False
    await connection.execute(sa.delete(D).where(D.c.key == key))
    await connection.execute(sa.insert(D).values(key=key, deleted=now))
    await connection.execute(sa.delete(M).where(M.c.key == key))
    await connection.execute(sa.delete(C).where(C.c.key == key))
    await connection.execute(
        sa.delete(G).where(sa.or_(G.c.upstream_key == key, G.c.downstream_key == key))
    )
    return bool(result.rowcount)


# --- freshness ----------------------------------------------------------------------------
async def due_for_freshness(connection: AsyncConnection, limit: int) -> list[RowMapping]:
    """Assets with a freshness policy, least recently evaluated first, locked (skipping
    those another replica holds)."""
    statement = (
        sa.select(A.c.key, A.c.freshness, A.c.freshness_status, A.c.last_succeeded, A.c.name)
        .where(A.c.freshness.is_not(None))
        .order_by(A.c.freshness_evaluated.is_not(None), A.c.freshness_evaluated, A.c.key)
        .limit(limit)
    )
    return list((await connection.execute(locked_skipping(connection, statement))).mappings())


async def change_freshness(
    connection: AsyncConnection, key: str, previous: str | None, status: str | None
) -> bool:
    """Set the status if it is still `previous`; False if another pass changed it."""
    statement = (
        sa.update(A)
        .where(A.c.key == key, A.c.freshness_status.is_not_distinct_from(previous))
        .values(freshness_status=status)
    )
    return bool((await connection.execute(statement)).rowcount)


async def mark_evaluated(
    connection: AsyncConnection, keys: Iterable[str], now: dt.datetime
) -> None:
    wanted = list(keys)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        await connection.execute(
            sa.update(A).where(A.c.key.in_(chunk)).values(freshness_evaluated=now)
        )

"""Queries on events (`event`, and `event_resource`, the index of related resources).

Filters are built to use the indexes: time on `event.occurred`, a name prefix on
`(event, occurred)`, a resource id (or id prefix: a range, since ids sort bytewise) on
`(resource_id, occurred)`, a related resource through `event_resource`'s primary key.
Labels and text are matched in the JSON columns (`->>` on PostgreSQL, `json_extract`
on SQLite) after those narrow the rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas import event_filters as f
from vibepiper.schemas.events import ID_LABEL, ROLE_LABEL, Event
from vibepiper.server.metrics import count_events
from vibepiper.server.repositories._dialect import ignoring_conflicts, insert_ignoring_conflicts

E = t.event
R = t.event_resource
S = t.event_subject
_CHUNK = 2000


def rows_of(event: Event, received: dt.datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `event` row and the `event_resource` rows of one event."""
    related = [dict(item.root) for item in event.related]
    row = {
        "id": event.id,
        "occurred": event.occurred,
        "event": event.event,
        "resource_id": event.resource.id,
        "resource": dict(event.resource.root),
        "related": related,
        "payload": event.payload,
        "received": received,
        "follows": event.follows,
    }
    index = [
        {
            "resource_id": labels[ID_LABEL],
            "occurred": event.occurred,
            "event_id": event.id,
            "role": labels[ROLE_LABEL],
        }
        for labels in related
    ]
    return row, index


async def insert(
    connection: AsyncConnection, rows: Sequence[dict[str, Any]], index: Sequence[dict[str, Any]]
) -> None:
    """Insert events (one whose id is stored already is skipped) and their index rows."""
    count_events(rows)
    for start in range(0, len(rows), _CHUNK):
        chunk = list(rows[start : start + _CHUNK])
        await connection.execute(insert_ignoring_conflicts(connection, E), chunk)
    for start in range(0, len(index), _CHUNK):
        chunk = list(index[start : start + _CHUNK])
        await connection.execute(insert_ignoring_conflicts(connection, R), chunk)


_JSON_TEXT = ("resource", "related", "payload")


async def insert_prepared(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """`insert`, for rows whose `resource`, `related` and `payload` are JSON text already
    (the run state events, built as text once for both stores): bound as text, not
    parsed and serialized again."""
    if not rows:
        return
    count_events(rows)
    statement = _insert_prepared(connection.dialect.name)
    for start in range(0, len(rows), _CHUNK):
        await connection.execute(statement, list(rows[start : start + _CHUNK]))


@functools.cache
def _insert_prepared(dialect: str) -> sa.Insert:
    values: dict[str, Any] = {}
    for name in _JSON_TEXT:
        text = sa.bindparam(name, type_=sa.Text())
        values[name] = sa.cast(text, postgresql.JSONB) if dialect == "postgresql" else text
    return ignoring_conflicts(dialect, E).values(values)


async def insert_subjects(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Index related resources shared by every event of a subject (a run's state
    events); a pair indexed already keeps its first time."""
    for start in range(0, len(rows), _CHUNK):
        chunk = list(rows[start : start + _CHUNK])
        await connection.execute(insert_ignoring_conflicts(connection, S), chunk)


# --- filters ------------------------------------------------------------------------------
def _prefix_range(column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    """`column` starts with `prefix`, as a range the column's index can serve."""
    if not prefix:
        return sa.true()
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return sa.and_(column >= prefix, column < upper)


def _label(
    connection: AsyncConnection, column: sa.ColumnElement[Any], key: str
) -> sa.ColumnElement[Any]:
    if connection.dialect.name == "postgresql":
        return column.op("->>", return_type=sa.Text())(key)
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return sa.func.json_extract(column, f'$."{escaped}"', type_=sa.Text())


def _matches(value: sa.ColumnElement[Any], wanted: str) -> sa.ColumnElement[bool]:
    """Prefect's label match: `!` negates, a trailing `*` makes a prefix."""
    negate = wanted.startswith("!")
    if negate:
        wanted = wanted[1:]
    if wanted.endswith("*"):
        condition = value.startswith(wanted[:-1], autoescape=True)
    else:
        condition = value == wanted
    if negate:
        return sa.and_(value.is_not(None), sa.not_(condition))
    return condition


def _labels_match(
    connection: AsyncConnection, column: sa.ColumnElement[Any], labels: f.LabelSpec
) -> sa.ColumnElement[bool]:
    conditions = []
    for key, wanted in labels.items():
        value = _label(connection, column, key)
        items = [wanted] if isinstance(wanted, str) else wanted
        conditions.append(sa.or_(*(_matches(value, item) for item in items)))
    return sa.and_(*conditions)


def _related_labels(connection: AsyncConnection, labels: f.LabelSpec) -> sa.ColumnElement[bool]:
    """Some related resource of the event has all `labels`."""
    if connection.dialect.name == "postgresql":
        elements = sa.func.jsonb_array_elements(E.c.related).table_valued("value").alias("r")
    else:
        elements = sa.func.json_each(E.c.related).table_valued("value").alias("r")
    value = elements.c.value
    return sa.exists(sa.select(sa.literal(1)).select_from(elements)).where(
        _labels_match(connection, value, labels)
    )


def _related_ids(
    occurred: f.EventOccurredFilter,
    *,
    ids: Sequence[str] | None = None,
    prefixes: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
) -> sa.ColumnElement[bool]:
    """The event names a related resource with one of `ids` (or id `prefixes`), in one
    of `roles`; through `event_resource`, within the filter's time range."""
    query = sa.select(R.c.event_id).where(
        R.c.occurred >= occurred.since, R.c.occurred <= occurred.until
    )
    # a run's state events: related to what their subject (the run) is related to
    subjects = sa.select(S.c.subject_id)
    if ids is not None:
        query = query.where(R.c.resource_id.in_(list(ids)))
        subjects = subjects.where(S.c.resource_id.in_(list(ids)))
    if prefixes is not None:
        query = query.where(sa.or_(*(_prefix_range(R.c.resource_id, p) for p in prefixes)))
        subjects = subjects.where(sa.or_(*(_prefix_range(S.c.resource_id, p) for p in prefixes)))
    if roles is not None:
        query = query.where(R.c.role.in_(list(roles)))
        subjects = subjects.where(S.c.role.in_(list(roles)))
    return sa.or_(E.c.id.in_(query), E.c.resource_id.in_(subjects))


def conditions(connection: AsyncConnection, spec: f.EventFilter) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions of `spec`."""
    when = spec.occurred
    found: list[sa.ColumnElement[bool]] = [E.c.occurred >= when.since, E.c.occurred <= when.until]
    if (name := spec.event) is not None:
        if name.prefix is not None:
            found.append(sa.or_(*(_prefix_range(E.c.event, p) for p in name.prefix)))
        if name.exclude_prefix:
            found.extend(sa.not_(_prefix_range(E.c.event, p)) for p in name.exclude_prefix)
        if name.name is not None:
            found.append(E.c.event.in_(name.name))
        if name.exclude_name:
            found.append(E.c.event.not_in(name.exclude_name))
    if (resource := spec.resource) is not None:
        if resource.id is not None:
            found.append(E.c.resource_id.in_(resource.id))
        if resource.id_prefix is not None:
            found.append(sa.or_(*(_prefix_range(E.c.resource_id, p) for p in resource.id_prefix)))
        if resource.labels:
            found.append(_labels_match(connection, E.c.resource, resource.labels))
    if (related := spec.related) is not None:
        if related.id is not None or related.role is not None:
            found.append(_related_ids(when, ids=related.id, roles=related.role))
        for resource_id, role in related.resources_in_roles or ():
            found.append(_related_ids(when, ids=[resource_id], roles=[role]))
        if related.labels:
            found.append(_related_labels(connection, related.labels))
    if (anything := spec.any_resource) is not None:
        if anything.id is not None:
            found.append(
                sa.or_(E.c.resource_id.in_(anything.id), _related_ids(when, ids=anything.id))
            )
        if anything.id_prefix is not None:
            own = sa.or_(*(_prefix_range(E.c.resource_id, p) for p in anything.id_prefix))
            found.append(sa.or_(own, _related_ids(when, prefixes=anything.id_prefix)))
        if anything.labels:
            found.append(
                sa.or_(
                    _labels_match(connection, E.c.resource, anything.labels),
                    _related_labels(connection, anything.labels),
                )
            )
    if spec.id.id is not None:
        found.append(E.c.id.in_(spec.id.id))
    if spec.text is not None:
        found.extend(_text(spec.text.query))
    return found


def _text(query: str) -> list[sa.ColumnElement[bool]]:
    """Each word must appear (case-insensitively) in the name, labels or payload; a
    `-word` must not."""
    haystack: sa.ColumnElement[Any] = sa.func.coalesce(E.c.event, "")
    for column in (E.c.resource, E.c.related, E.c.payload):
        haystack = haystack + " " + sa.cast(column, sa.Text)
    found = []
    for word in query.split():
        negate = word.startswith("-") and len(word) > 1
        term = word[1:] if negate else word
        condition = haystack.icontains(term, autoescape=True)
        found.append(sa.not_(condition) if negate else condition)
    return found


def _ordered(query: sa.Select[Any], order: f.EventOrder) -> sa.Select[Any]:
    if order is f.EventOrder.ASC:
        return query.order_by(E.c.occurred.asc(), E.c.id.asc())
    return query.order_by(E.c.occurred.desc(), E.c.id.desc())


async def read(
    connection: AsyncConnection,
    spec: f.EventFilter,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[RowMapping]:
    """Events matching `spec`, in its order, after the (occurred, id) `after`."""
    query = sa.select(E).where(*conditions(connection, spec))
    if spec.resource is not None and spec.resource.distinct:
        latest = (
            sa.select(E.c.resource_id, sa.func.max(E.c.occurred).label("latest"))
            .where(*conditions(connection, spec))
            .group_by(E.c.resource_id)
            .subquery()
        )
        query = query.join(
            latest,
            sa.and_(latest.c.resource_id == E.c.resource_id, latest.c.latest == E.c.occurred),
        )
    if after is not None:
        occurred, event_id = after
        if spec.order is f.EventOrder.ASC:
            query = query.where(
                sa.or_(
                    E.c.occurred > occurred, sa.and_(E.c.occurred == occurred, E.c.id > event_id)
                )
            )
        else:
            query = query.where(
                sa.or_(
                    E.c.occurred < occurred, sa.and_(E.c.occurred == occurred, E.c.id < event_id)
                )
            )
    query = _ordered(query, spec.order).limit(limit)
    return list((await connection.execute(query)).mappings())


async def read_received(
    connection: AsyncConnection,
    spec: f.EventFilter,
    since: dt.datetime,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[RowMapping]:
    """Events matching `spec` the server recorded at or after `since`, in the order it
    recorded them, after the (received, id) `after` (what a live stream follows;
    `ix_event__received` bounds the scan)."""
    query = sa.select(E).where(*conditions(connection, spec), E.c.received >= since)
    if after is not None:
        received, event_id = after
        query = query.where(
            sa.or_(E.c.received > received, sa.and_(E.c.received == received, E.c.id > event_id))
        )
    query = query.order_by(E.c.received.asc(), E.c.id.asc()).limit(limit)
    return list((await connection.execute(query)).mappings())


async def count(
    connection: AsyncConnection, spec: f.EventFilter, at_most: int | None = None
) -> int:
    """How many events match `spec` (counting stops at `at_most`: a page's total must
    not cost a scan of every match of a broad filter)."""
    matching = sa.select(sa.literal(1)).select_from(E).where(*conditions(connection, spec))
    if at_most is not None:
        matching = matching.limit(at_most)
    query = sa.select(sa.func.count()).select_from(matching.subquery())
    return int((await connection.execute(query)).scalar_one())


async def count_by_column(
    connection: AsyncConnection, spec: f.EventFilter, column: str
) -> list[RowMapping]:
    """(value, label, count, start_time, end_time) per event name or resource id."""
    if column == "event":
        value: sa.ColumnElement[Any] = E.c.event
        label: sa.ColumnElement[Any] = sa.func.max(E.c.event)
    else:
        value = E.c.resource_id
        name = _label(connection, E.c.resource, "vibepiper.resource.name")
        label = sa.func.coalesce(sa.func.max(name), E.c.resource_id)
    query = (
        sa.select(
            value.label("value"),
            label.label("label"),
            sa.func.count().label("count"),
            sa.func.min(E.c.occurred).label("start_time"),
            sa.func.max(E.c.occurred).label("end_time"),
        )
        .where(*conditions(connection, spec))
        .group_by(value)
        .order_by(value)
    )
    return list((await connection.execute(query)).mappings())


async def count_by_time(
    connection: AsyncConnection, spec: f.EventFilter, start: dt.datetime, span: float
) -> dict[int, int]:
    """Events per bucket of `span` seconds from `start`: {bucket index: count}."""
    seconds: sa.ColumnElement[Any]
    if connection.dialect.name == "postgresql":
        seconds = sa.func.extract("epoch", E.c.occurred - start)
    else:
        start_text = start.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        seconds = (
            sa.func.julianday(sa.func.substr(E.c.occurred, 1, 23)) - sa.func.julianday(start_text)
        ) * 86400.0
    bucket = (
        sa.func.floor(seconds / span)
        if connection.dialect.name == "postgresql"
        else (sa.cast(seconds / span, sa.Integer))
    )
    query = (
        sa.select(bucket.label("bucket"), sa.func.count().label("count"))
        .where(*conditions(connection, spec))
        .group_by(bucket)
    )
    rows = (await connection.execute(query)).mappings()
    return {int(row["bucket"]): int(row["count"]) for row in rows}


# --- retention ----------------------------------------------------------------------------
async def delete_old(
    connection: AsyncConnection,
    cutoff: dt.datetime,
    limit: int,
    *,
    name: str | None = None,
    except_names: Sequence[str] = (),
) -> int:
    """Delete at most about `limit` events that occurred before `cutoff` (of one `name`,
    or of any name but `except_names`), oldest first; returns how many went.

    The oldest `limit` are found by walking the time index (or the name's index) to a
    boundary time, then everything before it is deleted in one range."""
    scope = [E.c.occurred < cutoff]
    if name is not None:
        scope.append(E.c.event == name)
    if except_names:
        scope.append(E.c.event.not_in(list(except_names)))
    boundary = await _boundary(connection, E.c.occurred, scope, limit)
    if boundary is None:
        return 0
    end, last = boundary
    statement = sa.delete(E).where(*scope, E.c.occurred <= end if last else E.c.occurred < end)
    result = await connection.execute(statement)
    return int(result.rowcount or 0)


async def delete_old_related(connection: AsyncConnection, cutoff: dt.datetime, limit: int) -> int:
    """Delete at most about `limit` `event_resource` rows older than `cutoff` (through
    the time index on PostgreSQL; SQLite, which has none, takes the first `limit` found)."""
    scope = [R.c.occurred < cutoff]
    if connection.dialect.name != "postgresql":
        key = sa.tuple_(R.c.resource_id, R.c.occurred, R.c.event_id, R.c.role)
        found = sa.select(R.c.resource_id, R.c.occurred, R.c.event_id, R.c.role)
        statement = sa.delete(R).where(key.in_(found.where(*scope).limit(limit)))
        return int((await connection.execute(statement)).rowcount or 0)
    boundary = await _boundary(connection, R.c.occurred, scope, limit)
    if boundary is None:
        return 0
    end, last = boundary
    statement = sa.delete(R).where(*scope, R.c.occurred <= end if last else R.c.occurred < end)
    return int((await connection.execute(statement)).rowcount or 0)


async def delete_old_subjects(connection: AsyncConnection, cutoff: dt.datetime, limit: int) -> int:
    """Delete at most `limit` `event_subject` rows first seen before `cutoff` whose
    subject has no event left."""
    orphan = sa.and_(
        S.c.first_occurred < cutoff,
        ~sa.exists(sa.select(sa.literal(1)).where(E.c.resource_id == S.c.subject_id)),
    )
    key = sa.tuple_(S.c.resource_id, S.c.role, S.c.subject_id)
    found = sa.select(S.c.resource_id, S.c.role, S.c.subject_id).where(orphan).limit(limit)
    statement = sa.delete(S).where(key.in_(found))
    return int((await connection.execute(statement)).rowcount or 0)


async def _boundary(
    connection: AsyncConnection,
    column: sa.ColumnElement[dt.datetime],
    scope: list[sa.ColumnElement[bool]],
    limit: int,
) -> tuple[dt.datetime, bool] | None:
    """The time of the `limit`-th oldest row in `scope` (delete before it), or, when
    fewer are due, the newest due one's (delete up to and including it)."""
    nth = sa.select(column).where(*scope).order_by(column).offset(limit).limit(1)
    found = (await connection.execute(nth)).scalar_one_or_none()
    if found is not None:
        oldest = sa.select(column).where(*scope).order_by(column).limit(1)
        first = (await connection.execute(oldest)).scalar_one()
        # a boundary equal to the oldest would delete nothing: take its instant whole
        return (found, found == first)
    newest = sa.select(sa.func.max(column)).where(*scope)
    last = (await connection.execute(newest)).scalar_one_or_none()
    return None if last is None else (last, True)

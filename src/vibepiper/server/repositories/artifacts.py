"""Queries on artifacts: insert (once per id), read, filter, the latest version of each
key, a key's versions, update and delete."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas.artifacts import ArtifactFilter, ArtifactSort
from vibepiper.server.repositories._dialect import insert_ignoring_conflicts

_a = t.artifact.c

_ORDER = {
    ArtifactSort.CREATED_DESC: (_a.created.desc(), _a.id.desc()),
    ArtifactSort.CREATED_ASC: (_a.created.asc(), _a.id.asc()),
    ArtifactSort.UPDATED_DESC: (_a.updated.desc(), _a.id.desc()),
    ArtifactSort.ID_DESC: (_a.id.desc(),),
    ArtifactSort.KEY_DESC: (_a.key.desc(), _a.id.desc()),
    ArtifactSort.KEY_ASC: (_a.key.asc(), _a.id.asc()),
}


async def insert(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (an id recorded already is left as it is: a re-sent batch)."""
    if rows:
        await connection.execute(insert_ignoring_conflicts(connection, t.artifact), rows)


async def get(connection: AsyncConnection, artifact_id: uuid.UUID) -> RowMapping | None:
    statement = sa.select(t.artifact).where(_a.id == artifact_id)
    return (await connection.execute(statement)).mappings().first()


def conditions(spec: ArtifactFilter | None) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses of an `ArtifactFilter`."""
    found: list[sa.ColumnElement[bool]] = []
    if spec is None:
        return found
    if spec.id is not None and spec.id.any_ is not None:
        found.append(_a.id.in_(spec.id.any_))
    if spec.key is not None:
        if spec.key.any_ is not None:
            found.append(_a.key.in_(spec.key.any_))
        if spec.key.like_:
            found.append(_a.key.ilike(f"%{_escape(spec.key.like_)}%", escape="\\"))
        if spec.key.exists_ is not None:
            found.append(_a.key.is_not(None) if spec.key.exists_ else _a.key.is_(None))
    if spec.type is not None:
        if spec.type.any_ is not None:
            found.append(_a.type.in_(spec.type.any_))
        if spec.type.not_any_:
            found.append(sa.or_(_a.type.is_(None), _a.type.not_in(spec.type.not_any_)))
    if spec.flow_run_id is not None and spec.flow_run_id.any_ is not None:
        found.append(_a.flow_run_id.in_(spec.flow_run_id.any_))
    if spec.task_run_id is not None and spec.task_run_id.any_ is not None:
        found.append(_a.task_run_id.in_(spec.task_run_id.any_))
    return found


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(
    connection: AsyncConnection,
    where: Sequence[sa.ColumnElement[bool]],
    sort: ArtifactSort,
    limit: int,
    offset: int,
) -> list[RowMapping]:
    statement = (
        sa.select(t.artifact).where(*where).order_by(*_ORDER[sort]).limit(limit).offset(offset)
    )
    return list((await connection.execute(statement)).mappings())


async def count(connection: AsyncConnection, where: Sequence[sa.ColumnElement[bool]]) -> int:
    statement = sa.select(sa.func.count()).select_from(t.artifact).where(*where)
    return int((await connection.execute(statement)).scalar_one())


def _latest_ids(where: Sequence[sa.ColumnElement[bool]]) -> sa.Select[Any]:
    """The id of the latest version of each key (among the artifacts `where` keeps)."""
    ranked = (
        sa.select(
            _a.id,
            sa.func.row_number()
            .over(partition_by=_a.key, order_by=(_a.created.desc(), _a.id.desc()))
            .label("rank"),
        )
        .where(_a.key.is_not(None), *where)
        .subquery()
    )
    return sa.select(ranked.c.id).where(ranked.c.rank == 1)


async def search_latest(
    connection: AsyncConnection,
    where: Sequence[sa.ColumnElement[bool]],
    sort: ArtifactSort,
    limit: int,
    offset: int,
) -> list[RowMapping]:
    """The latest version of each key, in `sort` order."""
    return await search(connection, [_a.id.in_(_latest_ids(where))], sort, limit, offset)


async def count_latest(connection: AsyncConnection, where: Sequence[sa.ColumnElement[bool]]) -> int:
    statement = sa.select(sa.func.count(sa.distinct(_a.key))).where(_a.key.is_not(None), *where)
    return int((await connection.execute(statement)).scalar_one())


async def versions(connection: AsyncConnection, key: str, limit: int) -> list[RowMapping]:
    """The versions of `key`, newest first."""
    statement = (
        sa.select(t.artifact)
        .where(_a.key == key)
        .order_by(_a.created.desc(), _a.id.desc())
        .limit(limit)
    )
    return list((await connection.execute(statement)).mappings())


async def update(
    connection: AsyncConnection, artifact_id: uuid.UUID, values: dict[str, Any]
) -> bool:
    """Change the artifact; False if it does not exist."""
    values = {**values, "updated": dt.datetime.now(dt.UTC)}
    result = await connection.execute(
        sa.update(t.artifact).where(_a.id == artifact_id).values(**values)
    )
    return bool(result.rowcount)


async def delete(connection: AsyncConnection, artifact_id: uuid.UUID) -> bool:
    result = await connection.execute(sa.delete(t.artifact).where(_a.id == artifact_id))
    return bool(result.rowcount)


async def delete_key(connection: AsyncConnection, key: str) -> int:
    """Delete every version of `key`; how many there were."""
    result = await connection.execute(sa.delete(t.artifact).where(_a.key == key))
    return int(result.rowcount)


def of_flow_runs(run_ids: sa.Select[Any] | Sequence[uuid.UUID]) -> sa.Delete:
    """The DELETE of the artifacts of these flow runs (their task runs' included)."""
    return sa.delete(t.artifact).where(_a.flow_run_id.in_(run_ids))

"""Queries on block types, block schemas, block documents and their references.

Rows come back as they are stored: a document's `data` is the encrypted token, which
`services.blocks` decrypts. Filters are Prefect's nested ones (`schemas.blocks`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas import blocks as wire
from vibepiper.server.repositories._dialect import json_array_has_all

_type = t.block_type.c
_schema = t.block_schema.c
_doc = t.block_document.c
_ref = t.block_document_reference.c


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _like(column: sa.ColumnElement[Any], text: str) -> sa.ColumnElement[bool]:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


# --- block types ----------------------------------------------------------------------
async def get_type(connection: AsyncConnection, type_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.block_type).where(_type.id == type_id))
    return result.mappings().first()


async def get_type_by_slug(connection: AsyncConnection, slug: str) -> RowMapping | None:
    result = await connection.execute(sa.select(t.block_type).where(_type.slug == slug))
    return result.mappings().first()


async def get_types(
    connection: AsyncConnection, type_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RowMapping]:
    if not type_ids:
        return {}
    statement = sa.select(t.block_type).where(_type.id.in_(set(type_ids)))
    return {row["id"]: row for row in (await connection.execute(statement)).mappings()}


async def insert_type(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    type_id = uuid.uuid4()
    now = _now()
    row = {"id": type_id, "created": now, "updated": now, "is_protected": False, **values}
    await connection.execute(sa.insert(t.block_type).values(**row))
    return type_id


async def update_type(
    connection: AsyncConnection, type_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.block_type).where(_type.id == type_id)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete_type(connection: AsyncConnection, type_id: uuid.UUID) -> None:
    """Delete the type with its schemas, documents and their references (SQLite does
    not cascade)."""
    documents = sa.select(_doc.id).where(_doc.block_type_id == type_id)
    await connection.execute(
        sa.delete(t.block_document_reference).where(
            sa.or_(
                _ref.parent_block_document_id.in_(documents),
                _ref.reference_block_document_id.in_(documents),
            )
        )
    )
    await connection.execute(sa.delete(t.block_document).where(_doc.block_type_id == type_id))
    await connection.execute(sa.delete(t.block_schema).where(_schema.block_type_id == type_id))
    await connection.execute(sa.delete(t.block_type).where(_type.id == type_id))


def type_conditions(
    connection: AsyncConnection, where: wire.BlockTypeFilter | None
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if where is None:
        return conditions
    if where.name is not None:
        if where.name.any_ is not None:
            conditions.append(_type.name.in_(where.name.any_))
        if where.name.like_:
            conditions.append(_like(_type.name, where.name.like_))
    if where.slug is not None and where.slug.any_ is not None:
        conditions.append(_type.slug.in_(where.slug.any_))
    return conditions


async def list_types(connection: AsyncConnection, query: wire.BlockTypeQuery) -> list[RowMapping]:
    statement = sa.select(t.block_type).where(*type_conditions(connection, query.block_types))
    if query.block_schemas is not None:
        schemas = sa.select(_schema.block_type_id).where(
            *schema_conditions(connection, query.block_schemas)
        )
        statement = statement.where(_type.id.in_(schemas))
    statement = statement.order_by(_type.name, _type.id).limit(query.limit).offset(query.offset)
    return list((await connection.execute(statement)).mappings())


# --- block schemas --------------------------------------------------------------------
def schema_conditions(
    connection: AsyncConnection, where: wire.BlockSchemaFilter | None
) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if where is None:
        return conditions
    if where.id is not None and where.id.any_ is not None:
        conditions.append(_schema.id.in_(where.id.any_))
    if where.block_type_id is not None and where.block_type_id.any_ is not None:
        conditions.append(_schema.block_type_id.in_(where.block_type_id.any_))
    if where.version is not None and where.version.any_ is not None:
        conditions.append(_schema.version.in_(where.version.any_))
    if where.block_capabilities is not None and where.block_capabilities.all_:
        conditions.append(
            json_array_has_all(connection, _schema.capabilities, where.block_capabilities.all_)
        )
    return conditions


async def get_schema(connection: AsyncConnection, schema_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.block_schema).where(_schema.id == schema_id))
    return result.mappings().first()


async def get_schemas(
    connection: AsyncConnection, schema_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RowMapping]:
    if not schema_ids:
        return {}
    statement = sa.select(t.block_schema).where(_schema.id.in_(set(schema_ids)))
    return {row["id"]: row for row in (await connection.execute(statement)).mappings()}


async def get_schemas_with_types(
    connection: AsyncConnection, schema_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, Mapping[Any, Any]], dict[uuid.UUID, Mapping[Any, Any]]]:
    """The schemas `schema_ids` and the types they belong to, in one query."""
    if not schema_ids:
        return {}, {}
    columns = [c.label(f"s_{c.name}") for c in t.block_schema.c]
    columns += [c.label(f"t_{c.name}") for c in t.block_type.c]
    statement = (
        sa.select(*columns)
        .select_from(t.block_schema.join(t.block_type, _type.id == _schema.block_type_id))
        .where(_schema.id.in_(set(schema_ids)))
    )
    schemas: dict[uuid.UUID, Mapping[Any, Any]] = {}
    types: dict[uuid.UUID, Mapping[Any, Any]] = {}
    for row in (await connection.execute(statement)).mappings():
        schema = {c.name: row[f"s_{c.name}"] for c in t.block_schema.c}
        schemas[schema["id"]] = schema
        block_type = {c.name: row[f"t_{c.name}"] for c in t.block_type.c}
        types[block_type["id"]] = block_type
    return schemas, types


async def get_schema_by_checksum(
    connection: AsyncConnection, checksum: str, version: str | None
) -> RowMapping | None:
    """The schema with `checksum` (and `version`; without one, the newest)."""
    statement = sa.select(t.block_schema).where(_schema.checksum == checksum)
    if version is not None:
        statement = statement.where(_schema.version == version)
    statement = statement.order_by(_schema.created.desc(), _schema.id.desc()).limit(1)
    return (await connection.execute(statement)).mappings().first()


async def insert_schema(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    schema_id = uuid.uuid4()
    now = _now()
    row = {"id": schema_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.block_schema).values(**row))
    return schema_id


async def list_schemas(
    connection: AsyncConnection, query: wire.BlockSchemaQuery
) -> list[RowMapping]:
    statement = (
        sa.select(t.block_schema)
        .where(*schema_conditions(connection, query.block_schemas))
        .order_by(_schema.created.desc(), _schema.id)
        .limit(query.limit)
        .offset(query.offset)
    )
    return list((await connection.execute(statement)).mappings())


async def schema_in_use(connection: AsyncConnection, schema_id: uuid.UUID) -> int:
    statement = sa.select(sa.func.count()).where(_doc.block_schema_id == schema_id)
    return int((await connection.execute(statement)).scalar_one())


async def delete_schema(connection: AsyncConnection, schema_id: uuid.UUID) -> None:
    await connection.execute(sa.delete(t.block_schema).where(_schema.id == schema_id))


async def capabilities(connection: AsyncConnection) -> list[str]:
    """Every capability any schema declares, sorted."""
    found: set[str] = set()
    for (values,) in await connection.execute(sa.select(_schema.capabilities)):
        found.update(value for value in values or [] if isinstance(value, str))
    return sorted(found)


# --- block documents ------------------------------------------------------------------
def document_conditions(
    connection: AsyncConnection,
    documents: wire.BlockDocumentFilter | None,
    types: wire.BlockTypeFilter | None,
    schemas: wire.BlockSchemaFilter | None,
) -> list[sa.ColumnElement[bool]]:
    where = documents if documents is not None else wire.BlockDocumentFilter()
    conditions: list[sa.ColumnElement[bool]] = []
    if where.id is not None and where.id.any_ is not None:
        conditions.append(_doc.id.in_(where.id.any_))
    if where.name is not None:
        if where.name.any_ is not None:
            conditions.append(_doc.name.in_(where.name.any_))
        if where.name.like_:
            conditions.append(_like(_doc.name, where.name.like_))
    if where.block_type_id is not None and where.block_type_id.any_ is not None:
        conditions.append(_doc.block_type_id.in_(where.block_type_id.any_))
    if where.is_anonymous is not None and where.is_anonymous.eq_ is not None:
        conditions.append(_doc.is_anonymous.is_(where.is_anonymous.eq_))
    if types is not None:
        matching = sa.select(_type.id).where(*type_conditions(connection, types))
        conditions.append(_doc.block_type_id.in_(matching))
    if schemas is not None:
        matching = sa.select(_schema.id).where(*schema_conditions(connection, schemas))
        conditions.append(_doc.block_schema_id.in_(matching))
    return conditions


async def list_documents(
    connection: AsyncConnection, query: wire.BlockDocumentQuery
) -> list[RowMapping]:
    conditions = document_conditions(
        connection, query.block_documents, query.block_types, query.block_schemas
    )
    orders: dict[wire.BlockDocumentSort, list[sa.ColumnElement[Any]]] = {
        wire.BlockDocumentSort.NAME_ASC: [_doc.name.asc()],
        wire.BlockDocumentSort.NAME_DESC: [_doc.name.desc()],
        wire.BlockDocumentSort.BLOCK_TYPE_AND_NAME_ASC: [_doc.block_type_name, _doc.name],
    }
    order = orders[query.sort]
    statement = (
        sa.select(t.block_document)
        .where(*conditions)
        .order_by(*order, _doc.id)
        .limit(query.limit)
        .offset(query.offset)
    )
    return list((await connection.execute(statement)).mappings())


async def count_documents(connection: AsyncConnection, query: wire.BlockDocumentCount) -> int:
    conditions = document_conditions(
        connection, query.block_documents, query.block_types, query.block_schemas
    )
    statement = sa.select(sa.func.count()).select_from(t.block_document).where(*conditions)
    return int((await connection.execute(statement)).scalar_one())


async def get_document(connection: AsyncConnection, document_id: uuid.UUID) -> RowMapping | None:
    result = await connection.execute(sa.select(t.block_document).where(_doc.id == document_id))
    return result.mappings().first()


async def get_documents(
    connection: AsyncConnection, document_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RowMapping]:
    if not document_ids:
        return {}
    statement = sa.select(t.block_document).where(_doc.id.in_(set(document_ids)))
    return {row["id"]: row for row in (await connection.execute(statement)).mappings()}


async def get_document_by_name(
    connection: AsyncConnection, type_slug: str, name: str
) -> RowMapping | None:
    joined = t.block_document.join(t.block_type, _type.id == _doc.block_type_id)
    statement = (
        sa.select(t.block_document)
        .select_from(joined)
        .where(_type.slug == type_slug, _doc.name == name)
    )
    return (await connection.execute(statement)).mappings().first()


async def get_document_with_references(
    connection: AsyncConnection, where: sa.ColumnElement[bool]
) -> tuple[RowMapping | None, list[dict[str, Any]]]:
    """The document matching `where` (on block_document, or block_type by slug) and the
    references it holds, in one query."""
    joined = t.block_document.join(t.block_type, _type.id == _doc.block_type_id).outerjoin(
        t.block_document_reference, _ref.parent_block_document_id == _doc.id
    )
    statement = (
        sa.select(
            t.block_document,
            _ref.name.label("ref_name"),
            _ref.reference_block_document_id.label("ref_target"),
        )
        .select_from(joined)
        .where(where)
        .order_by(_ref.name)
    )
    rows = list((await connection.execute(statement)).mappings())
    if not rows:
        return None, []
    references = [
        {
            "name": row["ref_name"],
            "parent_block_document_id": row["id"],
            "reference_block_document_id": row["ref_target"],
        }
        for row in rows
        if row["ref_target"] is not None
    ]
    return rows[0], references


async def insert_document(connection: AsyncConnection, values: dict[str, Any]) -> uuid.UUID:
    document_id = uuid.uuid4()
    now = _now()
    row = {"id": document_id, "created": now, "updated": now, **values}
    await connection.execute(sa.insert(t.block_document).values(**row))
    return document_id


async def update_document(
    connection: AsyncConnection, document_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = sa.update(t.block_document).where(_doc.id == document_id)
    await connection.execute(statement.values(updated=_now(), **values))


async def delete_document(connection: AsyncConnection, document_id: uuid.UUID) -> None:
    await connection.execute(
        sa.delete(t.block_document_reference).where(_ref.parent_block_document_id == document_id)
    )
    await connection.execute(sa.delete(t.block_document).where(_doc.id == document_id))


async def documents_under_other_keys(
    connection: AsyncConnection, key_ids: Sequence[str]
) -> str | None:
    """The key fingerprint of a document not under any of `key_ids`, if one exists."""
    statement = sa.select(_doc.key_id).where(_doc.key_id.not_in(list(key_ids))).limit(1)
    found: str | None = (await connection.execute(statement)).scalar_one_or_none()
    return found


async def set_encrypted(
    connection: AsyncConnection, document_id: uuid.UUID, token: str, key: str
) -> None:
    """Store a document's data encrypted anew (its content and `updated` unchanged)."""
    statement = sa.update(t.block_document).where(_doc.id == document_id)
    await connection.execute(statement.values(data=token, key_id=key))


async def all_encrypted(connection: AsyncConnection) -> list[RowMapping]:
    """Every document's id, name, token and key fingerprint (for rotation)."""
    statement = sa.select(_doc.id, _doc.name, _doc.data, _doc.key_id).order_by(_doc.id)
    return list((await connection.execute(statement)).mappings())


# --- references -----------------------------------------------------------------------
async def references_of(
    connection: AsyncConnection, parent_ids: Sequence[uuid.UUID]
) -> list[RowMapping]:
    """The references held by the documents `parent_ids` (field name, referenced id)."""
    if not parent_ids:
        return []
    statement = (
        sa.select(t.block_document_reference)
        .where(_ref.parent_block_document_id.in_(set(parent_ids)))
        .order_by(_ref.name)
    )
    return list((await connection.execute(statement)).mappings())


async def referrers_of(connection: AsyncConnection, document_id: uuid.UUID) -> list[RowMapping]:
    """The documents holding a reference to `document_id` (their id, name and field)."""
    joined = t.block_document_reference.join(
        t.block_document, _doc.id == _ref.parent_block_document_id
    )
    statement = (
        sa.select(_doc.id, _doc.name, _doc.block_type_name, _ref.name.label("field"))
        .select_from(joined)
        .where(_ref.reference_block_document_id == document_id)
        .order_by(_doc.name)
    )
    return list((await connection.execute(statement)).mappings())


async def replace_references(
    connection: AsyncConnection, parent_id: uuid.UUID, references: dict[str, uuid.UUID]
) -> None:
    await connection.execute(
        sa.delete(t.block_document_reference).where(_ref.parent_block_document_id == parent_id)
    )
    now = _now()
    rows = [
        {
            "id": uuid.uuid4(),
            "name": name,
            "parent_block_document_id": parent_id,
            "reference_block_document_id": referenced,
            "created": now,
        }
        for name, referenced in sorted(references.items())
    ]
    if rows:
        await connection.execute(sa.insert(t.block_document_reference), rows)

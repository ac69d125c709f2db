"""Block types, block schemas and block documents: the one implementation of blocks.

Documents are stored encrypted (`server.encryption`) and answered decrypted, with their
secret fields (the `secret_fields` of their schema) masked as `********` unless the
caller asks for secrets (`include_secrets`). A top-level field may hold a reference to
another document (`{"$ref": {"block_document_id": ...}}`): it is stored as a reference
and read back expanded, with `block_document_references` saying which document each
such field holds. An update that sends a secret back masked keeps the stored secret.

Every change also changes the generation token of blocks and variables
(`repositories.variables.bump_generation`) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import blocks as wire
from vibepiper.server.database import Database
from vibepiper.server.encryption import EncryptionKeyError, KeyRing, new_key, write_key_file
from vibepiper.server.repositories import blocks as repo
from vibepiper.server.repositories.variables import bump_generation
from vibepiper.server.services._errors import conflict, invalid
from vibepiper.server.services.webhooks import reencrypt_secrets

REF = "$ref"


# --- reads into wire models -----------------------------------------------------------
def type_read(row: Mapping[Any, Any]) -> wire.BlockTypeRead:
    return wire.BlockTypeRead.model_validate(dict(row))


def schema_read(row: Mapping[Any, Any], type_row: Mapping[Any, Any] | None) -> wire.BlockSchemaRead:
    values = dict(row)
    values["block_type"] = None if type_row is None else type_read(type_row)
    return wire.BlockSchemaRead.model_validate(values)


# --- block types ----------------------------------------------------------------------
async def _type_row(connection: AsyncConnection, type_id: uuid.UUID) -> RowMapping:
    row = await repo.get_type(connection, type_id)
    if row is None:
        raise ObjectNotFound(f"block type {type_id} not found")
    return row


async def create_type(db: Database, body: wire.BlockTypeCreate) -> wire.BlockTypeRead:
    async with db.write() as connection:
        if await repo.get_type_by_slug(connection, body.slug) is not None:
            raise conflict(f"block type {body.slug!r} exists already")
        type_id = await repo.insert_type(connection, body.model_dump())
        await bump_generation(connection)
        return type_read(await _type_row(connection, type_id))


async def read_type(db: Database, type_id: uuid.UUID) -> wire.BlockTypeRead:
    async with db.read() as connection:
        return type_read(await _type_row(connection, type_id))


async def read_type_by_slug(db: Database, slug: str) -> wire.BlockTypeRead:
    async with db.read() as connection:
        row = await repo.get_type_by_slug(connection, slug)
    if row is None:
        raise ObjectNotFound(f"block type {slug!r} not found")
    return type_read(row)


async def list_types(db: Database, query: wire.BlockTypeQuery) -> list[wire.BlockTypeRead]:
    async with db.read() as connection:
        return [type_read(row) for row in await repo.list_types(connection, query)]


async def update_type(db: Database, type_id: uuid.UUID, changes: dict[str, Any]) -> None:
    async with db.write() as connection:
        row = await _type_row(connection, type_id)
        if any(row[name] != value for name, value in changes.items()):
            await repo.update_type(connection, type_id, changes)
            await bump_generation(connection)


async def delete_type(db: Database, type_id: uuid.UUID) -> None:
    """Delete the type, its schemas and its documents."""
    async with db.write() as connection:
        await _type_row(connection, type_id)
        await repo.delete_type(connection, type_id)
        await bump_generation(connection)


# --- block schemas --------------------------------------------------------------------
async def _schema_read(connection: AsyncConnection, row: RowMapping) -> wire.BlockSchemaRead:
    return schema_read(row, await repo.get_type(connection, row["block_type_id"]))


async def create_schema(
    db: Database, body: wire.BlockSchemaCreate
) -> tuple[wire.BlockSchemaRead, bool]:
    """The schema of these fields and version: created (True), or the one that exists."""
    checksum = wire.schema_checksum(body.fields)
    async with db.write() as connection:
        await _type_row(connection, body.block_type_id)
        existing = await repo.get_schema_by_checksum(connection, checksum, body.version)
        if existing is not None:
            return await _schema_read(connection, existing), False
        values = body.model_dump()
        values["checksum"] = checksum
        values["capabilities"] = sorted(set(body.capabilities))
        schema_id = await repo.insert_schema(connection, values)
        await bump_generation(connection)
        row = await repo.get_schema(connection, schema_id)
        assert row is not None
        return await _schema_read(connection, row), True


async def read_schema(db: Database, schema_id: uuid.UUID) -> wire.BlockSchemaRead:
    async with db.read() as connection:
        row = await repo.get_schema(connection, schema_id)
        if row is None:
            raise ObjectNotFound(f"block schema {schema_id} not found")
        return await _schema_read(connection, row)


async def read_schema_by_checksum(
    db: Database, checksum: str, version: str | None
) -> wire.BlockSchemaRead:
    async with db.read() as connection:
        row = await repo.get_schema_by_checksum(connection, checksum, version)
        if row is None:
            raise ObjectNotFound(f"no block schema with checksum {checksum!r}")
        return await _schema_read(connection, row)


async def list_schemas(db: Database, query: wire.BlockSchemaQuery) -> list[wire.BlockSchemaRead]:
    async with db.read() as connection:
        rows = await repo.list_schemas(connection, query)
        types = await repo.get_types(connection, [row["block_type_id"] for row in rows])
    return [schema_read(row, types.get(row["block_type_id"])) for row in rows]


async def delete_schema(db: Database, schema_id: uuid.UUID) -> None:
    async with db.write() as connection:
        if await repo.get_schema(connection, schema_id) is None:
            raise ObjectNotFound(f"block schema {schema_id} not found")
        used = await repo.schema_in_use(connection, schema_id)
        if used:
            raise conflict(f"block schema {schema_id} is used by {used} block document(s)")
        await repo.delete_schema(connection, schema_id)
        await bump_generation(connection)


async def list_capabilities(db: Database) -> list[str]:
    async with db.read() as connection:
        return await repo.capabilities(connection)


# --- block documents: reading ---------------------------------------------------------
async def assemble(
    connection: AsyncConnection,
    keys: KeyRing,
    rows: Sequence[RowMapping],
    include_secrets: bool,
    held_by_rows: Sequence[Mapping[Any, Any]] | None = None,
) -> list[wire.BlockDocumentRead]:
    """The documents of `rows`, decrypted, masked unless `include_secrets`, with the
    documents they reference (to `MAX_REFERENCE_DEPTH` levels) expanded in place.
    `held_by_rows`: the references `rows` hold, when the caller read them with `rows`."""
    documents: dict[uuid.UUID, Mapping[Any, Any]] = {row["id"]: row for row in rows}
    references: dict[uuid.UUID, list[Mapping[Any, Any]]] = {}
    frontier = list(documents)
    known = held_by_rows
    for _ in range(wire.MAX_REFERENCE_DEPTH):
        if not frontier:
            break
        found = known if known is not None else await repo.references_of(connection, frontier)
        known = None
        missing: list[uuid.UUID] = []
        for reference in found:
            references.setdefault(reference["parent_block_document_id"], []).append(reference)
            target = reference["reference_block_document_id"]
            if target not in documents:
                missing.append(target)
        fetched = await repo.get_documents(connection, missing)
        documents.update(fetched)
        frontier = list(fetched)
    schemas, types = await repo.get_schemas_with_types(
        connection, [d["block_schema_id"] for d in documents.values()]
    )
    lacking = {d["block_type_id"] for d in documents.values()} - types.keys()
    if lacking:  # a document whose schema belongs to another type: not written so
        types.update(await repo.get_types(connection, list(lacking)))
    plain: dict[uuid.UUID, dict[str, Any]] = {}

    def own_data(document_id: uuid.UUID) -> dict[str, Any]:
        if document_id not in plain:
            row = documents[document_id]
            data = keys.decrypt(row["data"], row["key_id"], f"block document {row['name']!r}")
            if not include_secrets:
                schema = schemas.get(row["block_schema_id"])
                fields = None if schema is None else schema["fields"]
                data = wire.mask_secrets(data, wire.secret_fields(fields))
            plain[document_id] = data
        return plain[document_id]

    def expand(
        document_id: uuid.UUID, seen: frozenset[uuid.UUID]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        data = dict(own_data(document_id))
        held: dict[str, dict[str, Any]] = {}
        for reference in references.get(document_id, []):
            target = reference["reference_block_document_id"]
            if target in seen or target not in documents:
                continue  # a cycle, or deeper than the reads go
            child_data, child_references = expand(target, seen | {target})
            child = documents[target]
            child_type = types.get(child["block_type_id"])
            data[reference["name"]] = child_data
            held[reference["name"]] = {
                "block_document": {
                    "id": str(target),
                    "name": child["name"],
                    "block_type": None
                    if child_type is None
                    else type_read(child_type).model_dump(mode="json"),
                    "is_anonymous": child["is_anonymous"],
                    "block_document_references": child_references,
                }
            }
        return data, held

    out = []
    for row in rows:
        data, held = expand(row["id"], frozenset({row["id"]}))
        type_row = types.get(row["block_type_id"])
        schema_row = schemas.get(row["block_schema_id"])
        out.append(
            wire.BlockDocumentRead(
                id=row["id"],
                created=row["created"],
                updated=row["updated"],
                name=row["name"],
                data=data,
                block_schema_id=row["block_schema_id"],
                block_schema=None if schema_row is None else schema_read(schema_row, type_row),
                block_type_id=row["block_type_id"],
                block_type_name=row["block_type_name"],
                block_type=None if type_row is None else type_read(type_row),
                block_document_references=held,
                is_anonymous=row["is_anonymous"],
            )
        )
    return out


async def _one(
    connection: AsyncConnection, keys: KeyRing, row: RowMapping | None, what: str, secrets: bool
) -> wire.BlockDocumentRead:
    if row is None:
        raise ObjectNotFound(f"block document {what} not found")
    [document] = await assemble(connection, keys, [row], secrets)
    return document


async def read_document(
    db: Database, keys: KeyRing, document_id: uuid.UUID, include_secrets: bool
) -> wire.BlockDocumentRead:
    where = t.block_document.c.id == document_id
    return await _read_one(db, keys, where, str(document_id), include_secrets)


async def read_document_by_name(
    db: Database, keys: KeyRing, type_slug: str, name: str, include_secrets: bool
) -> wire.BlockDocumentRead:
    where = sa.and_(t.block_type.c.slug == type_slug, t.block_document.c.name == name)
    return await _read_one(db, keys, where, f"'{type_slug}/{name}'", include_secrets)


async def _read_one(
    db: Database, keys: KeyRing, where: sa.ColumnElement[bool], what: str, secrets: bool
) -> wire.BlockDocumentRead:
    """One document with the references it holds read in the same query (a read of a
    saved block is two queries when it holds none: a flow's `Secret.load`)."""
    async with db.read() as connection:
        row, held = await repo.get_document_with_references(connection, where)
        if row is None:
            raise ObjectNotFound(f"block document {what} not found")
        [document] = await assemble(connection, keys, [row], secrets, held_by_rows=held)
        return document


async def list_documents(
    db: Database, keys: KeyRing, query: wire.BlockDocumentQuery
) -> list[wire.BlockDocumentRead]:
    async with db.read() as connection:
        rows = await repo.list_documents(connection, query)
        return await assemble(connection, keys, rows, query.include_secrets)


async def list_documents_of_type(
    db: Database, keys: KeyRing, type_slug: str, include_secrets: bool
) -> list[wire.BlockDocumentRead]:
    async with db.read() as connection:
        type_row = await repo.get_type_by_slug(connection, type_slug)
        if type_row is None:
            raise ObjectNotFound(f"block type {type_slug!r} not found")
        query = wire.BlockDocumentQuery(
            block_documents=wire.BlockDocumentFilter(
                block_type_id=wire.AnyIds(any_=[type_row["id"]])
            ),
            include_secrets=include_secrets,
            limit=1000,
        )
        rows = await repo.list_documents(connection, query)
        return await assemble(connection, keys, rows, include_secrets)


async def count_documents(db: Database, query: wire.BlockDocumentCount) -> int:
    async with db.read() as connection:
        return await repo.count_documents(connection, query)


# --- block documents: writing ---------------------------------------------------------
def _split_references(
    data: Mapping[Any, Any], at: str = "data"
) -> tuple[dict[str, Any], dict[str, uuid.UUID]]:
    """`data` without its top-level references, and the references by field."""
    plain: dict[str, Any] = {}
    references: dict[str, uuid.UUID] = {}
    for key, value in data.items():
        if isinstance(value, dict) and REF in value:
            target = value[REF].get("block_document_id") if isinstance(value[REF], dict) else None
            try:
                references[key] = uuid.UUID(str(target))
            except ValueError:
                raise invalid(
                    ["body", at, key],
                    'a reference must be {"$ref": {"block_document_id": "<uuid>"}}',
                ) from None
        else:
            plain[key] = value
    return plain, references


async def _check_references(
    connection: AsyncConnection, document_id: uuid.UUID | None, references: dict[str, uuid.UUID]
) -> None:
    """Every referenced document exists, and none leads back to `document_id`."""
    found = await repo.get_documents(connection, list(references.values()))
    for field, target in references.items():
        if target not in found:
            raise invalid(["body", "data", field], f"no block document {target} to reference")
    if document_id is None:
        return
    frontier, seen = list(references.values()), set[uuid.UUID]()
    while frontier:
        if document_id in frontier:
            raise invalid(["body", "data"], "a block document cannot reference itself")
        seen.update(frontier)
        rows = await repo.references_of(connection, frontier)
        frontier = [
            r["reference_block_document_id"]
            for r in rows
            if r["reference_block_document_id"] not in seen
        ]


async def _check_keys(connection: AsyncConnection, keys: KeyRing) -> None:
    """Refuse to write under a key when the database holds documents under another one
    this server lacks (replicas started with different keys)."""
    keys.refresh()  # the key file may have been rotated by another process
    other = await repo.documents_under_other_keys(connection, keys.key_ids)
    if other is not None:
        raise EncryptionKeyError(
            f"this database holds block documents encrypted with key {other}, which this "
            f"server does not have (its keys: {', '.join(keys.key_ids)}); give every server "
            "of one database the same VIBEPIPER_ENCRYPTION_KEY (or key file)"
        )


async def create_document(
    db: Database, keys: KeyRing, body: wire.BlockDocumentCreate
) -> wire.BlockDocumentRead:
    async with db.write() as connection:
        type_row = await _type_row(connection, body.block_type_id)
        schema_row = await repo.get_schema(connection, body.block_schema_id)
        if schema_row is None:
            raise ObjectNotFound(f"block schema {body.block_schema_id} not found")
        if schema_row["block_type_id"] != body.block_type_id:
            raise invalid(
                ["body", "block_schema_id"],
                f"block schema {body.block_schema_id} is not a schema of block type "
                f"{type_row['slug']!r}",
            )
        name = body.name or f"anonymous-{uuid.uuid4()}"
        if await repo.get_document_by_name(connection, type_row["slug"], name) is not None:
            raise conflict(f"block document '{type_row['slug']}/{name}' exists already")
        data, references = _split_references(body.data)
        await _check_references(connection, None, references)
        await _check_keys(connection, keys)
        token, key = keys.encrypt(data)
        document_id = await repo.insert_document(
            connection,
            {
                "name": name,
                "data": token,
                "key_id": key,
                "block_schema_id": body.block_schema_id,
                "block_type_id": body.block_type_id,
                "block_type_name": type_row["name"],
                "is_anonymous": body.is_anonymous,
            },
        )
        await repo.replace_references(connection, document_id, references)
        await bump_generation(connection)
        row = await repo.get_document(connection, document_id)
        return await _one(connection, keys, row, str(document_id), False)


async def update_document(
    db: Database, keys: KeyRing, document_id: uuid.UUID, body: wire.BlockDocumentUpdate
) -> None:
    """Replace (or, with `merge_existing_data`, update) the document's data; a secret
    sent back as `********` keeps its stored value, and so does a referenced document
    sent back expanded with a masked secret in it."""
    async with db.write() as connection:
        row = await repo.get_document(connection, document_id)
        if row is None:
            raise ObjectNotFound(f"block document {document_id} not found")
        schema_id = body.block_schema_id or row["block_schema_id"]
        schemas = await repo.get_schemas(connection, [row["block_schema_id"], schema_id])
        if schema_id not in schemas:
            raise ObjectNotFound(f"block schema {schema_id} not found")
        if schemas[schema_id]["block_type_id"] != row["block_type_id"]:
            raise invalid(
                ["body", "block_schema_id"],
                "a document can only move to a schema of its own block type",
            )
        paths = {
            *wire.secret_fields(schemas[row["block_schema_id"]]["fields"]),
            *wire.secret_fields(schemas[schema_id]["fields"]),
        }
        current = keys.decrypt(row["data"], row["key_id"], f"block document {row['name']!r}")
        held = {
            r["name"]: r["reference_block_document_id"]
            for r in await repo.references_of(connection, [document_id])
        }
        sent = dict(body.data)
        for field, value in list(sent.items()):
            # the expanded reference, echoed back with a masked secret in it: unchanged
            if (
                field in held
                and isinstance(value, dict)
                and REF not in value
                and _holds_mask(value)
            ):
                sent[field] = {REF: {"block_document_id": str(held[field])}}
        sent = wire.restore_masked(sent, current, paths)
        data, references = _split_references(sent)
        if body.merge_existing_data:
            kept = {k: v for k, v in held.items() if k not in sent}
            data = {**{k: v for k, v in current.items() if k not in references}, **data}
            references = {**kept, **references}
        await _check_references(connection, document_id, references)
        await _check_keys(connection, keys)
        token, key = keys.encrypt(data)
        await repo.update_document(
            connection, document_id, {"data": token, "key_id": key, "block_schema_id": schema_id}
        )
        await repo.replace_references(connection, document_id, references)
        await bump_generation(connection)


def _holds_mask(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_mask(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_mask(item) for item in value)
    return bool(value == wire.MASK)


async def delete_document(db: Database, document_id: uuid.UUID) -> None:
    """Delete the document (409 while another document references it)."""
    async with db.write() as connection:
        row = await repo.get_document(connection, document_id)
        if row is None:
            raise ObjectNotFound(f"block document {document_id} not found")
        referrers = await repo.referrers_of(connection, document_id)
        if referrers:
            names = ", ".join(f"{r['name']!r} (field {r['field']!r})" for r in referrers[:5])
            raise conflict(f"block document {row['name']!r} is referenced by {names}")
        await repo.delete_document(connection, document_id)
        await bump_generation(connection)


# --- key rotation ---------------------------------------------------------------------
async def rotate_key(db: Database, keys: KeyRing) -> wire.KeyRotation:
    """Re-encrypt every document under a new key.

    With the key file: a new key is put first in the file (the old ones stay, so every
    document stays readable whatever happens next), every document is re-encrypted in
    one transaction, then the file keeps the new key only. With
    `VIBEPIPER_ENCRYPTION_KEY`: the operator puts the new key first (`NEW,OLD`) and
    restarts; this re-encrypts under it, and the old key can then be dropped.
    """
    if keys.source == "file":
        assert keys.path is not None
        fresh = new_key()
        write_key_file(keys.path, [fresh, *keys.keys])
        keys.reload()
    elif len(keys.keys) < 2:
        raise conflict(
            "the key comes from VIBEPIPER_ENCRYPTION_KEY, which only you can change: set "
            "VIBEPIPER_ENCRYPTION_KEY=NEW,OLD (a new Fernet key first) on every server of "
            "this database, restart them, run rotate-key again, then drop OLD"
        )
    rotated = 0
    async with db.write() as connection:
        for row in await repo.all_encrypted(connection):
            if row["key_id"] == keys.current_id:
                continue
            data = keys.decrypt(row["data"], row["key_id"], f"block document {row['name']!r}")
            token, key = keys.encrypt(data)
            await repo.set_encrypted(connection, row["id"], token, key)
            rotated += 1
        # webhook secrets are under the same keys: the file is about to drop the old one
        await reencrypt_secrets(connection, keys)
    if keys.source == "file":
        assert keys.path is not None
        write_key_file(keys.path, keys.keys[:1])
        keys.reload()
        message = f"the key file {keys.path} now holds the new key only"
    else:
        message = "every document is under the first key: drop the others from "
        message += "VIBEPIPER_ENCRYPTION_KEY on every server"
    return wire.KeyRotation(
        rotated=rotated, key_id=keys.current_id, key_source=keys.source, message=message
    )

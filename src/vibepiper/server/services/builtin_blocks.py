"""The built-in block types (Secret, Webhook, the file systems, the notification blocks)
registered when the server starts, as Prefect's server does, so the dashboard's /blocks
and `vibepiper block type ls` list them before any script saved one.

The types and schemas come from `vibepiper/schemas/builtin_blocks.json`, written from the
SDK's classes (`python -m vibepiper.blocks._catalog`): the server does not import the SDK.
A type or schema that exists already is left as it is; a replica that loses the race to
insert one finds it there.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

import sqlalchemy as sa

from vibepiper.database import tables
from vibepiper.schemas import blocks as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import blocks as repo
from vibepiper.server.repositories.variables import bump_generation

logger = logging.getLogger(__name__)


@cache
def builtin_catalog() -> tuple[dict[str, Any], ...]:
    """The built-in block types and schemas, each with its schema's checksum."""
    text = resources.files("vibepiper.schemas").joinpath("builtin_blocks.json").read_text()
    entries = json.loads(text)
    for entry in entries:
        entry["block_schema"]["checksum"] = wire.schema_checksum(entry["block_schema"]["fields"])
    return tuple(entries)


async def register_builtin_blocks(db: Database) -> int:
    """Insert the built-in types and schemas this database lacks; how many rows it added."""
    catalog = builtin_catalog()
    async with db.read() as connection:
        present = await _present(connection, catalog)
    missing = [entry for entry in catalog if _key(entry) not in present]
    if not missing:
        return 0
    added = 0
    try:
        async with db.write() as connection:
            for entry in missing:
                added += await _register(connection, entry)
            if added:
                await bump_generation(connection)
    except sa.exc.IntegrityError:
        # another replica registered them at the same moment: theirs stand
        logger.debug("built-in block types registered by another server meanwhile")
        return 0
    return added


def _key(entry: dict[str, Any]) -> tuple[str, str, str]:
    schema = entry["block_schema"]
    return entry["block_type"]["slug"], schema["checksum"], schema["version"]


async def _present(
    connection: Any, catalog: tuple[dict[str, Any], ...]
) -> set[tuple[str, str, str]]:
    """Which (type slug, schema checksum, version) of the catalog the database holds, in
    one query (this runs at every start, the in-process API's included)."""
    block_type, block_schema = tables.block_type.c, tables.block_schema.c
    query = (
        sa.select(block_type.slug, block_schema.checksum, block_schema.version)
        .select_from(
            tables.block_schema.join(tables.block_type, block_type.id == block_schema.block_type_id)
        )
        .where(block_type.slug.in_({_key(entry)[0] for entry in catalog}))
    )
    return {(row[0], row[1], row[2]) for row in await connection.execute(query)}


async def _register(connection: Any, entry: dict[str, Any]) -> int:
    added = 0
    values = wire.BlockTypeCreate.model_validate(entry["block_type"]).model_dump()
    row = await repo.get_type_by_slug(connection, values["slug"])
    if row is None:
        type_id = await repo.insert_type(connection, values)
        added += 1
    else:
        type_id = row["id"]
    schema = entry["block_schema"]
    if await repo.get_schema_by_checksum(connection, schema["checksum"], schema["version"]) is None:
        await repo.insert_schema(
            connection,
            {
                "checksum": schema["checksum"],
                "fields": schema["fields"],
                "block_type_id": type_id,
                "capabilities": sorted(set(schema["capabilities"])),
                "version": schema["version"],
            },
        )
        added += 1
    return added

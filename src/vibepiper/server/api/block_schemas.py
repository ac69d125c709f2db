"""`/api/block_schemas`: the versions of block types' fields, found by id or checksum."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from vibepiper.schemas import blocks as wire
from vibepiper.server.api.deps import DB
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import blocks

router = APIRouter(prefix="/block_schemas", tags=["blocks"], route_class=RetryingRoute)
IN_USE: Responses = {409: {"model": ErrorBody, "description": "Documents use the schema."}}


@router.post("/", status_code=201, responses=NOT_FOUND)
async def create_block_schema(
    body: wire.BlockSchemaCreate, response: Response, db: DB
) -> wire.BlockSchemaRead:
    """A schema of the type (201), or the one with the same fields and version (200);
    its checksum is computed here from `fields`."""
    schema, created = await blocks.create_schema(db, body)
    if not created:
        response.status_code = 200
    return schema


@router.post("/filter")
async def read_block_schemas(
    db: DB, body: wire.BlockSchemaQuery | None = None
) -> list[wire.BlockSchemaRead]:
    """Schemas, newest first."""
    return await blocks.list_schemas(db, body or wire.BlockSchemaQuery())


@router.get("/checksum/{checksum}", responses=NOT_FOUND)
async def read_block_schema_by_checksum(
    checksum: str,
    db: DB,
    version: str | None = Query(None, description="Default: the newest with the checksum."),
) -> wire.BlockSchemaRead:
    return await blocks.read_schema_by_checksum(db, checksum, version)


@router.get("/{block_schema_id}", responses=NOT_FOUND)
async def read_block_schema(block_schema_id: uuid.UUID, db: DB) -> wire.BlockSchemaRead:
    return await blocks.read_schema(db, block_schema_id)


@router.delete("/{block_schema_id}", status_code=204, responses={**NOT_FOUND, **IN_USE})
async def delete_block_schema(block_schema_id: uuid.UUID, db: DB) -> None:
    await blocks.delete_schema(db, block_schema_id)

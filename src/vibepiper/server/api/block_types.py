"""`/api/block_types`: kinds of blocks, found by id or slug, and their documents."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from vibepiper.schemas import blocks as wire
from vibepiper.server.api.deps import DB, KEYS
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import blocks

router = APIRouter(prefix="/block_types", tags=["blocks"], route_class=RetryingRoute)
CONFLICT: Responses = {409: {"model": ErrorBody, "description": "The slug is taken."}}
SECRETS = Query(False, description="Secret values in clear (default: `********`).")


@router.post("/", status_code=201, responses=CONFLICT)
async def create_block_type(body: wire.BlockTypeCreate, db: DB) -> wire.BlockTypeRead:
    return await blocks.create_type(db, body)


@router.post("/filter")
async def read_block_types(
    db: DB, body: wire.BlockTypeQuery | None = None
) -> list[wire.BlockTypeRead]:
    """Block types by name; `block_schemas` keeps the types having such a schema
    (`{"block_capabilities": {"all_": ["read-path"]}}`)."""
    return await blocks.list_types(db, body or wire.BlockTypeQuery())


@router.get("/slug/{slug}", responses=NOT_FOUND)
async def read_block_type_by_slug(slug: str, db: DB) -> wire.BlockTypeRead:
    return await blocks.read_type_by_slug(db, slug)


@router.get("/slug/{slug}/block_documents", responses=NOT_FOUND)
async def read_block_documents_for_block_type(
    slug: str, db: DB, keys: KEYS, include_secrets: bool = SECRETS
) -> list[wire.BlockDocumentRead]:
    return await blocks.list_documents_of_type(db, keys, slug, include_secrets)


@router.get("/slug/{slug}/block_documents/name/{block_document_name}", responses=NOT_FOUND)
async def read_block_document_by_name_for_block_type(
    slug: str, block_document_name: str, db: DB, keys: KEYS, include_secrets: bool = SECRETS
) -> wire.BlockDocumentRead:
    return await blocks.read_document_by_name(db, keys, slug, block_document_name, include_secrets)


@router.get("/{block_type_id}", responses=NOT_FOUND)
async def read_block_type(block_type_id: uuid.UUID, db: DB) -> wire.BlockTypeRead:
    return await blocks.read_type(db, block_type_id)


@router.patch("/{block_type_id}", status_code=204, responses=NOT_FOUND)
async def update_block_type(block_type_id: uuid.UUID, body: wire.BlockTypeUpdate, db: DB) -> None:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    await blocks.update_type(db, block_type_id, changes)


@router.delete("/{block_type_id}", status_code=204, responses=NOT_FOUND)
async def delete_block_type(block_type_id: uuid.UUID, db: DB) -> None:
    """Delete the type with its schemas and documents."""
    await blocks.delete_type(db, block_type_id)

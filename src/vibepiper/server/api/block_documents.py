"""`/api/block_documents`: saved blocks, encrypted at rest, secrets masked unless asked.

Reads answer secret fields as `********` unless `include_secrets` is true; a PATCH that
sends a secret back as `********` keeps the stored value.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from vibepiper.schemas import blocks as wire
from vibepiper.server.api.deps import DB, KEYS
from vibepiper.server.api.responses import NOT_FOUND, ErrorBody, Responses
from vibepiper.server.conflicts import RetryingRoute
from vibepiper.server.services import blocks

router = APIRouter(prefix="/block_documents", tags=["blocks"], route_class=RetryingRoute)
CONFLICT: Responses = {409: {"model": ErrorBody, "description": "The name is taken."}}
REFERENCED: Responses = {409: {"model": ErrorBody, "description": "Another document holds it."}}


@router.post("/", status_code=201, responses={**NOT_FOUND, **CONFLICT})
async def create_block_document(
    body: wire.BlockDocumentCreate, db: DB, keys: KEYS
) -> wire.BlockDocumentRead:
    """Save a block; a top-level `{"$ref": {"block_document_id": ...}}` value stores a
    reference to that document. Answered with its secrets masked."""
    return await blocks.create_document(db, keys, body)


@router.post("/filter")
async def read_block_documents(
    db: DB, keys: KEYS, body: wire.BlockDocumentQuery | None = None
) -> list[wire.BlockDocumentRead]:
    """Documents by name (anonymous ones left out unless the filter asks for them)."""
    return await blocks.list_documents(db, keys, body or wire.BlockDocumentQuery())


@router.post("/count")
async def count_block_documents(db: DB, body: wire.BlockDocumentCount | None = None) -> int:
    return await blocks.count_documents(db, body or wire.BlockDocumentCount())


@router.post(
    "/rotate_key",
    responses={409: {"model": ErrorBody, "description": "The key comes from the environment."}},
)
async def rotate_encryption_key(db: DB, keys: KEYS) -> wire.KeyRotation:
    """Re-encrypt every block document under a new key (see docs/blocks.md)."""
    return await blocks.rotate_key(db, keys)


@router.get("/{block_document_id}", responses=NOT_FOUND)
async def read_block_document(
    block_document_id: uuid.UUID,
    db: DB,
    keys: KEYS,
    include_secrets: bool = Query(False, description="Secret values in clear."),
) -> wire.BlockDocumentRead:
    return await blocks.read_document(db, keys, block_document_id, include_secrets)


@router.patch("/{block_document_id}", status_code=204, responses=NOT_FOUND)
async def update_block_document(
    block_document_id: uuid.UUID, body: wire.BlockDocumentUpdate, db: DB, keys: KEYS
) -> None:
    await blocks.update_document(db, keys, block_document_id, body)


@router.delete("/{block_document_id}", status_code=204, responses={**NOT_FOUND, **REFERENCED})
async def delete_block_document(block_document_id: uuid.UUID, db: DB) -> None:
    await blocks.delete_document(db, block_document_id)

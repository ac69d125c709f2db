"""The calls of blocks and variables (`/api/block_*`, `/api/variables`), described once
for both clients as `_layer` describes the others."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from vibepiper.client._layer import Call, Plan, _dump, _int, _list, _model, _none
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import blocks as wire
from vibepiper.schemas import variables as var


def _seg(name: str) -> str:
    return quote(name, safe="")


def _secrets(include_secrets: bool) -> str:
    return "?include_secrets=true" if include_secrets else ""


# --- block types ----------------------------------------------------------------------
def create_block_type(body: wire.BlockTypeCreate) -> Call[wire.BlockTypeRead]:
    return Call("POST", "block_types/", _model(wire.BlockTypeRead), _dump(body))


def read_block_type(block_type_id: uuid.UUID) -> Call[wire.BlockTypeRead]:
    return Call("GET", f"block_types/{block_type_id}", _model(wire.BlockTypeRead))


def read_block_type_by_slug(slug: str) -> Call[wire.BlockTypeRead]:
    return Call("GET", f"block_types/slug/{_seg(slug)}", _model(wire.BlockTypeRead))


def read_block_types(query: wire.BlockTypeQuery | None = None) -> Call[list[wire.BlockTypeRead]]:
    return Call("POST", "block_types/filter", _list(wire.BlockTypeRead), _dump(query) or {})


def update_block_type(block_type_id: uuid.UUID, body: wire.BlockTypeUpdate) -> Call[None]:
    return Call("PATCH", f"block_types/{block_type_id}", _none, _dump(body))


def delete_block_type(block_type_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"block_types/{block_type_id}", _none)


# --- block schemas --------------------------------------------------------------------
def create_block_schema(body: wire.BlockSchemaCreate) -> Call[wire.BlockSchemaRead]:
    return Call("POST", "block_schemas/", _model(wire.BlockSchemaRead), _dump(body))


def read_block_schema(block_schema_id: uuid.UUID) -> Call[wire.BlockSchemaRead]:
    return Call("GET", f"block_schemas/{block_schema_id}", _model(wire.BlockSchemaRead))


def read_block_schema_by_checksum(
    checksum: str, version: str | None = None
) -> Call[wire.BlockSchemaRead]:
    path = f"block_schemas/checksum/{_seg(checksum)}"
    if version is not None:
        path += f"?version={quote(version, safe='')}"
    return Call("GET", path, _model(wire.BlockSchemaRead))


def read_block_schemas(
    query: wire.BlockSchemaQuery | None = None,
) -> Call[list[wire.BlockSchemaRead]]:
    return Call("POST", "block_schemas/filter", _list(wire.BlockSchemaRead), _dump(query) or {})


def read_block_capabilities() -> Call[list[str]]:
    return Call("GET", "block_capabilities/", lambda response: list(response.json()))


# --- block documents ------------------------------------------------------------------
def create_block_document(body: wire.BlockDocumentCreate) -> Call[wire.BlockDocumentRead]:
    return Call("POST", "block_documents/", _model(wire.BlockDocumentRead), _dump(body))


def read_block_document(
    block_document_id: uuid.UUID, include_secrets: bool = True
) -> Call[wire.BlockDocumentRead]:
    path = f"block_documents/{block_document_id}{_secrets(include_secrets)}"
    return Call("GET", path, _model(wire.BlockDocumentRead))


def read_block_document_by_name(
    name: str, block_type_slug: str, include_secrets: bool = True
) -> Call[wire.BlockDocumentRead]:
    path = (
        f"block_types/slug/{_seg(block_type_slug)}/block_documents/name/{_seg(name)}"
        f"{_secrets(include_secrets)}"
    )
    return Call("GET", path, _model(wire.BlockDocumentRead))


def read_block_documents(query: wire.BlockDocumentQuery) -> Call[list[wire.BlockDocumentRead]]:
    body = query.model_dump(mode="json", exclude_unset=True)
    body["include_secrets"] = query.include_secrets
    return Call("POST", "block_documents/filter", _list(wire.BlockDocumentRead), body)


def count_block_documents(query: wire.BlockDocumentCount | None = None) -> Call[int]:
    return Call("POST", "block_documents/count", _int, _dump(query) or {})


def update_block_document(
    block_document_id: uuid.UUID, body: wire.BlockDocumentUpdate
) -> Call[None]:
    payload = body.model_dump(mode="json")
    return Call("PATCH", f"block_documents/{block_document_id}", _none, payload)


def delete_block_document(block_document_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"block_documents/{block_document_id}", _none)


def rotate_encryption_key() -> Call[wire.KeyRotation]:
    return Call("POST", "block_documents/rotate_key", _model(wire.KeyRotation))


# --- variables ------------------------------------------------------------------------
def create_variable(body: var.VariableCreate) -> Call[var.VariableRead]:
    return Call("POST", "variables/", _model(var.VariableRead), _dump(body))


def read_variable_by_name(name: str) -> Call[var.VariableRead]:
    return Call("GET", f"variables/name/{_seg(name)}", _model(var.VariableRead))


def read_variables(query: var.VariableQuery | None = None) -> Call[list[var.VariableRead]]:
    return Call("POST", "variables/filter", _list(var.VariableRead), _dump(query) or {})


def count_variables(query: var.VariableCount | None = None) -> Call[int]:
    return Call("POST", "variables/count", _int, _dump(query) or {})


def update_variable_by_name(name: str, body: var.VariableUpdate) -> Call[None]:
    return Call("PATCH", f"variables/name/{_seg(name)}", _none, _dump(body))


def delete_variable_by_name(name: str) -> Call[None]:
    return Call("DELETE", f"variables/name/{_seg(name)}", _none)


# --- plans ----------------------------------------------------------------------------
def variable_or_none(name: str) -> Plan[var.VariableRead | None]:
    """The variable named `name`, None when there is none (Prefect's answer)."""
    try:
        found: var.VariableRead = yield read_variable_by_name(name)
    except ObjectNotFound:
        return None
    return found


def most_recent_schema(block_type_id: uuid.UUID) -> Plan[wire.BlockSchemaRead | None]:
    query = wire.BlockSchemaQuery(
        block_schemas=wire.BlockSchemaFilter(block_type_id=wire.AnyIds(any_=[block_type_id])),
        limit=1,
    )
    schemas: list[wire.BlockSchemaRead] = yield read_block_schemas(query)
    return schemas[0] if schemas else None


def documents_query(
    *,
    block_type_slug: str | None,
    offset: int | None,
    limit: int | None,
    include_secrets: bool,
    capability: str | None = None,
) -> wire.BlockDocumentQuery:
    values: dict[str, Any] = {"include_secrets": include_secrets}
    if block_type_slug is not None:
        values["block_types"] = wire.BlockTypeFilter(slug=wire.AnyNames(any_=[block_type_slug]))
    if capability is not None:
        values["block_schemas"] = wire.BlockSchemaFilter(
            block_capabilities=wire.AllNames(all_=[capability])
        )
    if offset is not None:
        values["offset"] = offset
    if limit is not None:
        values["limit"] = limit
    return wire.BlockDocumentQuery(**values)

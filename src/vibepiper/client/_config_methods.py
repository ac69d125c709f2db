"""Blocks and variables in the client, with Prefect's method names and signatures.

Mixed into `VibePiperClient` and `SyncVibePiperClient`; the calls are described once in
`client._config_calls`, so each method here only sends one (a test pins that both
clients have the same methods). Prefect's defaults hold: reads of block documents ask
for their secrets in clear (`include_secrets=True`), which the API only answers when
asked; `read_variable_by_name` answers None for a missing variable.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

from vibepiper.client import _compat
from vibepiper.client import _config_calls as calls
from vibepiper.client.schemas import objects
from vibepiper.schemas import blocks as wire
from vibepiper.schemas import variables as var

if TYPE_CHECKING:
    from vibepiper.client._layer import Call, Plan

T = TypeVar("T")


class BlocksAndVariables:
    """The async methods of blocks and variables."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_block_type(self, block_type: wire.BlockTypeCreate) -> objects.BlockType:
        """Create a block type (`ObjectAlreadyExists` when the slug is taken)."""
        return await self._send(calls.create_block_type(block_type))

    async def read_block_type(self, block_type_id: uuid.UUID) -> objects.BlockType:
        return await self._send(calls.read_block_type(block_type_id))

    async def read_block_type_by_slug(self, slug: str) -> objects.BlockType:
        return await self._send(calls.read_block_type_by_slug(slug))

    async def read_block_types(self) -> list[objects.BlockType]:
        """Every block type, by name."""
        return await self._send(calls.read_block_types(wire.BlockTypeQuery(limit=1000)))

    async def update_block_type(
        self, block_type_id: uuid.UUID, block_type: wire.BlockTypeUpdate
    ) -> None:
        return await self._send(calls.update_block_type(block_type_id, block_type))

    async def delete_block_type(self, block_type_id: uuid.UUID) -> None:
        """Delete a block type with its schemas and documents."""
        return await self._send(calls.delete_block_type(block_type_id))

    async def create_block_schema(
        self, block_schema: wire.BlockSchemaCreate
    ) -> objects.BlockSchema:
        """The schema of these fields (created, or the one that exists)."""
        return await self._send(calls.create_block_schema(block_schema))

    async def read_block_schema(self, block_schema_id: uuid.UUID) -> objects.BlockSchema:
        return await self._send(calls.read_block_schema(block_schema_id))

    async def read_block_schema_by_checksum(
        self, checksum: str, version: str | None = None
    ) -> objects.BlockSchema:
        return await self._send(calls.read_block_schema_by_checksum(checksum, version))

    async def read_block_schemas(self) -> list[objects.BlockSchema]:
        """Every block schema, newest first."""
        return await self._send(calls.read_block_schemas(wire.BlockSchemaQuery(limit=1000)))

    async def get_most_recent_block_schema_for_block_type(
        self, block_type_id: uuid.UUID
    ) -> objects.BlockSchema | None:
        return await self._run(calls.most_recent_schema(block_type_id))

    async def read_block_capabilities(self) -> list[str]:
        return await self._send(calls.read_block_capabilities())

    async def create_block_document(
        self, block_document: wire.BlockDocumentCreate, include_secrets: bool = True
    ) -> objects.BlockDocument:
        """Save a block document (`ObjectAlreadyExists` when its name is taken for its
        type); the answer masks its secrets."""
        return await self._send(calls.create_block_document(block_document))

    async def read_block_document(
        self, block_document_id: uuid.UUID | str, include_secrets: bool = True
    ) -> objects.BlockDocument:
        """The document (secrets in clear unless `include_secrets=False`)."""
        document_id = _compat.object_id(block_document_id)
        return await self._send(calls.read_block_document(document_id, include_secrets))

    async def read_block_document_by_name(
        self, name: str, block_type_slug: str, include_secrets: bool = True
    ) -> objects.BlockDocument:
        """The document `name` of the type `block_type_slug` (`ObjectNotFound` if none)."""
        call = calls.read_block_document_by_name(name, block_type_slug, include_secrets)
        return await self._send(call)

    async def read_block_documents(
        self,
        block_schema_type: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
        include_secrets: bool = True,
    ) -> list[objects.BlockDocument]:
        """Named documents by name; `block_schema_type`: of that block type slug only."""
        query = calls.documents_query(
            block_type_slug=block_schema_type,
            offset=offset,
            limit=limit,
            include_secrets=include_secrets,
        )
        return await self._send(calls.read_block_documents(query))

    async def read_block_documents_by_type(
        self,
        block_type_slug: str,
        offset: int | None = None,
        limit: int | None = None,
        include_secrets: bool = True,
    ) -> list[objects.BlockDocument]:
        """Named documents of the type `block_type_slug`, by name."""
        return await self.read_block_documents(block_type_slug, offset, limit, include_secrets)

    async def filter_block_documents(
        self, query: wire.BlockDocumentQuery
    ) -> list[objects.BlockDocument]:
        """Documents matching the API's own query (filters on documents, types, schemas)."""
        return await self._send(calls.read_block_documents(query))

    async def count_block_documents(self, query: wire.BlockDocumentCount | None = None) -> int:
        return await self._send(calls.count_block_documents(query))

    async def update_block_document(
        self, block_document_id: uuid.UUID | str, block_document: wire.BlockDocumentUpdate
    ) -> None:
        """Change a document's data; a secret sent back as `********` keeps its value."""
        document_id = _compat.object_id(block_document_id)
        return await self._send(calls.update_block_document(document_id, block_document))

    async def delete_block_document(self, block_document_id: uuid.UUID | str) -> None:
        document_id = _compat.object_id(block_document_id)
        return await self._send(calls.delete_block_document(document_id))

    async def rotate_encryption_key(self) -> wire.KeyRotation:
        """Re-encrypt every block document under a new key (see docs/blocks.md)."""
        return await self._send(calls.rotate_encryption_key())

    async def create_variable(self, variable: var.VariableCreate) -> objects.Variable:
        """Create a variable (`ObjectAlreadyExists` when the name is taken)."""
        return await self._send(calls.create_variable(variable))

    async def read_variable_by_name(self, name: str) -> objects.Variable | None:
        """The variable `name`, or None when there is none."""
        return await self._run(calls.variable_or_none(name))

    async def read_variables(self, limit: int | None = None) -> list[objects.Variable]:
        """Variables by name (`limit`: 200 by default)."""
        query = var.VariableQuery() if limit is None else var.VariableQuery(limit=limit)
        return await self._send(calls.read_variables(query))

    async def filter_variables(self, query: var.VariableQuery) -> list[objects.Variable]:
        """Variables matching the API's own query (name, tags, sort, page)."""
        return await self._send(calls.read_variables(query))

    async def count_variables(self, query: var.VariableCount | None = None) -> int:
        return await self._send(calls.count_variables(query))

    async def update_variable(self, variable: var.VariableUpdate) -> None:
        """Change the variable named `variable.name` (its value and tags)."""
        if variable.name is None:
            raise ValueError("update_variable needs the variable's name")
        return await self._send(calls.update_variable_by_name(variable.name, variable))

    async def delete_variable_by_name(self, name: str) -> None:
        """Delete the variable (`ObjectNotFound` when there is none)."""
        return await self._send(calls.delete_variable_by_name(name))


class SyncBlocksAndVariables:
    """The blocking methods of blocks and variables."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_block_type(self, block_type: wire.BlockTypeCreate) -> objects.BlockType:
        """Create a block type (`ObjectAlreadyExists` when the slug is taken)."""
        return self._send(calls.create_block_type(block_type))

    def read_block_type(self, block_type_id: uuid.UUID) -> objects.BlockType:
        return self._send(calls.read_block_type(block_type_id))

    def read_block_type_by_slug(self, slug: str) -> objects.BlockType:
        return self._send(calls.read_block_type_by_slug(slug))

    def read_block_types(self) -> list[objects.BlockType]:
        """Every block type, by name."""
        return self._send(calls.read_block_types(wire.BlockTypeQuery(limit=1000)))

    def update_block_type(self, block_type_id: uuid.UUID, block_type: wire.BlockTypeUpdate) -> None:
        return self._send(calls.update_block_type(block_type_id, block_type))

    def delete_block_type(self, block_type_id: uuid.UUID) -> None:
        """Delete a block type with its schemas and documents."""
        return self._send(calls.delete_block_type(block_type_id))

    def create_block_schema(self, block_schema: wire.BlockSchemaCreate) -> objects.BlockSchema:
        """The schema of these fields (created, or the one that exists)."""
        return self._send(calls.create_block_schema(block_schema))

    def read_block_schema(self, block_schema_id: uuid.UUID) -> objects.BlockSchema:
        return self._send(calls.read_block_schema(block_schema_id))

    def read_block_schema_by_checksum(
        self, checksum: str, version: str | None = None
    ) -> objects.BlockSchema:
        return self._send(calls.read_block_schema_by_checksum(checksum, version))

    def read_block_schemas(self) -> list[objects.BlockSchema]:
        """Every block schema, newest first."""
        return self._send(calls.read_block_schemas(wire.BlockSchemaQuery(limit=1000)))

    def get_most_recent_block_schema_for_block_type(
        self, block_type_id: uuid.UUID
    ) -> objects.BlockSchema | None:
        return self._run(calls.most_recent_schema(block_type_id))

    def read_block_capabilities(self) -> list[str]:
        return self._send(calls.read_block_capabilities())

    def create_block_document(
        self, block_document: wire.BlockDocumentCreate, include_secrets: bool = True
    ) -> objects.BlockDocument:
        """Save a block document (`ObjectAlreadyExists` when its name is taken for its
        type); the answer masks its secrets."""
        return self._send(calls.create_block_document(block_document))

    def read_block_document(
        self, block_document_id: uuid.UUID | str, include_secrets: bool = True
    ) -> objects.BlockDocument:
        """The document (secrets in clear unless `include_secrets=False`)."""
        document_id = _compat.object_id(block_document_id)
        return self._send(calls.read_block_document(document_id, include_secrets))

    def read_block_document_by_name(
        self, name: str, block_type_slug: str, include_secrets: bool = True
    ) -> objects.BlockDocument:
        """The document `name` of the type `block_type_slug` (`ObjectNotFound` if none)."""
        call = calls.read_block_document_by_name(name, block_type_slug, include_secrets)
        return self._send(call)

    def read_block_documents(
        self,
        block_schema_type: str | None = None,
        offset: int | None = None,
        limit: int | None = None,
        include_secrets: bool = True,
    ) -> list[objects.BlockDocument]:
        """Named documents by name; `block_schema_type`: of that block type slug only."""
        query = calls.documents_query(
            block_type_slug=block_schema_type,
            offset=offset,
            limit=limit,
            include_secrets=include_secrets,
        )
        return self._send(calls.read_block_documents(query))

    def read_block_documents_by_type(
        self,
        block_type_slug: str,
        offset: int | None = None,
        limit: int | None = None,
        include_secrets: bool = True,
    ) -> list[objects.BlockDocument]:
        """Named documents of the type `block_type_slug`, by name."""
        return self.read_block_documents(block_type_slug, offset, limit, include_secrets)

    def filter_block_documents(self, query: wire.BlockDocumentQuery) -> list[objects.BlockDocument]:
        """Documents matching the API's own query (filters on documents, types, schemas)."""
        return self._send(calls.read_block_documents(query))

    def count_block_documents(self, query: wire.BlockDocumentCount | None = None) -> int:
        return self._send(calls.count_block_documents(query))

    def update_block_document(
        self, block_document_id: uuid.UUID | str, block_document: wire.BlockDocumentUpdate
    ) -> None:
        """Change a document's data; a secret sent back as `********` keeps its value."""
        document_id = _compat.object_id(block_document_id)
        return self._send(calls.update_block_document(document_id, block_document))

    def delete_block_document(self, block_document_id: uuid.UUID | str) -> None:
        document_id = _compat.object_id(block_document_id)
        return self._send(calls.delete_block_document(document_id))

    def rotate_encryption_key(self) -> wire.KeyRotation:
        """Re-encrypt every block document under a new key (see docs/blocks.md)."""
        return self._send(calls.rotate_encryption_key())

    def create_variable(self, variable: var.VariableCreate) -> objects.Variable:
        """Create a variable (`ObjectAlreadyExists` when the name is taken)."""
        return self._send(calls.create_variable(variable))

    def read_variable_by_name(self, name: str) -> objects.Variable | None:
        """The variable `name`, or None when there is none."""
        return self._run(calls.variable_or_none(name))

    def read_variables(self, limit: int | None = None) -> list[objects.Variable]:
        """Variables by name (`limit`: 200 by default)."""
        query = var.VariableQuery() if limit is None else var.VariableQuery(limit=limit)
        return self._send(calls.read_variables(query))

    def filter_variables(self, query: var.VariableQuery) -> list[objects.Variable]:
        """Variables matching the API's own query (name, tags, sort, page)."""
        return self._send(calls.read_variables(query))

    def count_variables(self, query: var.VariableCount | None = None) -> int:
        return self._send(calls.count_variables(query))

    def update_variable(self, variable: var.VariableUpdate) -> None:
        """Change the variable named `variable.name` (its value and tags)."""
        if variable.name is None:
            raise ValueError("update_variable needs the variable's name")
        return self._send(calls.update_variable_by_name(variable.name, variable))

    def delete_variable_by_name(self, name: str) -> None:
        """Delete the variable (`ObjectNotFound` when there is none)."""
        return self._send(calls.delete_variable_by_name(name))

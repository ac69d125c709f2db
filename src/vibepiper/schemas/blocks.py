"""Wire models of blocks: block types, block schemas, block documents (Prefect's shapes).

A *block type* is a kind of configuration (`secret`, `webhook`, `local-file-system`, a
user's `Block` subclass), found by its slug. A *block schema* is one version of a
type's fields: its JSON schema, identified by a checksum of that schema, with the
type's capabilities and the fields holding secrets (`secret_fields`, dotted paths, `*`
for every value under a key). A *block document* is a saved value of a type: `data`
validated by a schema, stored encrypted; a top-level field may instead hold a
reference to another document (`{"$ref": {"block_document_id": ...}}`), which reads
expand in place.

The pure helpers here are shared by the client (`vibepiper.blocks`) and the server:
`schema_checksum`, and masking secret values (`mask_secrets`) and restoring a secret
sent back masked (`restore_masked`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from vibepiper.schemas.api import JsonDict, Name, RequestModel, Text, UtcDatetime
from vibepiper.schemas.api_filters import Limit, Offset

__all__ = [
    "DEFAULT_BLOCK_SCHEMA_VERSION",
    "MASK",
    "BlockDocumentCreate",
    "BlockDocumentFilter",
    "BlockDocumentQuery",
    "BlockDocumentRead",
    "BlockDocumentUpdate",
    "BlockSchemaCreate",
    "BlockSchemaFilter",
    "BlockSchemaQuery",
    "BlockSchemaRead",
    "BlockTypeCreate",
    "BlockTypeFilter",
    "BlockTypeQuery",
    "BlockTypeRead",
    "BlockTypeUpdate",
    "KeyRotation",
    "mask_secrets",
    "restore_masked",
    "schema_checksum",
    "secret_fields",
]

MASK = "********"
"""What a secret value reads as unless secrets are asked for (`include_secrets`)."""

DEFAULT_BLOCK_SCHEMA_VERSION = "non-versioned"
MAX_REFERENCE_DEPTH = 16
"""How deep references between documents may nest (reads stop there)."""


def _slug(value: str) -> str:
    if not value or any(
        not (c.isascii() and (c.islower() or c.isdigit() or c == "-")) for c in value
    ):
        raise ValueError("must only contain lowercase letters, numbers, and dashes")
    return value


Slug = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_slug)]
"""A block type slug or block document name: lowercase letters, numbers and dashes."""


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- block types ----------------------------------------------------------------------
class BlockTypeCreate(RequestModel):
    name: Name
    slug: Slug
    logo_url: Text | None = None
    documentation_url: Text | None = None
    description: Text | None = None
    code_example: Text | None = None


class BlockTypeUpdate(RequestModel):
    """The fields of a type that may change (its name and slug may not)."""

    logo_url: Text | None = None
    documentation_url: Text | None = None
    description: Text | None = None
    code_example: Text | None = None


class BlockTypeRead(_Read):
    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    name: str
    slug: str
    logo_url: str | None = None
    documentation_url: str | None = None
    description: str | None = None
    code_example: str | None = None
    is_protected: bool = False


# --- block schemas --------------------------------------------------------------------
class BlockSchemaCreate(RequestModel):
    fields: JsonDict = Field(
        description="The JSON schema of the type's fields, with `secret_fields` and "
        "`block_schema_references` as the `Block` class writes them."
    )
    block_type_id: uuid.UUID
    capabilities: Annotated[list[Name], Field(max_length=100)] = Field(default_factory=list)
    version: Name = DEFAULT_BLOCK_SCHEMA_VERSION


class BlockSchemaRead(_Read):
    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    checksum: str
    fields: dict[str, Any]
    block_type_id: uuid.UUID
    block_type: BlockTypeRead | None = None
    capabilities: list[str] = Field(default_factory=list)
    version: str = DEFAULT_BLOCK_SCHEMA_VERSION


# --- block documents ------------------------------------------------------------------
class BlockDocumentCreate(RequestModel):
    name: Slug | None = Field(default=None, description="Required unless anonymous.")
    data: JsonDict = Field(default_factory=dict)
    block_schema_id: uuid.UUID
    block_type_id: uuid.UUID
    is_anonymous: bool = False

    @model_validator(mode="after")
    def _named_unless_anonymous(self) -> BlockDocumentCreate:
        if self.name is None and not self.is_anonymous:
            raise ValueError("a block document needs a name (or is_anonymous: true)")
        return self


class BlockDocumentUpdate(RequestModel):
    """New data for a document. A secret field sent back as `********` keeps its
    stored value; with `merge_existing_data` (the default) fields left out keep theirs."""

    block_schema_id: uuid.UUID | None = None
    data: JsonDict = Field(default_factory=dict)
    merge_existing_data: bool = True


class BlockDocumentRead(_Read):
    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    name: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    block_schema_id: uuid.UUID
    block_schema: BlockSchemaRead | None = None
    block_type_id: uuid.UUID
    block_type_name: str | None = None
    block_type: BlockTypeRead | None = None
    block_document_references: dict[str, dict[str, Any]] = Field(default_factory=dict)
    is_anonymous: bool = False


class KeyRotation(BaseModel):
    """The answer of `POST /block_documents/rotate_key`."""

    rotated: int = Field(description="Documents re-encrypted under the new key.")
    key_id: str = Field(description="The fingerprint of the key documents are now under.")
    key_source: str = Field(description="'file' (the key file) or 'environment'.")
    message: str


# --- filters (Prefect's nested shapes) ------------------------------------------------
class _Filter(RequestModel):
    pass


class AnyIds(_Filter):
    any_: list[uuid.UUID] | None = None


class AnyNames(_Filter):
    any_: Annotated[list[str], Field(max_length=1000)] | None = None


class NameMatch(_Filter):
    any_: Annotated[list[str], Field(max_length=1000)] | None = None
    like_: Text | None = Field(default=None, description="Case-insensitive substring.")


class AllNames(_Filter):
    all_: Annotated[list[str], Field(max_length=100)] | None = None


class IsAnonymous(_Filter):
    eq_: bool | None = None


class BlockTypeFilter(_Filter):
    name: NameMatch | None = None
    slug: AnyNames | None = None


class BlockSchemaFilter(_Filter):
    id: AnyIds | None = None
    block_type_id: AnyIds | None = None
    block_capabilities: AllNames | None = None
    version: AnyNames | None = None


class BlockDocumentFilter(_Filter):
    id: AnyIds | None = None
    name: NameMatch | None = None
    block_type_id: AnyIds | None = None
    is_anonymous: IsAnonymous | None = Field(
        default_factory=lambda: IsAnonymous(eq_=False),
        description="Default: named documents only.",
    )


class BlockDocumentSort(StrEnum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    BLOCK_TYPE_AND_NAME_ASC = "BLOCK_TYPE_AND_NAME_ASC"


class BlockTypeQuery(RequestModel):
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None
    limit: Limit = 200
    offset: Offset = 0


class BlockSchemaQuery(RequestModel):
    block_schemas: BlockSchemaFilter | None = None
    limit: Limit = 200
    offset: Offset = 0


class BlockDocumentQuery(RequestModel):
    block_documents: BlockDocumentFilter | None = None
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None
    include_secrets: bool = Field(default=False, description="Secret values in clear.")
    sort: BlockDocumentSort = BlockDocumentSort.NAME_ASC
    limit: Limit = 200
    offset: Offset = 0


class BlockDocumentCount(RequestModel):
    block_documents: BlockDocumentFilter | None = None
    block_types: BlockTypeFilter | None = None
    block_schemas: BlockSchemaFilter | None = None


# --- checksums and secrets ------------------------------------------------------------
def schema_checksum(fields: Mapping[str, Any]) -> str:
    """`sha256:<hex>` of a block schema's fields: `secret_fields` left out (they follow
    from the fields), and of `definitions` only those that are not blocks (a nested
    block is referenced by its own schema, so its changes do not change this one)."""
    cleaned = _without_key(fields, "secret_fields")
    definitions = cleaned.get("definitions")
    if isinstance(definitions, dict):
        kept = _non_block_definitions(cleaned, definitions)
        if kept:
            cleaned["definitions"] = kept
        else:
            cleaned.pop("definitions")
    text = json.dumps(cleaned, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _without_key(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_key(v, key) for k, v in value.items() if k != key}
    if isinstance(value, list):
        return [_without_key(item, key) for item in value]
    return value


def _non_block_definitions(node: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """The definitions `node` refers to (transitively) that are not blocks."""
    found: dict[str, Any] = {}
    pending = list(_refs(node))
    while pending:
        name = pending.pop().rsplit("/", 1)[-1]
        definition = definitions.get(name)
        if name in found or not isinstance(definition, dict):
            continue
        if definition.get("block_type_slug") is None:
            found[name] = definition
            pending.extend(_refs(definition))
    return found


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for key, value in node.items():
            if key != "definitions":
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def secret_fields(fields: Mapping[str, Any] | None) -> list[str]:
    """The secret paths a block schema declares (`a`, `b.c`, `headers.*`)."""
    paths = (fields or {}).get("secret_fields") or []
    return [path for path in paths if isinstance(path, str) and path]


def mask_secrets(data: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """A copy of `data` whose secret values (at `paths`) read `********`; an absent or
    null secret stays as it is."""
    masked = copy.deepcopy(dict(data))
    for path in paths:
        _apply(masked, path.split("."), lambda _old: MASK)
    return masked


def secret_values(data: Mapping[str, Any], paths: Iterable[str]) -> list[Any]:
    """The values at the secret `paths` of `data` (for redacting them from logs)."""
    found: list[Any] = []
    for path in paths:
        found.extend(_get(data, location) for location in _leaves(data, path.split(".")))
    return [value for value in found if value is not None]


def restore_masked(
    new: Mapping[str, Any], current: Mapping[str, Any], paths: Iterable[str]
) -> dict[str, Any]:
    """`new` with every secret sent back as `********` replaced by its stored value in
    `current` (a form that echoes a masked value must not overwrite the secret)."""
    restored = copy.deepcopy(dict(new))
    for path in paths:
        parts = path.split(".")
        for location in _leaves(restored, parts):
            if _get(restored, location) == MASK:
                old = _get(current, location, _MISSING)
                if old is not _MISSING:
                    _set(restored, location, old)
    return restored


_MISSING = object()


def _apply(node: Any, parts: list[str], change: Any) -> None:
    """Replace each non-null value at `parts` (`*` matches every key) by `change(old)`;
    under a `*` every leaf is replaced, the keys stay."""
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        value = node[key]
        if rest:
            _apply(value, rest, change)
        elif head == "*":
            node[key] = _mask_leaves(value, change)
        elif value is not None:
            node[key] = change(value)


def _mask_leaves(value: Any, change: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mask_leaves(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(item, change) for item in value]
    return value if value is None else change(value)


def _leaves(node: Any, parts: list[str], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The locations in `node` a secret path names (leaves under a `*`)."""
    if not parts:
        return [prefix]
    if not isinstance(node, dict):
        return []
    head, rest = parts[0], parts[1:]
    if head != "*":
        return _leaves(node[head], rest, (*prefix, head)) if head in node else []
    found: list[tuple[str, ...]] = []
    for key, value in node.items():
        if rest:
            found.extend(_leaves(value, rest, (*prefix, key)))
        else:
            found.extend(_all_leaves(value, (*prefix, key)))
    return found


def _all_leaves(value: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(value, dict):
        return [loc for key, item in value.items() for loc in _all_leaves(item, (*prefix, key))]
    return [prefix]


def _get(node: Any, location: tuple[str, ...], default: Any = None) -> Any:
    for part in location:
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _set(node: Any, location: tuple[str, ...], value: Any) -> None:
    for part in location[:-1]:
        node = node[part]
    node[location[-1]] = value

"""`Block`: typed configuration saved by name on the API (Prefect's `prefect.blocks.core`).

    from vibepiper.blocks.core import Block
    from pydantic import SecretStr

    class Database(Block):
        host: str
        password: SecretStr

    Database(host="db.local", password="s3cret").save("prod")
    db = Database.load("prod")                    # or Block.load("database/prod")
    db.password.get_secret_value()                # 's3cret'

A subclass is a *block type* (slug: `get_block_type_slug()`, from the class name or
`_block_type_slug`); its fields' JSON schema, with the secret fields and nested blocks
marked, is a *block schema* identified by its checksum. `save()` registers both on first
use (a changed class registers a new schema), then stores the values as a *block
document*, encrypted by the server. A field holding a saved block is stored as a
reference to that block's document and loaded back as the block.

Each operation has an async twin (`asave`, `aload`, `aload_from_ref`, `adelete`,
`aregister_type_and_schema`); called in async code, the sync name returns the twin's
coroutine, as in Prefect. Both are one plan of API calls (`_save_plan`, ...) that the
client drives, so they cannot drift apart. With no `VIBEPIPER_API_URL` the client is
the in-process API over the embedded store: blocks need no server.
"""

from __future__ import annotations

import abc
import inspect
import re
import typing
import uuid
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Self, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    SecretBytes,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic import Secret as PydanticSecret

from vibepiper.utilities.dispatch import run_sync

if TYPE_CHECKING:
    from pydantic_core.core_schema import ValidatorFunctionWrapHandler

    from vibepiper.client._client import SyncVibePiperClient, VibePiperClient
    from vibepiper.client._layer import Plan
    from vibepiper.schemas.blocks import (
        BlockDocumentRead,
        BlockSchemaCreate,
        BlockTypeCreate,
    )

__all__ = [
    "Block",
    "BlockNotSavedError",
    "InvalidBlockRegistration",
    "UnknownBlockType",
]

_REGISTRY: dict[str, type[Block]] = {}
_META_KEYS = ("block_type_slug", "_block_document_id", "_block_document_name", "_is_anonymous")
_BUILT_IN_MODULES = (
    "vibepiper.blocks.system",
    "vibepiper.blocks.webhook",
    "vibepiper.blocks.notifications",
    "vibepiper.filesystems",
)


class InvalidBlockRegistration(Exception):
    """`register_type_and_schema` was called on `Block` or on an interface class."""


class UnknownBlockType(Exception):
    """No block class is known for a block type slug in this process."""


class BlockNotSavedError(RuntimeError):
    """An operation needs the block to be saved first."""


def slugify(text: str) -> str:
    """`Local File System` -> `local-file-system`, `MyDatabase` -> `mydatabase`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _schema_extra(schema: dict[str, Any], model: type[Block]) -> None:
    schema["block_type_slug"] = model.get_block_type_slug()
    description = model.get_description()
    if description:
        schema["description"] = description
    else:
        schema.pop("description", None)
    secrets: list[str] = []
    for name, field in model.model_fields.items():
        if field.annotation is not None:
            _collect_secret_fields(field.alias or name, field.annotation, secrets)
    schema["secret_fields"] = secrets
    references: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        found = [
            nested._to_block_schema_reference_dict()
            for nested in _block_classes_in(field.annotation)
        ]
        if found:
            references[field.alias or name] = found[0] if len(found) == 1 else found
    schema["block_schema_references"] = references


def _is_subclass(annotation: Any, parent: type) -> bool:
    return (
        inspect.isclass(annotation)
        and get_origin(annotation) is None
        and issubclass(annotation, parent)
    )


def _nested_args(annotation: Any) -> tuple[Any, ...]:
    origin = get_origin(annotation)
    if origin in (Union, list, dict, tuple, set, typing.Annotated) or _is_union_type(origin):
        return get_args(annotation)
    return ()


def _is_union_type(origin: Any) -> bool:
    import types

    return origin is types.UnionType


def _collect_secret_fields(name: str, annotation: Any, secrets: list[str]) -> None:
    """Add to `secrets` the dotted paths of the secret values `annotation` holds."""
    nested = _nested_args(annotation)
    if nested:
        for inner in nested:
            _collect_secret_fields(name, inner, secrets)
        return
    from vibepiper.types import SecretDict

    if _is_subclass(annotation, SecretDict):
        secrets.append(f"{name}.*")
    elif annotation in (SecretStr, SecretBytes) or _is_pydantic_secret(annotation):
        secrets.append(name)
    elif Block.is_block_class(annotation):
        secrets.extend(f"{name}.{path}" for path in annotation.model_json_schema()["secret_fields"])
    elif _is_subclass(annotation, BaseModel):
        for field_name, field in annotation.model_fields.items():
            if field.annotation is not None:
                _collect_secret_fields(
                    f"{name}.{field.alias or field_name}", field.annotation, secrets
                )


def _is_pydantic_secret(annotation: Any) -> bool:
    origin = getattr(annotation, "__pydantic_generic_metadata__", {}).get("origin")
    return (
        annotation is PydanticSecret
        or origin is PydanticSecret
        or (_is_subclass(annotation, PydanticSecret))
    )


def _block_classes_in(annotation: Any) -> Iterator[type[Block]]:
    if Block.is_block_class(annotation):
        yield annotation
    for inner in _nested_args(annotation):
        yield from _block_classes_in(inner)


def _reveal(value: Any, top: bool = False) -> Any:
    """`value` as JSON data with its secrets in clear; a saved block held directly by a
    field is a reference to its document."""
    from pydantic_core import to_jsonable_python

    if isinstance(value, Block):
        if top and value._block_document_id is not None:
            return {"$ref": {"block_document_id": str(value._block_document_id)}}
        return {**value._revealed_data(), "block_type_slug": value.get_block_type_slug()}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, SecretBytes):
        return value.get_secret_value().decode("utf-8")
    if isinstance(value, PydanticSecret):
        return _reveal(value.get_secret_value())
    if isinstance(value, BaseModel):
        data = value.model_dump(mode="json", by_alias=True)
        for name, field in type(value).model_fields.items():
            data[field.alias or name] = _reveal(getattr(value, name))
        return data
    if isinstance(value, dict):
        return {str(key): _reveal(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reveal(item) for item in value]
    return to_jsonable_python(value)


class Block(BaseModel, abc.ABC):
    """Configuration saved by name (see the module docstring). Subclass it with fields;
    override `block_initialization` rather than `__init__`."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_schema_extra)  # type: ignore[typeddict-item]

    _block_type_name: ClassVar[str | None] = None
    _block_type_slug: ClassVar[str | None] = None
    _logo_url: ClassVar[str | None] = None
    _documentation_url: ClassVar[str | None] = None
    _description: ClassVar[str | None] = None
    _code_example: ClassVar[str | None] = None
    _block_type_id: ClassVar[uuid.UUID | None] = None
    _block_schema_id: ClassVar[uuid.UUID | None] = None
    _block_schema_capabilities: ClassVar[list[str] | None] = None
    _block_schema_version: ClassVar[str | None] = None

    _block_document_id: uuid.UUID | None = PrivateAttr(default=None)
    _block_document_name: str | None = PrivateAttr(default=None)
    _is_anonymous: bool | None = PrivateAttr(default=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.block_initialization()

    def block_initialization(self) -> None:
        """Called after the fields are set (at creation and when loaded)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.__pydantic_generic_metadata__.get("origin") is None:
            _REGISTRY[cls.get_block_type_slug()] = cls

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch_on_slug(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Data of a nested block names its type: validate it as that subclass (a field
        typed with a base class holds any of its block types)."""
        if isinstance(data, dict) and any(key in data for key in _META_KEYS):
            slug = data.get("block_type_slug")
            data = {key: value for key, value in data.items() if key not in _META_KEYS}
            target = _REGISTRY.get(slug) if isinstance(slug, str) else None
            if target is not None and target is not cls and issubclass(target, cls):
                return target.model_validate(data)
        return handler(data)

    def __str__(self) -> str:
        return self.__repr__()

    # --- identity ---------------------------------------------------------------------
    @classmethod
    def get_block_type_name(cls) -> str:
        return cls._block_type_name or cls.__name__

    @classmethod
    def get_block_type_slug(cls) -> str:
        return slugify(cls._block_type_slug or cls.get_block_type_name())

    @classmethod
    def get_block_capabilities(cls) -> frozenset[str]:
        """Every capability this class and its bases declare (`_block_schema_capabilities`)."""
        return frozenset(
            capability
            for base in cls.__mro__
            for capability in (getattr(base, "_block_schema_capabilities", None) or [])
        )

    @classmethod
    def get_block_schema_version(cls) -> str:
        from vibepiper.schemas.blocks import DEFAULT_BLOCK_SCHEMA_VERSION

        return cls._block_schema_version or DEFAULT_BLOCK_SCHEMA_VERSION

    @classmethod
    def get_description(cls) -> str | None:
        """`_description`, else the class docstring's first part (before its sections)."""
        if cls._description is not None:
            return cls._description
        doc = cls.__dict__.get("__doc__")
        if not doc:
            return None
        lines: list[str] = []
        for line in inspect.cleandoc(doc).splitlines():
            if re.match(r"^(Attributes|Args|Arguments|Examples?|Returns|Raises|Note):\s*$", line):
                break
            lines.append(line)
        return "\n".join(lines).strip() or None

    @classmethod
    def get_code_example(cls) -> str:
        if cls._code_example is not None:
            return inspect.cleandoc(cls._code_example)
        variable = cls.get_block_type_slug().replace("-", "_") + "_block"
        return (
            f"```python\nfrom {cls.__module__} import {cls.__name__}\n\n"
            f'{variable} = {cls.__name__}.load("BLOCK_NAME")\n```'
        )

    @staticmethod
    def is_block_class(block: Any) -> bool:
        return _is_subclass(block, Block)

    @staticmethod
    def annotation_refers_to_block_class(annotation: Any) -> bool:
        return any(True for _ in _block_classes_in(annotation))

    @classmethod
    def get_block_class_from_key(cls, key: str) -> type[Self]:
        """The block class of a block type slug (built-in blocks are always known)."""
        import importlib

        if key not in _REGISTRY:
            for module in _BUILT_IN_MODULES:
                importlib.import_module(module)
        found = _REGISTRY.get(key)
        if found is None:
            raise UnknownBlockType(
                f"No block class found for slug {key!r}. Please ensure that the block class "
                "is available in the current environment (import its module)."
            )
        return found  # type: ignore[return-value]

    def get_block_placeholder(self) -> str:
        """`vibepiper.blocks.<slug>.<name>`: the template naming this saved block."""
        if not self._block_document_name:
            raise BlockNotSavedError("Could not generate block placeholder for unsaved block.")
        return f"vibepiper.blocks.{self.get_block_type_slug()}.{self._block_document_name}"

    # --- schema -----------------------------------------------------------------------
    @classmethod
    def model_json_schema(  # type: ignore[override]
        cls,
        by_alias: bool = True,
        ref_template: str = "#/definitions/{model}",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The JSON schema with `secret_fields`, `block_type_slug` and
        `block_schema_references` (what the API stores as the block schema's fields)."""
        schema = super().model_json_schema(by_alias=by_alias, ref_template=ref_template, **kwargs)
        if "$defs" in schema:
            schema["definitions"] = schema.pop("$defs")
        return _without_additional_properties(schema)  # type: ignore[no-any-return]

    @classmethod
    def _calculate_schema_checksum(cls) -> str:
        from vibepiper.schemas.blocks import schema_checksum

        return schema_checksum(cls.model_json_schema())

    @classmethod
    def _to_block_schema_reference_dict(cls) -> dict[str, str]:
        return {
            "block_type_slug": cls.get_block_type_slug(),
            "block_schema_checksum": cls._calculate_schema_checksum(),
        }

    @classmethod
    def _to_block_type(cls) -> BlockTypeCreate:
        from vibepiper.schemas.blocks import BlockTypeCreate

        return BlockTypeCreate(
            name=cls.get_block_type_name(),
            slug=cls.get_block_type_slug(),
            logo_url=cls._logo_url,
            documentation_url=cls._documentation_url,
            description=cls.get_description(),
            code_example=cls.get_code_example(),
        )

    @classmethod
    def _to_block_schema(cls, block_type_id: uuid.UUID) -> BlockSchemaCreate:
        from vibepiper.schemas.blocks import BlockSchemaCreate

        return BlockSchemaCreate(
            fields=cls.model_json_schema(),
            block_type_id=block_type_id,
            capabilities=sorted(cls.get_block_capabilities()),
            version=cls.get_block_schema_version(),
        )

    # --- data -------------------------------------------------------------------------
    def _revealed_data(self) -> dict[str, Any]:
        """The fields as JSON data with secrets in clear (nested saved blocks inline)."""
        return {
            field.alias or name: _reveal(getattr(self, name))
            for name, field in type(self).model_fields.items()
        }

    def _document_data(self) -> dict[str, Any]:
        """What `save()` stores: the fields with secrets in clear, a saved block held by
        a field as a reference to its document."""
        return {
            field.alias or name: _reveal(getattr(self, name), top=True)
            for name, field in type(self).model_fields.items()
        }

    @classmethod
    def _from_block_document(cls, document: BlockDocumentRead) -> Self:
        block_class = cls
        if cls is Block or inspect.isabstract(cls):
            slug = document.block_type.slug if document.block_type is not None else None
            if slug is None:
                raise ValueError("Unable to determine the block type of the block document")
            block_class = cls.get_block_class_from_key(slug)
        block = block_class.model_validate(document.data)
        block._set_document(document)
        return block

    def _set_document(self, document: BlockDocumentRead) -> None:
        self._block_document_id = document.id
        self._block_document_name = document.name
        self._is_anonymous = document.is_anonymous
        type(self)._block_schema_id = document.block_schema_id
        type(self)._block_type_id = document.block_type_id
        self._set_nested(document.block_document_references)

    def _set_nested(self, references: dict[str, dict[str, Any]]) -> None:
        for name, reference in references.items():
            nested = getattr(self, _field_name(type(self), name), None)
            info = reference.get("block_document", {})
            if isinstance(nested, Block):
                nested._block_document_id = uuid.UUID(str(info["id"])) if info.get("id") else None
                nested._block_document_name = info.get("name")
                nested._is_anonymous = info.get("is_anonymous")
                nested._set_nested(info.get("block_document_references") or {})

    @classmethod
    def _load_from_block_document(cls, document: BlockDocumentRead, validate: bool = True) -> Self:
        _track_secrets(document)
        try:
            return cls._from_block_document(document)
        except ValidationError as exc:
            if validate:
                raise RuntimeError(
                    f"Unable to load {document.name!r} of block type "
                    f"{cls.get_block_type_slug()!r} due to failed validation. To load without "
                    "validation, try loading again with `validate=False`."
                ) from exc
            missing = {str(error["loc"][0]): None for error in exc.errors() if error.get("loc")}
            warnings.warn(
                f"Could not fully load {document.name!r} of block type "
                f"{cls.get_block_type_slug()!r}: the fields {sorted(missing)} do not fit the "
                f"class {cls.__name__!r} (it changed since the block was saved). Set them, "
                f'then run `{cls.__name__}.save("{document.name}", overwrite=True)`.',
                UserWarning,
                stacklevel=3,
            )
            block = cls.model_construct(**{**document.data, **missing})
            block._block_document_id = document.id
            block._block_document_name = document.name
            block._is_anonymous = document.is_anonymous
            return block

    # --- plans: each operation once, driven by a sync or an async client --------------
    @classmethod
    def _register_plan(cls) -> Plan[None]:
        from vibepiper.client import _config_calls as calls
        from vibepiper.exceptions import ObjectAlreadyExists, ObjectNotFound
        from vibepiper.schemas.blocks import BlockTypeUpdate

        if cls is Block:
            raise InvalidBlockRegistration(
                "`register_type_and_schema` should be called on a Block subclass and not on "
                "the Block class directly."
            )
        if abc.ABC in cls.__bases__ or inspect.isabstract(cls):
            raise InvalidBlockRegistration(
                "`register_type_and_schema` should be called on a Block subclass and not on "
                f"a Block interface class directly ({cls.__name__} is abstract)."
            )
        for field in cls.model_fields.values():
            for nested in _block_classes_in(field.annotation):
                if not (abc.ABC in nested.__bases__ or inspect.isabstract(nested)):
                    yield from nested._register_plan()
        local = cls._to_block_type()
        try:
            block_type = yield calls.read_block_type_by_slug(local.slug)
        except ObjectNotFound:
            try:
                block_type = yield calls.create_block_type(local)
            except ObjectAlreadyExists:  # another process registered it meanwhile
                block_type = yield calls.read_block_type_by_slug(local.slug)
        else:
            changes = {
                name: getattr(local, name)
                for name in ("logo_url", "documentation_url", "description", "code_example")
                if getattr(local, name) != getattr(block_type, name)
            }
            if changes:
                yield calls.update_block_type(block_type.id, BlockTypeUpdate(**changes))
        cls._block_type_id = block_type.id
        checksum, version = cls._calculate_schema_checksum(), cls.get_block_schema_version()
        try:
            schema = yield calls.read_block_schema_by_checksum(checksum, version)
        except ObjectNotFound:
            schema = yield calls.create_block_schema(cls._to_block_schema(block_type.id))
        cls._block_schema_id = schema.id

    def _save_plan(
        self, name: str | None, overwrite: bool, is_anonymous: bool = False
    ) -> Plan[uuid.UUID]:
        from vibepiper.client import _config_calls as calls
        from vibepiper.exceptions import ObjectAlreadyExists
        from vibepiper.schemas.blocks import BlockDocumentCreate, BlockDocumentUpdate

        if name is None and not is_anonymous:
            if self._block_document_name is None:
                raise ValueError(
                    "You're attempting to save a block document without a name. Please either "
                    "call `save` with a `name` or pass `is_anonymous=True` to save an "
                    "anonymous block."
                )
            name = self._block_document_name
        yield from type(self)._register_plan()
        schema_id, type_id = type(self)._block_schema_id, type(self)._block_type_id
        assert schema_id is not None and type_id is not None
        data = self._document_data()
        body = BlockDocumentCreate(
            name=name,
            data=data,
            block_schema_id=schema_id,
            block_type_id=type_id,
            is_anonymous=is_anonymous,
        )
        try:
            document = yield calls.create_block_document(body)
        except ObjectAlreadyExists:
            if not overwrite:
                raise ValueError(
                    "You are attempting to save values with a name that is already in use for "
                    "this block type. If you would like to overwrite the values that are saved, "
                    "then save with `overwrite=True`."
                ) from None
            assert name is not None
            existing = yield calls.read_block_document_by_name(
                name, self.get_block_type_slug(), include_secrets=False
            )
            update = BlockDocumentUpdate(
                block_schema_id=schema_id, data=data, merge_existing_data=False
            )
            yield calls.update_block_document(existing.id, update)
            document = yield calls.read_block_document(existing.id, include_secrets=False)
        self._block_document_id = document.id
        self._block_document_name = document.name
        self._is_anonymous = document.is_anonymous
        return document.id  # type: ignore[no-any-return]

    @classmethod
    def _document_plan(cls, name: str, with_slug: bool = False) -> Plan[BlockDocumentRead]:
        from vibepiper.client import _config_calls as calls
        from vibepiper.exceptions import ObjectNotFound

        if cls is Block or with_slug:
            slug, separator, document_name = name.partition("/")
            if not separator or not slug or not document_name:
                raise ValueError(
                    f"Block.load needs '<block-type-slug>/<block-document-name>', got {name!r}"
                )
        else:
            slug, document_name = cls.get_block_type_slug(), name
        try:
            document: BlockDocumentRead = yield calls.read_block_document_by_name(
                document_name, slug, include_secrets=True
            )
        except ObjectNotFound:
            raise ValueError(
                f"Unable to find block document named {document_name} for block type {slug}"
            ) from None
        return document

    @classmethod
    def _ref_plan(cls, ref: str | uuid.UUID | dict[str, Any]) -> Plan[BlockDocumentRead]:
        from vibepiper.client import _config_calls as calls
        from vibepiper.exceptions import ObjectNotFound

        if isinstance(ref, dict):
            if ref.get("block_document_id"):
                ref = ref["block_document_id"]
            elif ref.get("block_document_slug"):
                slug = str(ref["block_document_slug"])
                return (yield from cls._document_plan(slug, with_slug=True))
            else:
                raise ValueError(f"Invalid reference format {ref!r}.")
        try:
            document_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
        except ValueError:
            raise ValueError(f"Block document ID {ref!r} is not a valid UUID") from None
        try:
            document: BlockDocumentRead = yield calls.read_block_document(document_id, True)
        except ObjectNotFound:
            raise ValueError(f"Unable to find block document with ID {ref!r}") from None
        return document

    @classmethod
    def _delete_plan(cls, name: str) -> Plan[None]:
        from vibepiper.client import _config_calls as calls

        document = yield from cls._document_plan(name)
        yield calls.delete_block_document(document.id)

    # --- the public operations and their async twins ----------------------------------
    @classmethod
    def register_type_and_schema(cls, client: Any = None, *, _sync: bool | None = None) -> None:
        """Make this block type and its current schema known to the API (and its nested
        blocks'); idempotent. In async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aregister_type_and_schema(client)  # type: ignore[return-value]
        _drive(cls._register_plan(), client)

    @classmethod
    async def aregister_type_and_schema(cls, client: Any = None) -> None:
        await _adrive(cls._register_plan(), client)

    def save(
        self,
        name: str | None = None,
        overwrite: bool = False,
        client: Any = None,
        *,
        _sync: bool | None = None,
    ) -> uuid.UUID:
        """Save the block as the document `name` of its type (registering the type and
        schema first); `overwrite=True` replaces a document of that name. Returns the
        document's id. In async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return self.asave(name, overwrite, client)  # type: ignore[return-value]
        document_id: uuid.UUID = _drive(self._save_plan(name, overwrite), client)
        return document_id

    async def asave(
        self, name: str | None = None, overwrite: bool = False, client: Any = None
    ) -> uuid.UUID:
        document_id: uuid.UUID = await _adrive(self._save_plan(name, overwrite), client)
        return document_id

    async def _save(
        self,
        name: str | None = None,
        is_anonymous: bool = False,
        overwrite: bool = False,
        client: Any = None,
    ) -> uuid.UUID:
        """Prefect's internal save, anonymous documents included."""
        plan = self._save_plan(name, overwrite, is_anonymous)
        document_id: uuid.UUID = await _adrive(plan, client)
        return document_id

    @classmethod
    def load(
        cls,
        name: str,
        validate: bool = True,
        client: Any = None,
        *,
        _sync: bool | None = None,
    ) -> Self:
        """The block saved as `name` (on `Block` itself: `"<slug>/<name>"`), secrets
        included. `validate=False` loads a document saved with an older version of the
        class (with a warning). ValueError when there is no such document. In async
        code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aload(name, validate, client)  # type: ignore[return-value]
        document = _drive(cls._document_plan(name), client)
        return cls._load_from_block_document(document, validate)

    @classmethod
    async def aload(cls, name: str, validate: bool = True, client: Any = None) -> Self:
        document = await _adrive(cls._document_plan(name), client)
        return cls._load_from_block_document(document, validate)

    @classmethod
    def load_from_ref(
        cls,
        ref: str | uuid.UUID | dict[str, Any],
        validate: bool = True,
        client: Any = None,
        *,
        _sync: bool | None = None,
    ) -> Self:
        """The block a reference names: a document id, `{"block_document_id": ...}` or
        `{"block_document_slug": "<slug>/<name>"}`."""
        if not run_sync(_sync):
            return cls.aload_from_ref(ref, validate, client)  # type: ignore[return-value]
        document = _drive(cls._ref_plan(ref), client)
        return cls._load_from_block_document(document, validate)

    @classmethod
    async def aload_from_ref(
        cls, ref: str | uuid.UUID | dict[str, Any], validate: bool = True, client: Any = None
    ) -> Self:
        document = await _adrive(cls._ref_plan(ref), client)
        return cls._load_from_block_document(document, validate)

    @classmethod
    def delete(cls, name: str, client: Any = None, *, _sync: bool | None = None) -> None:
        """Delete the saved block `name` (on `Block`: `"<slug>/<name>"`)."""
        if not run_sync(_sync):
            return cls.adelete(name, client)  # type: ignore[return-value]
        _drive(cls._delete_plan(name), client)

    @classmethod
    async def adelete(cls, name: str, client: Any = None) -> None:
        await _adrive(cls._delete_plan(name), client)


def _track_secrets(document: BlockDocumentRead) -> None:
    """Keep the document's secret values out of run log lines (`logging.redaction`)."""
    from vibepiper.logging.redaction import add_secrets
    from vibepiper.schemas.blocks import secret_fields, secret_values

    fields = document.block_schema.fields if document.block_schema is not None else None
    paths = secret_fields(fields)
    if paths:
        add_secrets(secret_values(document.data, paths))


def _field_name(model: type[BaseModel], key: str) -> str:
    for name, field in model.model_fields.items():
        if field.alias == key:
            return name
    return key


def _without_additional_properties(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _without_additional_properties(v)
            for k, v in node.items()
            if k != "additionalProperties"
        }
    if isinstance(node, list):
        return [_without_additional_properties(item) for item in node]
    return node


def _drive(plan: Plan[Any], client: SyncVibePiperClient | VibePiperClient | None) -> Any:
    """Run `plan` with a blocking client (`client` when it is one, else a new one)."""
    from vibepiper.client._client import SyncVibePiperClient

    if isinstance(client, SyncVibePiperClient):
        return client._run(plan)
    if client is not None:  # an async client given to a sync call: drive it on a loop
        import asyncio

        return asyncio.run(client._run(plan))
    from vibepiper.client import get_client

    with get_client(sync_client=True) as own:
        return own._run(plan)


async def _adrive(plan: Plan[Any], client: SyncVibePiperClient | VibePiperClient | None) -> Any:
    from vibepiper.client._client import VibePiperClient

    if isinstance(client, VibePiperClient):
        return await client._run(plan)
    if client is not None:
        import asyncio

        return await asyncio.to_thread(client._run, plan)
    from vibepiper.client import get_client

    async with get_client() as own:
        return await own._run(plan)

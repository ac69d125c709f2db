"""The byte formats of the serializers: pickle, JSON with typed objects, compression.

`vibepiper.serializers` wraps these functions in pydantic models (Prefect's API); the
engine calls them directly for the serializers named by a string, so that persisting
a result does not import pydantic (a tenth of a second per process).
"""

from __future__ import annotations

import base64
import functools
import importlib
import importlib.util
import io
from typing import Any

# libraries known to have the right functions: not imported just to check them
KNOWN_PICKLE_LIBS = frozenset({"cloudpickle", "pickle"})
KNOWN_COMPRESSION_LIBS = frozenset({"lzma", "zlib", "bz2", "gzip"})
DEFAULT_OBJECT_ENCODER = "vibepiper.serializers.prefect_json_object_encoder"
DEFAULT_OBJECT_DECODER = "vibepiper.serializers.prefect_json_object_decoder"


@functools.cache
def _prefect_installed() -> bool:
    return importlib.util.find_spec("prefect") is not None


def import_object(path: str) -> Any:
    """The module or object at a dotted path (`"json"`, `"uuid.UUID"`, `"pkg.mod.fn"`).

    A `prefect.` path is read as the `vibepiper.` one when Prefect is not installed.
    """
    if path.startswith("prefect.") and not _prefect_installed():
        path = "vibepiper." + path.removeprefix("prefect.")
    try:
        return importlib.import_module(path)
    except ImportError:
        if "." not in path:
            raise
    module_name, _, attribute = path.rpartition(".")
    parent = import_object(module_name)
    try:
        return getattr(parent, attribute)
    except AttributeError:
        raise ImportError(f"{module_name!r} has no attribute {attribute!r}") from None


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# --- pickle ----------------------------------------------------------------------------------
def pickle_dumps(obj: Any, picklelib: str = "cloudpickle") -> bytes:
    """`obj` pickled with `picklelib`, base64-encoded (as Prefect stores pickles)."""
    return base64.encodebytes(import_object(picklelib).dumps(obj))


def pickle_loads(blob: bytes, picklelib: str = "cloudpickle") -> Any:
    data = bytes(blob)
    # a pickle stored raw (results written before pickles were base64-encoded) starts
    # with the PROTO opcode, which base64 text never holds
    if not data.startswith(b"\x80"):
        data = base64.decodebytes(data)
    if picklelib in KNOWN_PICKLE_LIBS:
        import pickle  # cloudpickle writes standard pickles: no need to import it

        return pickle.loads(data)
    return import_object(picklelib).loads(data)


# --- JSON --------------------------------------------------------------------------------------
def prefect_json_object_encoder(obj: Any) -> Any:
    """`json.dumps(default=...)` for values JSON has no form for.

    A pydantic model, dataclass, datetime, UUID, Decimal, path, set, ... is written as
    `{"__class__": "<import path>", "data": <its JSON form>}` so that
    `prefect_json_object_decoder` builds the same type again; an exception as
    `{"__exc_type__": ..., "message": ...}`; a file object as a placeholder (its
    content is not read). Raises TypeError for anything else.
    """
    if isinstance(obj, BaseException):
        return {"__exc_type__": qualified_name(type(obj)), "message": str(obj)}
    if isinstance(obj, io.IOBase):
        return {
            "__class__": qualified_name(type(obj)),
            "data": f"<file object placeholder: {type(obj).__name__} {obj!r}, not read>",
        }
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    try:
        data = to_jsonable_python(obj)
    except PydanticSerializationError:
        raise TypeError(
            f"Object of type {type(obj).__name__} is not JSON serializable; "
            "use the pickle serializer (result_serializer='pickle') for it"
        ) from None
    return {"__class__": qualified_name(type(obj)), "data": data}


def prefect_json_object_decoder(result: dict[str, Any]) -> Any:
    """`json.loads(object_hook=...)`: builds the values `prefect_json_object_encoder` wrote.

    Other dictionaries are returned as they are.
    """
    if "__class__" in result:
        from pydantic import TypeAdapter

        return TypeAdapter(import_object(result["__class__"])).validate_python(result["data"])
    if "__exc_type__" in result:
        return import_object(result["__exc_type__"])(result["message"])
    return result


def json_dumps(
    obj: Any,
    jsonlib: str = "json",
    object_encoder: str | None = DEFAULT_OBJECT_ENCODER,
    dumps_kwargs: dict[str, Any] | None = None,
) -> bytes:
    kwargs = dict(dumps_kwargs or {})
    if object_encoder:
        kwargs["default"] = _object_hook(object_encoder)
    text = import_object(jsonlib).dumps(obj, **kwargs)
    return text.encode() if isinstance(text, str) else bytes(text)


def json_loads(
    blob: bytes,
    jsonlib: str = "json",
    object_decoder: str | None = DEFAULT_OBJECT_DECODER,
    loads_kwargs: dict[str, Any] | None = None,
) -> Any:
    kwargs = dict(loads_kwargs or {})
    if object_decoder:
        kwargs["object_hook"] = _object_hook(object_decoder)
    return import_object(jsonlib).loads(bytes(blob).decode(), **kwargs)


def _object_hook(path: str) -> Any:
    # the defaults are the functions above: no need to import vibepiper.serializers
    if path == DEFAULT_OBJECT_ENCODER:
        return prefect_json_object_encoder
    if path == DEFAULT_OBJECT_DECODER:
        return prefect_json_object_decoder
    return import_object(path)


# --- compression -------------------------------------------------------------------------------
def compress(blob: bytes, compressionlib: str = "lzma") -> bytes:
    """`blob` compressed with `compressionlib`, base64-encoded."""
    return base64.encodebytes(import_object(compressionlib).compress(blob))


def decompress(blob: bytes, compressionlib: str = "lzma") -> bytes:
    return bytes(import_object(compressionlib).decompress(base64.decodebytes(bytes(blob))))


def check_library(value: str, functions: tuple[str, ...], what: str) -> str:
    """`value` if it imports and has `functions`; ValueError naming what is missing."""
    try:
        library = import_object(value)
    except ImportError as exc:
        raise ValueError(f"{what} {value!r} cannot be imported: {exc}") from None
    for function in functions:
        if not callable(getattr(library, function, None)):
            raise ValueError(f"{what} {value!r} has no {function}() function")
    return value


# --- serializers named by a string, without pydantic --------------------------------------------
class NamedCodec:
    """The serializer a name stands for ("pickle", "cloudpickle", "json"), with
    `vibepiper.serializers`' defaults: same bytes, no pydantic model."""

    __slots__ = ("type",)

    def __init__(self, name: str) -> None:
        self.type = "pickle" if name == "cloudpickle" else name

    def dumps(self, obj: Any) -> bytes:
        if self.type == "json":
            return json_dumps(obj)
        return pickle_dumps(obj)

    def loads(self, blob: bytes) -> Any:
        if self.type == "json":
            return json_loads(blob)
        return pickle_loads(blob)

    def __repr__(self) -> str:
        return f"NamedCodec({self.type!r})"


NAMED_CODECS = frozenset({"pickle", "cloudpickle", "json"})

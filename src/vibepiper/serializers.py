"""Serializers: how a value becomes bytes and back (Prefect 3's `prefect.serializers`).

Every serializer is a pydantic model with a `type` string that names it, so a stored
result can say how to read it back: `Serializer(type="json")` builds a `JSONSerializer`,
and a serializer's options (`picklelib`, `compressionlib`, ...) travel with it.

    from vibepiper.serializers import CompressedSerializer, JSONSerializer

    @task(result_serializer=CompressedSerializer(serializer=JSONSerializer()))
    def report() -> dict: ...

Libraries are named by import path (`picklelib="cloudpickle"`, `compressionlib="zlib"`)
and imported when used. Paths written by Prefect (`prefect.serializers...`) are read as
`vibepiper.` ones. A subclass of `Serializer` with its own `type` default registers
itself under that name.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vibepiper.utilities import codecs
from vibepiper.utilities.codecs import prefect_json_object_decoder, prefect_json_object_encoder

D = TypeVar("D")

# type name -> the class it builds; filled as subclasses are defined
_REGISTRY: dict[str, type[Serializer[Any]]] = {}


class Serializer(BaseModel, Generic[D]):
    """Turns objects of type `D` into bytes (`dumps`) and back (`loads`).

    `Serializer(type="pickle")` (or any registered type name) builds the subclass
    registered under that name.
    """

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    type: str

    def __new__(cls, **kwargs: Any) -> Any:
        name = kwargs.get("type")
        if name and cls is Serializer:
            return super().__new__(_lookup(name))
        return super().__new__(cls)

    def __init__(self, **data: Any) -> None:
        data.setdefault("type", type(self).__dispatch_key__() or "__base__")
        super().__init__(**data)

    @classmethod
    def __dispatch_key__(cls) -> str | None:
        """The type name this class registers under (its `type` default), if any."""
        field = cls.model_fields.get("type")
        default = field.default if field is not None else None
        return default if isinstance(default, str) else None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dispatch_key__()
        generic_origin = cls.__pydantic_generic_metadata__.get("origin")
        if name is not None and generic_origin is None:
            _REGISTRY[name] = cls

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch_on_type(cls, value: Any, handler: Any) -> Any:
        # a dict or a type name validated as a base class builds the subclass it names;
        # `Serializer[Any]` (a field's type) takes any serializer
        origin = cast("type[Serializer[Any]]", cls.__pydantic_generic_metadata__["origin"] or cls)
        if isinstance(value, origin) and not isinstance(value, cls):
            return value
        if isinstance(value, str):
            value = {"type": value}
        name = value.get("type") if isinstance(value, dict) else None
        if name and name != "__base__" and name != origin.__dispatch_key__():
            target = _lookup(name)
            if not issubclass(target, origin):
                raise ValueError(
                    f"{origin.__name__} has type {origin.__dispatch_key__()!r}, not {name!r}"
                )
            return target.model_validate(value)
        return handler(value)

    def dumps(self, obj: D) -> bytes:
        """Encode `obj` into bytes."""
        raise NotImplementedError

    def loads(self, blob: bytes) -> D:
        """Decode bytes written by `dumps` into the object."""
        raise NotImplementedError


def _lookup(name: str) -> type[Serializer[Any]]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValidationError.from_exception_data(
            "Serializer",
            [
                {
                    "type": PydanticCustomError(
                        "unknown_serializer",
                        "Unknown serializer type '{name}'; known types: {known}",
                        {"name": name, "known": ", ".join(sorted(_REGISTRY))},
                    ),
                    "loc": ("type",),
                    "input": name,
                }
            ],
        ) from None


class PickleSerializer(Serializer[D]):
    """Pickles objects with `picklelib` (cloudpickle by default: functions, lambdas and
    classes of `__main__` work); the pickle is base64-encoded."""

    type: str = Field(default="pickle", frozen=True)
    picklelib: str = "cloudpickle"
    picklelib_version: str | None = None

    @field_validator("picklelib")
    @classmethod
    def _check_picklelib(cls, value: str) -> str:
        if value in codecs.KNOWN_PICKLE_LIBS:
            return value
        return codecs.check_library(value, ("dumps", "loads"), "Pickle library")

    def dumps(self, obj: D) -> bytes:
        return codecs.pickle_dumps(obj, self.picklelib)

    def loads(self, blob: bytes) -> D:
        return codecs.pickle_loads(blob, self.picklelib)  # type: ignore[no-any-return]


class JSONSerializer(Serializer[D]):
    """JSON as UTF-8 bytes. Values JSON cannot hold (pydantic models, datetimes, UUIDs,
    sets, ...) go through `object_encoder` and come back through `object_decoder`."""

    type: str = Field(default="json", frozen=True)
    jsonlib: str = "json"
    object_encoder: str | None = Field(
        default=codecs.DEFAULT_OBJECT_ENCODER,
        description="Import path of a callable encoding what the JSON library cannot.",
    )
    object_decoder: str | None = Field(
        default=codecs.DEFAULT_OBJECT_DECODER,
        description="Import path of a callable given each decoded JSON object.",
    )
    dumps_kwargs: dict[str, Any] = Field(default_factory=dict)
    loads_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("dumps_kwargs")
    @classmethod
    def _no_default_in_dumps_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "default" in value:
            raise ValueError("dumps_kwargs cannot hold 'default': set object_encoder instead")
        return value

    @field_validator("loads_kwargs")
    @classmethod
    def _no_object_hook_in_loads_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "object_hook" in value:
            raise ValueError("loads_kwargs cannot hold 'object_hook': set object_decoder instead")
        return value

    def dumps(self, obj: D) -> bytes:
        return codecs.json_dumps(obj, self.jsonlib, self.object_encoder, self.dumps_kwargs)

    def loads(self, blob: bytes) -> D:
        return codecs.json_loads(  # type: ignore[no-any-return]
            blob, self.jsonlib, self.object_decoder, self.loads_kwargs
        )


class CompressedSerializer(Serializer[D]):
    """Another serializer's bytes, compressed with `compressionlib` (lzma by default)
    and base64-encoded."""

    type: str = Field(default="compressed", frozen=True)
    serializer: SerializeAsAny[Serializer[D]]
    compressionlib: str = "lzma"

    @field_validator("compressionlib")
    @classmethod
    def _check_compressionlib(cls, value: str) -> str:
        if value in codecs.KNOWN_COMPRESSION_LIBS:
            return value
        return codecs.check_library(value, ("compress", "decompress"), "Compression library")

    def dumps(self, obj: D) -> bytes:
        return codecs.compress(self.serializer.dumps(obj), self.compressionlib)

    def loads(self, blob: bytes) -> D:
        return self.serializer.loads(codecs.decompress(blob, self.compressionlib))


class CompressedPickleSerializer(CompressedSerializer[D]):
    """`CompressedSerializer` over a `PickleSerializer`."""

    type: str = Field(default="compressed/pickle", frozen=True)
    serializer: SerializeAsAny[Serializer[D]] = Field(default_factory=PickleSerializer)


class CompressedJSONSerializer(CompressedSerializer[D]):
    """`CompressedSerializer` over a `JSONSerializer`."""

    type: str = Field(default="compressed/json", frozen=True)
    serializer: SerializeAsAny[Serializer[D]] = Field(default_factory=JSONSerializer)


__all__ = [
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "prefect_json_object_decoder",
    "prefect_json_object_encoder",
]

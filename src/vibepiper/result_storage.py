"""Stored results: the file format, where results live, and the pointer to one.

A stored result is one file (or object): a magic line, a JSON header line (serializer,
expiration, ...) and the serialized value. Local paths are written to a temporary file
and renamed, other fsspec URLs with one `pipe` call, so a reader never sees half a
result. A `StoredResult` (storage URL + key + serializer) is what a state carries and
what the run store keeps, so `State.result()` loads the value in any process that sees
the storage.

This is the engine's side of `vibepiper.results`: it imports no pydantic, so a flow that
persists its results does not pay for it. Serializers named by a string ("pickle",
"json") are encoded here with the same bytes as `vibepiper.serializers`' models.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vibepiper.exceptions import ConfigurationError, MissingResult
from vibepiper.utilities.codecs import NAMED_CODECS, NamedCodec

_MAGIC = b"VPRESULT1\n"
_OBJECT_PREFIX = "object:"
# file systems that are neither local nor fsspec URLs, by the name records use for them
_FILESYSTEM_OBJECTS: dict[str, Any] = {}


class Codec(Protocol):
    """What a serializer must have: a `type` name, `dumps()` and `loads()`."""

    type: str

    def dumps(self, obj: Any) -> bytes: ...
    def loads(self, blob: bytes) -> Any: ...


# --- serializers -----------------------------------------------------------------------------
_CODECS: dict[str, Codec] = {}
# serializers given as objects (not pydantic models) by type, to read what they wrote
_OBJECT_CODECS: dict[str, Codec] = {}


def resolve_codec(spec: Any) -> Codec:
    """The serializer `spec` names ("pickle", "cloudpickle", "json", a registered
    `Serializer` type) or `spec` itself (an object with `type`, `dumps()`, `loads()`).
    None: the `results_default_serializer` setting."""
    if spec is None:
        from vibepiper.settings import get_settings

        spec = get_settings().results_default_serializer
    if isinstance(spec, str):
        return _named_codec(spec)
    if callable(getattr(spec, "dumps", None)) and callable(getattr(spec, "loads", None)):
        kind = getattr(spec, "type", None)
        if isinstance(kind, str) and not hasattr(spec, "model_dump"):
            _OBJECT_CODECS.setdefault(kind, spec)
        return spec  # type: ignore[no-any-return]
    raise ConfigurationError(f"result_serializer must be a name or a serializer, got {spec!r}")


def _named_codec(name: str) -> Codec:
    codec = _CODECS.get(name)
    if codec is not None:
        return codec
    if name in NAMED_CODECS:
        codec = NamedCodec(name)
    elif name in _OBJECT_CODECS:
        return _OBJECT_CODECS[name]
    else:
        codec = _registered_serializer(name, {})
    _CODECS[name] = codec
    return codec


def _registered_serializer(name: str, options: dict[str, Any]) -> Codec:
    from pydantic import ValidationError

    from vibepiper.serializers import _REGISTRY, Serializer

    if name not in _REGISTRY:
        known = sorted({*NAMED_CODECS, *_REGISTRY})
        raise ConfigurationError(
            f"Unknown result_serializer {name!r}: use one of {known} "
            "or an object with type, dumps() and loads()"
        )
    try:
        return Serializer.model_validate({**options, "type": name})  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigurationError(f"Serializer {name!r} options {options!r}: {exc}") from None


def codec_header(codec: Codec) -> dict[str, Any]:
    """How a header names `codec`: its type, and its options when not the defaults."""
    header: dict[str, Any] = {"serializer": codec.type}
    dump = getattr(codec, "model_dump", None)
    if callable(dump):
        options = dump(mode="json", serialize_as_any=True)
        try:
            defaults = type(codec)().model_dump(mode="json", serialize_as_any=True)  # type: ignore[attr-defined]
        except Exception:  # a required option: no default form
            defaults = {}
        changed = {k: v for k, v in options.items() if k != "type" and defaults.get(k) != v}
        if changed:
            header["serializer_options"] = changed
    return header


def codec_from_header(header: dict[str, Any]) -> Codec:
    options = header.get("serializer_options")
    if options:
        return _registered_serializer(str(header["serializer"]), options)
    return _named_codec(str(header["serializer"]))


# --- the file format -------------------------------------------------------------------------
def encode(header: dict[str, Any], payload: bytes) -> bytes:
    return _MAGIC + json.dumps(header).encode() + b"\n" + payload


def decode(blob: bytes, where: str) -> tuple[dict[str, Any], bytes]:
    """The header and payload of a stored result (VibePiper's format or Prefect's JSON
    record); MissingResult naming `where` for anything else."""
    if blob.startswith(_MAGIC):
        try:
            header_line, payload = blob[len(_MAGIC) :].split(b"\n", 1)
            return json.loads(header_line), payload
        except ValueError as exc:
            raise MissingResult(f"The stored result {where} cannot be read: {exc}") from None
    if blob.startswith(b"{"):
        prefect = _prefect_record(blob)
        if prefect is not None:
            return prefect
    raise MissingResult(f"The file {where} is not a stored result")


def _prefect_record(blob: bytes) -> tuple[dict[str, Any], bytes] | None:
    """A result record written by Prefect: `{"metadata": {...}, "result": "<bytes>"}`."""
    try:
        record = json.loads(blob)
        metadata = record["metadata"]
        serializer = dict(metadata.get("serializer") or {"type": "pickle"})
        result = record["result"]
    except (ValueError, KeyError, TypeError):
        return None
    kind = serializer.pop("type")
    header: dict[str, Any] = {"serializer": kind, "expiration": metadata.get("expiration")}
    serializer.pop("picklelib_version", None)
    options = {k: v for k, v in serializer.items() if not _prefect_default(kind, k, v)}
    if options:
        header["serializer_options"] = options
    payload = result.encode() if isinstance(result, str) else base64.b64decode(result)
    return header, payload


def _prefect_default(kind: str, option: str, value: Any) -> bool:
    defaults = {
        ("pickle", "picklelib"): "cloudpickle",
        ("json", "jsonlib"): "json",
        ("json", "object_encoder"): "prefect.serializers.prefect_json_object_encoder",
        ("json", "object_decoder"): "prefect.serializers.prefect_json_object_decoder",
        ("json", "dumps_kwargs"): {},
        ("json", "loads_kwargs"): {},
    }
    return (kind, option) in defaults and defaults[(kind, option)] == value


def header_expired(header: dict[str, Any], now: dt.datetime) -> bool:
    expiration = header.get("expiration")
    if not expiration:
        return False
    return dt.datetime.fromisoformat(str(expiration)) <= now


# --- where results live ----------------------------------------------------------------------
class ResultStorage:
    """Where results live: a local directory, an fsspec URL (`memory://`, `s3://...`), or a
    file system object (`LocalFileSystem`, `RemoteFileSystem`, or any object with
    `read_path()` and `write_path()`)."""

    def __init__(self, spec: str | Path | Any) -> None:
        self._fs: Any = None
        self._object: Any = None
        if not isinstance(spec, str | Path):
            spec = self._from_filesystem(spec)
        text = str(spec)
        if text.startswith(_OBJECT_PREFIX):
            self._object = _FILESYSTEM_OBJECTS.get(text)
            self.is_local = False
            self.url = text
            return
        self.is_local = "://" not in text or text.startswith("file://")
        if self.is_local:
            text = str(Path(text.removeprefix("file://")).expanduser().resolve())
        self.url = text.rstrip("/")

    def _from_filesystem(self, fs: Any) -> str:
        filesystems = sys.modules.get("vibepiper.filesystems")  # not loaded: not one of its
        if filesystems is not None and isinstance(fs, filesystems.LocalFileSystem):
            return str(fs._base())
        if filesystems is not None and isinstance(fs, filesystems.RemoteFileSystem):
            self._fs = fs.filesystem
            return str(fs.basepath)
        if callable(getattr(fs, "read_path", None)) and callable(getattr(fs, "write_path", None)):
            name = f"{_OBJECT_PREFIX}{type(fs).__qualname__}-{id(fs):x}"
            _FILESYSTEM_OBJECTS[name] = fs
            return name
        raise ConfigurationError(
            f"result_storage must be a path, a URL or a file system, got {fs!r}"
        )

    def _filesystem(self) -> Any:
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem(self.url.split("://", 1)[0])
        return self._fs

    def path(self, key: str) -> str:
        if self.is_local and key.startswith(self.url + "/"):
            key = key[len(self.url) + 1 :]  # an absolute path inside the storage
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"Result key {key!r} must be a relative path without '..'")
        return f"{self.url}/{key}"

    def write(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically."""
        path = self.path(key)
        if self._object is not None:
            self._object.write_path(key, data)
        elif self.is_local:
            write_file_atomically(Path(path), data)
        else:
            fs = self._filesystem()
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            fs.pipe_file(path, data)

    def read(self, key: str) -> bytes:
        path = self.path(key)
        try:
            if self._object is not None:
                return bytes(self._object.read_path(key))
            if self._from_other_process():
                raise MissingResult(
                    f"No stored result at key {key!r}: it is in a file system object of "
                    "another process, which this process cannot open"
                )
            if self.is_local:
                return Path(path).read_bytes()
            return bytes(self._filesystem().cat_file(path))
        except FileNotFoundError:
            raise MissingResult(f"No stored result at key {key!r} in {self.url}") from None
        except OSError as exc:
            raise MissingResult(
                f"The stored result at key {key!r} in {self.url} cannot be read: {exc}"
            ) from exc

    def _from_other_process(self) -> bool:
        return self.url.startswith(_OBJECT_PREFIX) and self._object is None

    def exists(self, key: str) -> bool:
        path = self.path(key)
        if self._object is not None:
            try:
                self._object.read_path(key)
            except (FileNotFoundError, ValueError):
                return False
            return True
        if self._from_other_process():
            return False
        if self.is_local:
            return Path(path).is_file()
        return bool(self._filesystem().exists(path))

    def __repr__(self) -> str:
        return f"ResultStorage({self.url!r})"


def write_file_atomically(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def default_storage_url() -> str:
    from vibepiper.settings import get_settings

    settings = get_settings()
    if settings.results_default_storage:
        return settings.results_default_storage
    if settings.home_is_memory:
        return "memory://vibepiper-results"
    return str(settings.home_path / "storage")


def resolve_storage(spec: Any) -> ResultStorage:
    """The storage for `spec`: a path, a URL, a file system, a ResultStorage, or the
    default (None)."""
    if isinstance(spec, ResultStorage):
        return spec
    if spec is None:
        return ResultStorage(default_storage_url())
    return ResultStorage(spec)


# --- reading and writing ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StoredResult:
    """Where a persisted value lives, and how to read it back."""

    storage: str
    key: str
    serializer: str = ""
    expiration: dt.datetime | None = None

    def load_result(self) -> Any:
        """Read and deserialize the stored value (MissingResult naming the key if gone)."""
        value, _ = read_result(ResultStorage(self.storage), self.key)
        return value

    def to_json(self) -> dict[str, Any]:
        return {
            "storage": self.storage,
            "key": self.key,
            "serializer": self.serializer,
            "expiration": self.expiration.isoformat() if self.expiration else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredResult:
        expiration = data.get("expiration")
        return cls(
            storage=data["storage"],
            key=data["key"],
            serializer=data.get("serializer") or "",
            expiration=dt.datetime.fromisoformat(expiration) if expiration else None,
        )


def serialize_value(value: Any, codec: Codec) -> bytes:
    try:
        return codec.dumps(value)
    except Exception as exc:
        raise ValueError(
            f"The result cannot be serialized with {codec.type!r} ({exc}); "
            "choose another result_serializer or return a serializable value"
        ) from exc


def result_header(
    codec: Codec, key: str, expiration: dt.datetime | None, **extra: Any
) -> dict[str, Any]:
    return {
        **codec_header(codec),
        "expiration": expiration.isoformat() if expiration else None,
        "created": dt.datetime.now(dt.UTC).isoformat(),
        "storage_key": key,
        **extra,
    }


def write_result(
    storage: ResultStorage,
    key: str,
    value: Any,
    serializer: Codec,
    expiration: dt.datetime | None = None,
) -> StoredResult:
    """Serialize `value` and store it under `key`; returns the pointer to it."""
    payload = serialize_value(value, serializer)
    storage.write(key, encode(result_header(serializer, key, expiration), payload))
    return StoredResult(storage.url, key, serializer.type, expiration)


def read_header(storage: ResultStorage, key: str) -> dict[str, Any]:
    """The header of the stored result under `key` (its value is not deserialized)."""
    header, _ = decode(storage.read(key), f"at key {key!r} in {storage.url}")
    return header


def read_result(storage: ResultStorage, key: str) -> tuple[Any, dict[str, Any]]:
    """The stored value under `key` and its header."""
    where = f"at key {key!r} in {storage.url}"
    header, payload = decode(storage.read(key), where)
    try:
        return codec_from_header(header).loads(payload), header
    except Exception as exc:
        raise MissingResult(f"The stored result {where} cannot be read: {exc}") from exc


__all__ = [
    "Codec",
    "ResultStorage",
    "StoredResult",
    "read_header",
    "read_result",
    "resolve_codec",
    "resolve_storage",
    "write_result",
]

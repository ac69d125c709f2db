"""Result persistence: serializers, storages and the records that point at stored values.

A persisted result is one file (or object) holding a small JSON header (serializer,
expiration) and the serialized value. Local paths are written to a temporary file and
renamed, other fsspec URLs with one `pipe` call, so a reader never sees half a result.
A `ResultRecord` (storage URL + key + serializer) is what a state carries and what the
store keeps, so `State.result()` can load the value in any process that sees the storage.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vibepiper.exceptions import ConfigurationError, MissingResult

_MAGIC = b"VPRESULT1\n"


@runtime_checkable
class Serializer(Protocol):
    """Turns values into bytes and back; `type` names it in stored headers."""

    type: str

    def dumps(self, obj: Any) -> bytes: ...
    def loads(self, blob: bytes) -> Any: ...


class PickleSerializer:
    """Pickle with cloudpickle (functions, lambdas and `__main__` classes work)."""

    type = "pickle"

    def dumps(self, obj: Any) -> bytes:
        import cloudpickle

        return bytes(cloudpickle.dumps(obj))

    def loads(self, blob: bytes) -> Any:
        return pickle.loads(blob)


class CloudPickleSerializer(PickleSerializer):
    type = "cloudpickle"


class JSONSerializer:
    """JSON; pydantic models, dates, UUIDs, paths and sets are encoded as JSON values."""

    type = "json"

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(obj, default=_json_default).encode()

    def loads(self, blob: bytes) -> Any:
        return json.loads(blob)


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(
        f"a {type(value).__name__} cannot be stored as JSON; use result_serializer='pickle'"
    )


_SERIALIZERS: dict[str, type[Any]] = {
    "pickle": PickleSerializer,
    "cloudpickle": CloudPickleSerializer,
    "json": JSONSerializer,
}


def get_serializer(spec: str | Serializer | None) -> Serializer:
    """The serializer named by `spec` ("pickle", "cloudpickle", "json") or `spec` itself."""
    if spec is None:
        from vibepiper.settings import get_settings

        spec = get_settings().results_default_serializer
    if isinstance(spec, str):
        try:
            return _SERIALIZERS[spec]()  # type: ignore[no-any-return]
        except KeyError:
            raise ConfigurationError(
                f"Unknown result_serializer {spec!r}: use one of {sorted(_SERIALIZERS)} "
                "or an object with type, dumps() and loads()"
            ) from None
    if isinstance(spec, Serializer):
        return spec
    raise ConfigurationError(f"result_serializer must be a name or a serializer, got {spec!r}")


class ResultStorage:
    """Where results live: a local directory or any fsspec URL (`memory://`, `s3://...`)."""

    def __init__(self, url: str | Path) -> None:
        text = str(url)
        self.is_local = "://" not in text or text.startswith("file://")
        if self.is_local:
            text = text.removeprefix("file://")
            text = str(Path(text).expanduser().resolve())
        self.url = text.rstrip("/")
        self._fs: Any = None

    def _filesystem(self) -> Any:
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem(self.url.split("://", 1)[0])
        return self._fs

    def path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"Result key {key!r} must be a relative path without '..'")
        return f"{self.url}/{key}"

    def write(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically."""
        path = self.path(key)
        if self.is_local:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        else:
            fs = self._filesystem()
            parent = path.rsplit("/", 1)[0]
            fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(path, data)

    def read(self, key: str) -> bytes:
        path = self.path(key)
        try:
            if self.is_local:
                return Path(path).read_bytes()
            return bytes(self._filesystem().cat_file(path))
        except FileNotFoundError:
            raise MissingResult(f"No stored result at key {key!r} in {self.url}") from None
        except OSError as exc:
            raise MissingResult(
                f"The stored result at key {key!r} in {self.url} cannot be read: {exc}"
            ) from exc

    def exists(self, key: str) -> bool:
        path = self.path(key)
        if self.is_local:
            return Path(path).is_file()
        return bool(self._filesystem().exists(path))

    def __repr__(self) -> str:
        return f"ResultStorage({self.url!r})"


def default_storage_url() -> str:
    from vibepiper.settings import get_settings

    settings = get_settings()
    if settings.results_default_storage:
        return settings.results_default_storage
    if settings.home_is_memory:
        return "memory://vibepiper-results"
    return str(settings.home_path / "storage")


def resolve_storage(spec: str | Path | ResultStorage | None) -> ResultStorage:
    """The storage for `spec`: a path, a URL, a ResultStorage, or the default."""
    if isinstance(spec, ResultStorage):
        return spec
    if spec is None:
        return ResultStorage(default_storage_url())
    if isinstance(spec, str | Path):
        return ResultStorage(spec)
    url = getattr(spec, "basepath", None) or getattr(spec, "url", None)
    if url:
        return ResultStorage(str(url))
    raise ConfigurationError(f"result_storage must be a path or URL, got {spec!r}")


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """Where a persisted value lives, and how to read it back."""

    storage: str
    key: str
    serializer: str
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
    def from_json(cls, data: dict[str, Any]) -> ResultRecord:
        expiration = data.get("expiration")
        return cls(
            storage=data["storage"],
            key=data["key"],
            serializer=data["serializer"],
            expiration=dt.datetime.fromisoformat(expiration) if expiration else None,
        )


def write_result(
    storage: ResultStorage,
    key: str,
    value: Any,
    serializer: Serializer,
    expiration: dt.datetime | None = None,
) -> ResultRecord:
    """Serialize `value` and store it under `key`; returns the record pointing at it."""
    try:
        payload = serializer.dumps(value)
    except Exception as exc:
        raise ValueError(
            f"The result cannot be serialized with {serializer.type!r} ({exc}); "
            "choose another result_serializer or return a serializable value"
        ) from exc
    header = {
        "serializer": serializer.type,
        "expiration": expiration.isoformat() if expiration else None,
        "created": dt.datetime.now(dt.UTC).isoformat(),
    }
    storage.write(key, _MAGIC + json.dumps(header).encode() + b"\n" + payload)
    return ResultRecord(storage.url, key, serializer.type, expiration)


def read_result(storage: ResultStorage, key: str) -> tuple[Any, dict[str, Any]]:
    """The stored value under `key` and its header."""
    blob = storage.read(key)
    if not blob.startswith(_MAGIC):
        raise MissingResult(f"The file at key {key!r} in {storage.url} is not a stored result")
    try:
        header_line, payload = blob[len(_MAGIC) :].split(b"\n", 1)
        header = json.loads(header_line)
        serializer = get_serializer(header["serializer"])
        return serializer.loads(payload), header
    except MissingResult:
        raise
    except Exception as exc:
        raise MissingResult(
            f"The stored result at key {key!r} in {storage.url} cannot be read: {exc}"
        ) from exc


def header_expired(header: dict[str, Any], now: dt.datetime) -> bool:
    expiration = header.get("expiration")
    if not expiration:
        return False
    return dt.datetime.fromisoformat(str(expiration)) <= now


__all__ = [
    "CloudPickleSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "ResultRecord",
    "ResultStorage",
    "Serializer",
    "get_serializer",
    "read_result",
    "resolve_storage",
    "write_result",
]

"""Results: where a run's return value is stored, and the records that point at it.

The names of Prefect 3's `prefect.results`: a `ResultStore` (where results go, how they
are serialized and keyed, which locks guard them) reads and writes `ResultRecord`s (a
value and its metadata: storage key, expiration, serializer). Each run context has the
store in use (`get_run_context().result_store`, `get_result_store()`).

    from vibepiper.filesystems import LocalFileSystem
    from vibepiper.results import ResultStore

    store = ResultStore(result_storage=LocalFileSystem(basepath="/tmp/results"))
    store.write(obj={"rows": 3}, key="daily")
    store.read("daily").result            # {'rows': 3}

The stored form is VibePiper's (see `vibepiper.result_storage`); results Prefect wrote
(its JSON records) can be read too. A result's `storage_key` is relative to its
storage, whose URL the metadata carries (`storage_url`): Prefect instead keeps absolute
paths and a block id.

The store and the records it reads and writes stay in this one module, as in Prefect,
so that every `prefect.results` name has a real home; the stored format and the
engine's side of storage live in `vibepiper.result_storage`.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from vibepiper.exceptions import ConfigurationError, MissingResult
from vibepiper.filesystems import (
    LocalFileSystem,
    NullFileSystem,
    RemoteFileSystem,
    WritableFileSystem,
)
from vibepiper.result_storage import (
    Codec,
    ResultStorage,
    codec_from_header,
    decode,
    default_storage_url,
    encode,
    header_expired,
    read_result,
    resolve_storage,
    result_header,
    serialize_value,
    write_result,
)
from vibepiper.serializers import PickleSerializer, Serializer

if TYPE_CHECKING:
    from vibepiper.context import RunContext
    from vibepiper.flows import Flow
    from vibepiper.tasks import Task
    from vibepiper.transactions import IsolationLevel

R = TypeVar("R")

ResultSerializer = Serializer[Any] | str
_ALIASES = {"cloudpickle": "pickle"}
_CACHE_SIZE = 1000


def DEFAULT_STORAGE_KEY_FN() -> str:
    """A new random storage key."""
    return uuid.uuid4().hex


# --- resolving what users give --------------------------------------------------------------
def resolve_serializer(serializer: Any) -> Serializer[Any]:
    """The serializer `serializer` names ("pickle", "cloudpickle", "json", ...) or
    `serializer` itself (a `Serializer`, or any object with `type`, `dumps`, `loads`)."""
    if isinstance(serializer, Serializer):
        return serializer
    if isinstance(serializer, str):
        name = _ALIASES.get(serializer, serializer)
        try:
            return Serializer(type=name)
        except ValueError:
            known = sorted({*_ALIASES, *_registered_types()})
            raise ConfigurationError(
                f"Unknown result_serializer {serializer!r}: use one of {known} "
                "or an object with type, dumps() and loads()"
            ) from None
    if _has_codec_methods(serializer):
        return serializer  # type: ignore[no-any-return]
    raise ConfigurationError(
        f"result_serializer must be a name or a serializer, got {serializer!r}"
    )


def _has_codec_methods(value: Any) -> bool:
    return callable(getattr(value, "dumps", None)) and callable(getattr(value, "loads", None))


def get_serializer(spec: Any) -> Serializer[Any]:
    """`resolve_serializer`, with None meaning the default serializer."""
    return get_default_result_serializer() if spec is None else resolve_serializer(spec)


def _registered_types() -> list[str]:
    from vibepiper.serializers import _REGISTRY

    return list(_REGISTRY)


def resolve_result_storage(result_storage: Any) -> WritableFileSystem:
    """The file system for `result_storage`: a file system as it is, a local path as a
    `LocalFileSystem`, a URL (`s3://...`, `memory://...`) as a `RemoteFileSystem`.

    (In Prefect a string names a saved block; here it is a path or URL.)
    """
    if isinstance(result_storage, WritableFileSystem):
        return result_storage
    if isinstance(result_storage, ResultStorage):
        result_storage = result_storage.url
    if isinstance(result_storage, Path):
        return LocalFileSystem(basepath=str(result_storage))
    if isinstance(result_storage, str):
        if "://" in result_storage and not result_storage.startswith("file://"):
            return RemoteFileSystem(basepath=result_storage)
        return LocalFileSystem(basepath=result_storage.removeprefix("file://"))
    if callable(getattr(result_storage, "write_path", None)):
        return result_storage  # type: ignore[no-any-return]
    raise TypeError(
        "result_storage must be a file system (LocalFileSystem, RemoteFileSystem, ...), "
        f"a path or a URL; got {type(result_storage).__name__!r}"
    )


def get_default_result_storage() -> WritableFileSystem:
    """Where results go by default: `VIBEPIPER_RESULTS_DEFAULT_STORAGE`, else
    `$VIBEPIPER_HOME/storage`."""
    return resolve_result_storage(default_storage_url())


def get_default_result_serializer() -> Serializer[Any]:
    """The serializer of `VIBEPIPER_RESULTS_DEFAULT_SERIALIZER` (default: pickle)."""
    from vibepiper.settings import get_settings

    return resolve_serializer(get_settings().results_default_serializer)


def get_default_persist_setting() -> bool:
    """`VIBEPIPER_RESULTS_PERSIST_BY_DEFAULT` (default: False)."""
    from vibepiper.settings import get_settings

    return get_settings().results_persist_by_default


def should_persist_result() -> bool:
    """Whether the current task run (else flow run) persists its result; outside any
    run, `VIBEPIPER_RESULTS_PERSIST_BY_DEFAULT`."""
    ctx = _current_run_context()
    return persist_result_of(ctx) if ctx is not None else get_default_persist_setting()


def get_result_store() -> ResultStore:
    """The result store of the current task run (else flow run); outside any run, a
    store with the default settings."""
    ctx = _current_run_context()
    return result_store_of(ctx) if ctx is not None else ResultStore()


def _current_run_context() -> RunContext | None:
    from vibepiper.context import FlowRunContext, TaskRunContext

    return TaskRunContext.get() or FlowRunContext.get()


def result_store_for(
    flow: Flow[..., Any] | None, task: Task[..., Any] | None = None
) -> ResultStore:
    """The store a run of `task` (in a run of `flow`), or of `flow`, uses."""
    store = ResultStore()
    if flow is not None:
        store = store.update_for_flow(flow)
    if task is not None:
        store = store.update_for_task(task, flow)
    return store


def _flow_of(ctx: RunContext) -> Flow[..., Any] | None:
    from vibepiper.context import FlowRunContext

    if isinstance(ctx, FlowRunContext):
        return ctx.flow
    flow_ctx = FlowRunContext.get()
    return flow_ctx.flow if flow_ctx is not None else None


def result_store_of(ctx: RunContext) -> ResultStore:
    """The result store of the run `ctx` belongs to (`ctx.result_store`)."""
    task = getattr(ctx, "task", None)
    return result_store_for(_flow_of(ctx), task)


def persist_result_of(ctx: RunContext) -> bool:
    """Whether the run `ctx` belongs to persists its result (`ctx.persist_result`)."""
    flow = _flow_of(ctx)
    task = getattr(ctx, "task", None)
    if task is not None:
        return _task_persists(task, flow)
    if flow is not None:
        return _flow_persists(flow)
    return get_default_persist_setting()


def _task_persists(task: Task[..., Any], flow: Flow[..., Any] | None) -> bool:
    from vibepiper.engine.persistence import task_persists

    return task_persists(task, flow)


def _flow_persists(flow: Flow[..., Any]) -> bool:
    if flow.persist_result is not None:
        return bool(flow.persist_result)
    return get_default_persist_setting()


# --- records --------------------------------------------------------------------------------
def _allow_plain_serializer(value: Any, handler: Callable[[Any], Any]) -> Any:
    # an object with type/dumps/loads that is not a pydantic Serializer is kept as it is
    if not isinstance(value, Serializer | str | dict) and callable(getattr(value, "dumps", None)):
        return value
    return handler(value)


class ResultRecordMetadata(BaseModel):
    """What is known of a stored result besides its value."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    storage_key: str | None = None
    expiration: dt.datetime | None = None
    serializer: Serializer[Any] = Field(default_factory=PickleSerializer)
    vibepiper_version: str = Field(default_factory=lambda: _version())
    storage_block_id: uuid.UUID | None = None
    # where the storage is (path or URL): `storage_key` is relative to it
    storage_url: str | None = None

    @field_validator("serializer", mode="wrap")
    @classmethod
    def _plain_serializer(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        return _allow_plain_serializer(value, handler)

    @property
    def prefect_version(self) -> str:
        """Prefect's name for the version that wrote the result (VibePiper's, here)."""
        return self.vibepiper_version

    def dump_bytes(self) -> bytes:
        """The metadata as JSON bytes."""
        return self.model_dump_json(serialize_as_any=True).encode()

    @classmethod
    def load_bytes(cls, data: bytes) -> ResultRecordMetadata:
        """The metadata `dump_bytes` wrote."""
        return cls.model_validate_json(data)

    def _header(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"vibepiper_version": self.vibepiper_version}
        if self.storage_block_id is not None:
            extra["storage_block_id"] = str(self.storage_block_id)
        return result_header(self.serializer, self.storage_key or "", self.expiration, **extra)

    @classmethod
    def _from_header(cls, header: dict[str, Any], storage_url: str | None) -> ResultRecordMetadata:
        expiration = header.get("expiration")
        block_id = header.get("storage_block_id")
        return cls(
            storage_key=header.get("storage_key"),
            expiration=dt.datetime.fromisoformat(expiration) if expiration else None,
            serializer=_as_serializer(codec_from_header(header)),
            vibepiper_version=header.get("vibepiper_version") or _version(),
            storage_block_id=uuid.UUID(block_id) if block_id else None,
            storage_url=storage_url,
        )


def _version() -> str:
    from vibepiper import __version__

    return __version__


def _as_serializer(codec: Codec) -> Serializer[Any]:
    if isinstance(codec, Serializer):
        return codec
    if type(codec).__name__ == "NamedCodec":
        return Serializer(type=codec.type)
    return codec  # type: ignore[return-value]


class ResultRecord(BaseModel, Generic[R]):
    """A result value (`result`) and its `metadata`.

    A record read back from a run's state points at its stored value and reads it on
    first use of `result` (or `load_result()`). `ResultRecord(storage, key, serializer)`
    builds such a pointer.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    metadata: ResultRecordMetadata
    result: R

    def __init__(self, *args: Any, **data: Any) -> None:
        if not args:
            super().__init__(**data)
            return
        # the earlier form: ResultRecord(storage, key, serializer, expiration=None)
        names = ("storage", "key", "serializer", "expiration")
        given = dict(zip(names, args, strict=False)) | data
        pointer = type(self)._pointer(
            str(given["storage"]),
            str(given["key"]),
            str(given.get("serializer") or ""),
            given.get("expiration"),
        )
        for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__"):
            object.__setattr__(self, slot, getattr(pointer, slot))
        object.__setattr__(self, "__pydantic_private__", pointer.__pydantic_private__)

    @classmethod
    def _pointer(
        cls, storage: str, key: str, serializer: str, expiration: dt.datetime | None
    ) -> ResultRecord[Any]:
        metadata = ResultRecordMetadata.model_construct(
            storage_key=key,
            expiration=expiration,
            serializer=_NamedSerializerRef(serializer),
            vibepiper_version=_version(),
            storage_block_id=None,
            storage_url=storage,
        )
        return cls.model_construct(metadata=metadata)  # `result` unset: read on first use

    def __getattr__(self, name: str) -> Any:
        if name == "result":
            return self.load_result()
        return super().__getattr__(name)  # type: ignore[misc]

    @property
    def expiration(self) -> dt.datetime | None:
        return self.metadata.expiration

    @property
    def serializer(self) -> Serializer[Any]:
        return self.metadata.serializer

    def load_result(self) -> R:
        """The value, read from its storage if this record only points at it
        (MissingResult naming the key when it cannot be read)."""
        if "result" in self.__dict__:
            return self.__dict__["result"]  # type: ignore[no-any-return]
        metadata = self.metadata
        if not metadata.storage_url or not metadata.storage_key:
            raise MissingResult("This result record names no storage to read the result from")
        value, _ = read_result(ResultStorage(metadata.storage_url), metadata.storage_key)
        self.__dict__["result"] = value
        return value  # type: ignore[no-any-return]

    def serialize_result(self) -> bytes:
        """The value as the serializer's bytes (ValueError when it cannot be)."""
        return serialize_value(self.load_result(), self.metadata.serializer)

    def serialize_metadata(self) -> bytes:
        return self.metadata.dump_bytes()

    def serialize(self) -> bytes:
        """The record as stored: header and serialized value."""
        return encode(self.metadata._header(), self.serialize_result())

    @classmethod
    def deserialize(
        cls, data: bytes, backup_serializer: Serializer[Any] | None = None
    ) -> ResultRecord[Any]:
        """The record `serialize()` wrote (or Prefect's JSON record). Bytes that are
        neither are loaded with `backup_serializer` when given."""
        return cls._from_blob(bytes(data), "given", None, backup_serializer)

    @classmethod
    def _from_blob(
        cls,
        blob: bytes,
        where: str,
        storage_url: str | None,
        backup_serializer: Serializer[Any] | None = None,
    ) -> ResultRecord[Any]:
        try:
            header, payload = decode(blob, where)
        except MissingResult:
            if backup_serializer is None:
                raise
            metadata = ResultRecordMetadata(serializer=backup_serializer, storage_url=storage_url)
            return cls(metadata=metadata, result=backup_serializer.loads(blob))
        metadata = ResultRecordMetadata._from_header(header, storage_url)
        try:
            value = metadata.serializer.loads(payload)
        except Exception as exc:
            raise MissingResult(f"The stored result {where} cannot be read: {exc}") from exc
        return cls(metadata=metadata, result=value)

    @classmethod
    def deserialize_from_result_and_metadata(
        cls, result: bytes, metadata: bytes
    ) -> ResultRecord[Any]:
        """A record from a serialized value and `serialize_metadata()`'s bytes."""
        loaded = ResultRecordMetadata.load_bytes(metadata)
        return cls(metadata=loaded, result=loaded.serializer.loads(result))

    # --- the form a state carries through the run store ----------------------------------
    def to_json(self) -> dict[str, Any]:
        metadata = self.metadata
        return {
            "storage": metadata.storage_url,
            "key": metadata.storage_key,
            "serializer": metadata.serializer.type,
            "expiration": metadata.expiration.isoformat() if metadata.expiration else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultRecord[Any]:
        expiration = data.get("expiration")
        return cls._pointer(
            data["storage"],
            data["key"],
            data.get("serializer") or "",
            dt.datetime.fromisoformat(expiration) if expiration else None,
        )


class _NamedSerializerRef:
    """The serializer of a pointer record: known by name only until the value is read."""

    __slots__ = ("type",)

    def __init__(self, name: str) -> None:
        self.type = name

    def dumps(self, obj: Any) -> bytes:
        return get_serializer(self.type or None).dumps(obj)

    def loads(self, blob: bytes) -> Any:
        return get_serializer(self.type or None).loads(blob)


# --- the store -----------------------------------------------------------------------------------
@functools.cache
def _default_lock_manager() -> Any:
    from vibepiper.locking.filesystem import FileSystemLockManager

    return FileSystemLockManager()


class ResultStore(BaseModel):
    """Where results are stored, how they are serialized and keyed, and the locks that
    guard them.

    Attributes:
        result_storage: a file system (or a path or URL); None: the default storage.
        metadata_storage: when set, each record's metadata is stored here and its value
            in `result_storage` (under the same key).
        lock_manager: the locks of `acquire_lock()` and SERIALIZABLE transactions;
            None: files under `$VIBEPIPER_HOME/locks` (Prefect requires one instead).
        cache_result_in_memory: keep records read or written in memory (1,000 at most).
        serializer: how values become bytes (a `Serializer` or its name).
        storage_key_fn: the key of a record written without one.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    result_storage: WritableFileSystem | None = None
    metadata_storage: WritableFileSystem | NullFileSystem | None = None
    lock_manager: Any = None
    cache_result_in_memory: bool = True
    serializer: Serializer[Any] = Field(default_factory=get_default_result_serializer)
    storage_key_fn: Callable[[], str] = DEFAULT_STORAGE_KEY_FN

    _cache: OrderedDict[str, ResultRecord[Any]] = PrivateAttr(default_factory=OrderedDict)
    _io: tuple[Any, ResultStorage] | None = PrivateAttr(default=None)

    @field_validator("result_storage", "metadata_storage", mode="before")
    @classmethod
    def _storage_from_path(cls, value: Any) -> Any:
        if isinstance(value, str | Path):
            return resolve_result_storage(value)
        return value

    @field_validator("serializer", mode="wrap")
    @classmethod
    def _serializer_from_name(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        if isinstance(value, str):
            return resolve_serializer(value)
        return _allow_plain_serializer(value, handler)

    @field_validator("lock_manager")
    @classmethod
    def _check_lock_manager(cls, value: Any) -> Any:
        from vibepiper.locking.protocol import LockManager

        if value is not None and not isinstance(value, LockManager):
            raise ValueError(f"lock_manager must be a LockManager, got {type(value).__name__}")
        return value

    @property
    def result_storage_block_id(self) -> uuid.UUID | None:
        """The block id of the result storage, when it is a saved block."""
        return getattr(self.result_storage, "_block_document_id", None)

    # --- stores for runs -------------------------------------------------------------------
    def update_for_flow(self, flow: Flow[..., Any]) -> ResultStore:
        """A copy with `flow`'s result options."""
        update: dict[str, Any] = {}
        if flow.result_storage is not None:
            update["result_storage"] = resolve_result_storage(flow.result_storage)
        if flow.result_serializer is not None:
            update["serializer"] = resolve_serializer(flow.result_serializer)
        if flow.cache_result_in_memory is not None:
            update["cache_result_in_memory"] = flow.cache_result_in_memory
        if self.result_storage is None and "result_storage" not in update:
            update["result_storage"] = get_default_result_storage()
        return self.model_copy(update=update)

    def update_for_task(
        self, task: Task[..., Any], flow: Flow[..., Any] | None = None
    ) -> ResultStore:
        """A copy with `task`'s result options (then its cache policy's storage and lock
        manager, then an enclosing transaction's lock manager)."""
        from vibepiper.transactions import get_transaction

        update: dict[str, Any] = {}
        policy = task.cache_policy_in_use
        storage = task.result_storage
        if storage is None and policy is not None:
            storage = policy.key_storage
        if storage is not None:
            update["result_storage"] = resolve_result_storage(storage)
        if task.result_serializer is not None:
            update["serializer"] = resolve_serializer(task.result_serializer)
        if task.cache_result_in_memory is not None:
            update["cache_result_in_memory"] = task.cache_result_in_memory
        if task.result_storage_key is not None:
            update["storage_key_fn"] = functools.partial(_format_storage_key, task)
        current = get_transaction()
        if current is not None and isinstance(current.store, ResultStore):
            update["lock_manager"] = current.store.lock_manager
        if policy is not None and policy.lock_manager is not None:
            update["lock_manager"] = policy.lock_manager
        if self.result_storage is None and "result_storage" not in update:
            update["result_storage"] = get_default_result_storage()
        return self.model_copy(update=update)

    # --- I/O --------------------------------------------------------------------------------
    def _storage(self) -> ResultStorage:
        if self.result_storage is None:
            self.result_storage = get_default_result_storage()
        cached = self._io
        if cached is None or cached[0] is not self.result_storage:
            cached = (self.result_storage, ResultStorage(self.result_storage))
            self._io = cached
        return cached[1]

    def _separate_metadata(self) -> WritableFileSystem | None:
        meta = self.metadata_storage
        return meta if isinstance(meta, WritableFileSystem) else None

    def _remember(self, key: str, record: ResultRecord[Any]) -> None:
        if not self.cache_result_in_memory:
            return
        cache = self._cache
        cache[key] = record
        cache.move_to_end(key)
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)

    def exists(self, key: str) -> bool:
        """Whether an unexpired record is stored under `key`."""
        try:
            meta = self._separate_metadata()
            if meta is not None:
                metadata = ResultRecordMetadata.load_bytes(bytes(meta.read_path(key)))
                expiration = metadata.expiration
                if expiration is None:
                    return True
                return expiration > dt.datetime.now(dt.UTC)
            storage = self._storage()
            if not storage.exists(key):
                return False
            header, _ = decode(storage.read(key), f"at key {key!r} in {storage.url}")
        except (MissingResult, ValueError, OSError):
            return False
        return not header_expired(header, dt.datetime.now(dt.UTC))

    async def aexists(self, key: str) -> bool:
        import asyncio

        return await asyncio.to_thread(self.exists, key)

    def read(self, key: str, holder: str | None = None) -> ResultRecord[Any]:
        """The record stored under `key`. With a lock manager, waits while another
        holder has the key locked. MissingResult when there is none."""
        holder = holder or self.generate_default_holder()
        if self.lock_manager is not None and not self.is_lock_holder(key, holder):
            self.wait_for_lock(key)
        storage = self._storage()
        cache_key = f"{storage.url}/{key}"
        cached = self._cache.get(cache_key) if self.cache_result_in_memory else None
        if cached is not None:
            return cached
        meta = self._separate_metadata()
        if meta is not None:
            metadata = ResultRecordMetadata.load_bytes(bytes(meta.read_path(key)))
            value, _ = read_result(storage, metadata.storage_key or key)
            record: ResultRecord[Any] = ResultRecord(metadata=metadata, result=value)
        else:
            where = f"at key {key!r} in {storage.url}"
            record = ResultRecord._from_blob(storage.read(key), where, storage.url, self.serializer)
        self._remember(cache_key, record)
        return record

    async def aread(self, key: str, holder: str | None = None) -> ResultRecord[Any]:
        import asyncio

        holder = holder or self.generate_default_holder()
        return await asyncio.to_thread(self.read, key, holder)

    def create_result_record(
        self, obj: Any, key: str | None = None, expiration: dt.datetime | None = None
    ) -> ResultRecord[Any]:
        """A record of `obj` under `key` (default: `storage_key_fn()`), not yet written."""
        metadata = ResultRecordMetadata(
            serializer=self.serializer,
            expiration=expiration,
            storage_key=key or self.storage_key_fn(),
            storage_block_id=self.result_storage_block_id,
            storage_url=self._storage().url,
        )
        return ResultRecord(metadata=metadata, result=obj)

    def write(
        self,
        obj: Any,
        key: str | None = None,
        expiration: dt.datetime | None = None,
        holder: str | None = None,
    ) -> None:
        """Store `obj` under `key` (default: `storage_key_fn()`)."""
        record = self.create_result_record(obj, key=key, expiration=expiration)
        self.persist_result_record(record, holder=holder)

    async def awrite(
        self,
        obj: Any,
        key: str | None = None,
        expiration: dt.datetime | None = None,
        holder: str | None = None,
    ) -> None:
        import asyncio

        holder = holder or self.generate_default_holder()
        await asyncio.to_thread(self.write, obj, key, expiration, holder)

    def persist_result_record(
        self, result_record: ResultRecord[Any], holder: str | None = None
    ) -> None:
        """Write `result_record` under its storage key. RuntimeError when another holder
        has the key locked (with a lock manager)."""
        key = result_record.metadata.storage_key
        if not key:
            raise ValueError("The result record has no storage key to be written under")
        holder = holder or self.generate_default_holder()
        if (
            self.lock_manager is not None
            and self.is_locked(key)
            and not self.is_lock_holder(key, holder)
        ):
            raise RuntimeError(
                f"Cannot write the result record with key {key!r}: another holder has it locked"
            )
        storage = self._storage()
        if result_record.metadata.storage_url is None:
            result_record.metadata.storage_url = storage.url
        storage.write(key, result_record.serialize())
        meta = self._separate_metadata()
        if meta is not None:
            meta.write_path(key, result_record.serialize_metadata())
        self._remember(f"{storage.url}/{key}", result_record)

    async def apersist_result_record(
        self, result_record: ResultRecord[Any], holder: str | None = None
    ) -> None:
        import asyncio

        holder = holder or self.generate_default_holder()
        await asyncio.to_thread(self.persist_result_record, result_record, holder)

    # --- locks ------------------------------------------------------------------------------
    @staticmethod
    def generate_default_holder() -> str:
        """A holder name for this host, process and thread."""
        thread = threading.current_thread()
        return f"{socket.gethostname()}:{os.getpid()}:{thread.ident}:{thread.name}"

    def _locks(self) -> Any:
        return self.lock_manager if self.lock_manager is not None else _default_lock_manager()

    def supports_isolation_level(self, level: IsolationLevel | str) -> bool:
        """Whether transactions on this store can use `level` (both levels: without a
        lock manager, SERIALIZABLE locks files under `$VIBEPIPER_HOME/locks`)."""
        from vibepiper.transactions import IsolationLevel

        IsolationLevel(level)  # ValueError for anything else
        return True

    def acquire_lock(
        self, key: str, holder: str | None = None, timeout: float | None = None
    ) -> bool:
        """Lock `key` for `holder` (default: this thread), waiting `timeout` seconds at most."""
        holder = holder or self.generate_default_holder()
        return bool(self._locks().acquire_lock(key, holder, timeout))

    async def aacquire_lock(
        self, key: str, holder: str | None = None, timeout: float | None = None
    ) -> bool:
        holder = holder or self.generate_default_holder()
        return bool(await self._locks().aacquire_lock(key, holder, timeout))

    def release_lock(self, key: str, holder: str | None = None) -> None:
        """Free the lock `holder` (default: this thread) has on `key`."""
        self._locks().release_lock(key, holder or self.generate_default_holder())

    def is_locked(self, key: str) -> bool:
        return bool(self._locks().is_locked(key))

    def is_lock_holder(self, key: str, holder: str | None = None) -> bool:
        return bool(self._locks().is_lock_holder(key, holder or self.generate_default_holder()))

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Wait until `key` is not locked; False when `timeout` passed first."""
        return bool(self._locks().wait_for_lock(key, timeout))

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return bool(await self._locks().await_for_lock(key, timeout))


def _format_storage_key(task: Task[..., Any]) -> str:
    """The task's `result_storage_key` template filled for the current task run."""
    from vibepiper.context import TaskRunContext
    from vibepiper.engine.persistence import storage_key

    ctx = TaskRunContext.get()
    return storage_key(task, None, dict(ctx.parameters) if ctx else {})


__all__ = [
    "DEFAULT_STORAGE_KEY_FN",
    "ResultRecord",
    "ResultRecordMetadata",
    "ResultSerializer",
    "ResultStorage",
    "ResultStore",
    "get_default_persist_setting",
    "get_default_result_serializer",
    "get_default_result_storage",
    "get_result_store",
    "get_serializer",
    "read_result",
    "resolve_result_storage",
    "resolve_serializer",
    "resolve_storage",
    "should_persist_result",
    "write_result",
]

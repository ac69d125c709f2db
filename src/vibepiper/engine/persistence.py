"""Where a task run's result goes and where its cached result comes from.

The result storage is the cache: a task run whose cache key names a stored, unexpired
result loads it instead of running. Without a cache key, a persisted result gets a
fresh key (or the task's `result_storage_key` template).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vibepiper.exceptions import MissingResult
from vibepiper.states import now
from vibepiper.utilities.ids import new_id

if TYPE_CHECKING:
    from vibepiper.context import FlowRunContext
    from vibepiper.flows import Flow
    from vibepiper.result_storage import Codec, ResultStorage, StoredResult
    from vibepiper.tasks import Task


@dataclass(slots=True, frozen=True)
class CacheLookup:
    """The outcome of a cache lookup and its reason (shown by `flow-run inspect`)."""

    hit: bool
    reason: str
    value: Any = None
    record: StoredResult | None = None


@dataclass(slots=True)
class ResultPlan:
    """How one task run persists its result."""

    persist: bool
    storage: ResultStorage
    serializer: Codec


def task_persists(task: Task[..., Any], flow: Flow[..., Any] | None) -> bool:
    """Whether a run of `task` in a run of `flow` persists its result: the task's
    `persist_result`, else True with a cache policy, else the flow's, else the
    `results_persist_by_default` setting."""
    if task.persist_result is not None:
        return bool(task.persist_result)
    if task.cache_policy_in_use is not None:
        return True
    if flow is not None and flow.persist_result is not None:
        return bool(flow.persist_result)
    from vibepiper.settings import get_settings

    return get_settings().results_persist_by_default


def plan_for(task: Task[..., Any], flow_ctx: FlowRunContext | None) -> ResultPlan:
    """Resolve persist/storage/serializer from the task, its flow, then settings."""
    from vibepiper.settings import get_settings

    flow = flow_ctx.flow if flow_ctx is not None else None
    persist = task.persist_result
    if persist is None and task.cache_policy_in_use is not None:
        persist = True  # caching needs the stored result
    if persist is None and flow is not None:
        persist = flow.persist_result
    if persist is None:
        persist = get_settings().results_persist_by_default
    storage_spec = task.result_storage
    policy = task.cache_policy_in_use
    if storage_spec is None and policy is not None and policy.key_storage is not None:
        storage_spec = policy.key_storage
    if storage_spec is None and flow is not None:
        storage_spec = flow.result_storage
    serializer_spec = task.result_serializer
    if serializer_spec is None and flow is not None:
        serializer_spec = flow.result_serializer
    from vibepiper.result_storage import resolve_codec, resolve_storage

    return ResultPlan(bool(persist), resolve_storage(storage_spec), resolve_codec(serializer_spec))


def lookup(storage: ResultStorage, key: str) -> CacheLookup:
    """Find an unexpired stored result under `key`."""
    from vibepiper.result_storage import StoredResult, header_expired, read_result

    try:
        if not storage.exists(key):
            return CacheLookup(False, f"miss: no stored result for key {key} in {storage.url}")
        value, header = read_result(storage, key)
    except MissingResult as exc:
        return CacheLookup(False, f"miss: {exc}")
    if header_expired(header, now()):
        return CacheLookup(False, f"miss: the stored result expired at {header['expiration']}")
    expiration = header.get("expiration")
    record = StoredResult(
        storage.url,
        key,
        header["serializer"],
        dt.datetime.fromisoformat(expiration) if expiration else None,
    )
    return CacheLookup(True, f"hit: stored result for key {key} in {storage.url}", value, record)


def storage_key(task: Task[..., Any], cache_key: str | None, parameters: dict[str, Any]) -> str:
    """The key a result is stored under: the task's template, the cache key, or a new id."""
    template = task.result_storage_key
    if template is not None:
        from vibepiper import runtime

        try:
            return template.format(
                parameters=parameters, flow_run=runtime.flow_run, task_run=runtime.task_run
            )
        except (KeyError, AttributeError, IndexError) as exc:
            raise ValueError(
                f"result_storage_key {template!r} of task {task.name!r} cannot be filled: "
                f"{exc!r} (it may use {{parameters[name]}}, {{flow_run.id}}, {{task_run.id}})"
            ) from None
    return cache_key or new_id().hex


def pointer(plan: ResultPlan, key: str, expiration: dt.datetime | None) -> StoredResult:
    """Where `persist(plan, key, ...)` will store a result, before it does."""
    from vibepiper.result_storage import StoredResult

    return StoredResult(plan.storage.url, key, plan.serializer.type, expiration)


def persist(plan: ResultPlan, key: str, value: Any, expiration: dt.datetime | None) -> StoredResult:
    from vibepiper.result_storage import write_result

    return write_result(plan.storage, key, value, plan.serializer, expiration)


def key_lock(task: Task[..., Any], key: str) -> AbstractContextManager[None]:
    """The lock a serializable cache policy takes on `key` (or no lock)."""
    policy = task.cache_policy_in_use
    level = getattr(policy, "isolation_level", None) or task.isolation_level
    from vibepiper.transactions import IsolationLevel

    if level is None or IsolationLevel(level) is not IsolationLevel.SERIALIZABLE:
        return nullcontext()
    manager = getattr(policy, "lock_manager", None)
    if manager is None:
        from vibepiper.locking.filesystem import FileSystemLockManager

        manager = FileSystemLockManager()
    return holding(manager, key)


@contextmanager
def holding(manager: Any, key: str) -> Iterator[None]:
    """Hold `manager`'s lock on `key` for the block (as a holder of its own)."""
    holder = f"cache-key-lock:{uuid.uuid4().hex}"
    manager.acquire_lock(key, holder)
    try:
        yield
    finally:
        manager.release_lock(key, holder)

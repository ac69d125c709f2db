"""Cache policies: how a task run's cache key is computed (Prefect 3 names).

A policy turns what a task run knows (its inputs, its source code, its flow run's
parameters, the run id) into a key. Two runs with the same key share one result.
Policies combine with `+`: `INPUTS + TASK_SOURCE` keys on both.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vibepiper.utilities.hashing import UnhashableInputError, hash_objects

if TYPE_CHECKING:
    from vibepiper.context import TaskRunContext


STABLE_TRANSFORMS: dict[type, Callable[[Any], Any]] = {}
"""Inputs whose pickled bytes are not the same from one run to the next, by type, mapped
to a function giving a value that hashes the same for equal inputs: `INPUTS` hashes
`STABLE_TRANSFORMS[type(value)](value)` in place of such a value. A pandas DataFrame's
transform is registered once pandas is imported; add your own types:

    STABLE_TRANSFORMS[MyFrame] = lambda frame: frame.to_records()
"""

_known_transforms_registered = False


def _register_known_transforms() -> None:
    """Register the transforms of libraries already imported (pandas), never importing
    one: a value of their types can only exist once they are."""
    global _known_transforms_registered
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return
    _known_transforms_registered = True
    frame_type = getattr(pandas, "DataFrame", None)
    if frame_type is not None and frame_type not in STABLE_TRANSFORMS:
        STABLE_TRANSFORMS[frame_type] = _stable_frame


def _stable_frame(frame: Any) -> dict[str, Any]:
    """A DataFrame as its column names and types and one hash per row (with its index)."""
    hash_rows = sys.modules["pandas"].util.hash_pandas_object
    return {
        "columns": [str(column) for column in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "rows": hash_rows(frame, index=True).tolist(),
    }


class CachePolicy:
    """Base class: `compute_key` returns a key, or None for "do not cache".

    `configure(...)` returns a copy with isolation settings (see
    `vibepiper.transactions`) or a storage for cached results (`key_storage`).
    """

    isolation_level: Any = None
    lock_manager: Any = None
    key_storage: Any = None

    def configure(
        self,
        *,
        isolation_level: Any = None,
        lock_manager: Any = None,
        key_storage: Any = None,
    ) -> CachePolicy:
        """A copy of this policy with isolation and storage settings."""
        configured = copy.copy(self)
        if isolation_level is not None:
            from vibepiper.transactions import IsolationLevel

            configured.isolation_level = IsolationLevel(isolation_level)
        if lock_manager is not None:
            configured.lock_manager = lock_manager
        if key_storage is not None:
            configured.key_storage = key_storage
        return configured

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        raise NotImplementedError

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if isinstance(other, _None) or isinstance(self, _None):
            return self if isinstance(other, _None) else other
        mine = self.policies if isinstance(self, CompoundCachePolicy) else [self]
        theirs = other.policies if isinstance(other, CompoundCachePolicy) else [other]
        return CompoundCachePolicy(policies=[*mine, *theirs])

    def __sub__(self, name: str) -> CachePolicy:
        """This policy with input `name` left out of the key."""
        if not isinstance(name, str):
            raise TypeError("Only a parameter name (str) can be subtracted from a cache policy")
        return _exclude(self, name)

    @property
    def name(self) -> str:
        return type(self).__name__


def _exclude(policy: CachePolicy, name: str) -> CachePolicy:
    if isinstance(policy, Inputs):
        return Inputs(exclude=[*policy.exclude, name])
    if isinstance(policy, CompoundCachePolicy):
        return CompoundCachePolicy(policies=[_exclude(p, name) for p in policy.policies])
    return policy


@dataclass
class CacheKeyFnPolicy(CachePolicy):
    """Wraps a user function `cache_key_fn(context, parameters) -> str | None`."""

    cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str | None] | None = None

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        if self.cache_key_fn is None:
            return None
        return self.cache_key_fn(task_ctx, inputs)


@dataclass
class CompoundCachePolicy(CachePolicy):
    """Several policies keyed together: no key if any of them gives none."""

    policies: list[CachePolicy] = field(default_factory=list)

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        keys = []
        for policy in self.policies:
            key = policy.compute_key(task_ctx, inputs, flow_parameters, **kwargs)
            if key is None:
                return None
            keys.append(key)
        return hash_objects(*keys)

    @property
    def name(self) -> str:
        return " + ".join(p.name for p in self.policies)


@dataclass
class _None(CachePolicy):
    """Never cache."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return None

    @property
    def name(self) -> str:
        return "NO_CACHE"


@dataclass
class TaskSource(CachePolicy):
    """Keys on the task function's source code: editing the task misses the cache."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        fn = task_ctx.task.fn
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            source = fn.__code__.co_code.hex() if hasattr(fn, "__code__") else repr(fn)
        return hash_objects(source)


@dataclass
class FlowParameters(CachePolicy):
    """Keys on the parameters of the flow run the task runs in."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        return hash_objects(flow_parameters, raise_on_failure=True)


@dataclass
class RunId(CachePolicy):
    """Keys on the flow run id: results are shared only within one flow run."""

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        run_id = task_ctx.task_run.flow_run_id or task_ctx.task_run.id
        return str(run_id)


@dataclass
class Inputs(CachePolicy):
    """Keys on the task run's inputs, leaving out the names in `exclude`."""

    exclude: list[str] = field(default_factory=list)

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        hashed = {}
        if not _known_transforms_registered:
            _register_known_transforms()
        for name, value in sorted(inputs.items()):
            if name in self.exclude:
                continue
            transform = STABLE_TRANSFORMS.get(type(value))
            if transform is not None:
                value = transform(value)
            try:
                hashed[name] = hash_objects(value, raise_on_failure=True)
            except UnhashableInputError as exc:
                raise ValueError(
                    f"Cannot compute a cache key for task {task_ctx.task.name!r}: parameter "
                    f"{name!r} (a {type(value).__name__}) cannot be hashed ({exc}). Leave it "
                    f"out of the key with cache_policy=INPUTS - {name!r}, or pass a "
                    "cache_key_fn."
                ) from exc
        return hash_objects(hashed)

    def __sub__(self, name: str) -> CachePolicy:
        return Inputs(exclude=[*self.exclude, name])


INPUTS = Inputs()
TASK_SOURCE = TaskSource()
FLOW_PARAMETERS = FlowParameters()
RUN_ID = RunId()
NO_CACHE = _None()
NONE = NO_CACHE
DEFAULT = INPUTS + TASK_SOURCE + RUN_ID


def policy_for(
    cache_policy: CachePolicy | None, cache_key_fn: Callable[..., str | None] | None
) -> CachePolicy | None:
    """The policy a task uses, or None when it does not cache."""
    if cache_key_fn is not None:
        return CacheKeyFnPolicy(cache_key_fn=cache_key_fn)
    if cache_policy is None or isinstance(cache_policy, _None):
        return None
    return cache_policy


def policies_in(policy: CachePolicy) -> Iterable[CachePolicy]:
    if isinstance(policy, CompoundCachePolicy):
        return policy.policies
    return [policy]


__all__ = [
    "DEFAULT",
    "FLOW_PARAMETERS",
    "INPUTS",
    "NONE",
    "NO_CACHE",
    "RUN_ID",
    "STABLE_TRANSFORMS",
    "TASK_SOURCE",
    "CacheKeyFnPolicy",
    "CachePolicy",
    "CompoundCachePolicy",
    "FlowParameters",
    "Inputs",
    "RunId",
    "TaskSource",
]

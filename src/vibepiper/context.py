"""Run contexts: what flow run or task run the current code belongs to.

Contexts live in `contextvars`, so each thread and asyncio task sees its own; the
task runners copy the submitting context into the worker that runs a task.

Prefect's contexts are pydantic models; these are plain dataclasses with the part of
the pydantic surface scripts use (`get()`, `with ctx:`, `model_dump()`,
`model_copy()`, `serialize()`, and `serialize_context()` / `hydrated_context()` to
carry them to another thread or process). Why: the engine makes a `TaskRunContext`
for every task run, and a pydantic model validates on each (measured: 1.3 us against
0.3 us for the dataclass); worse, a script that only runs flows never imports
pydantic today, and importing it adds about 100 ms to its start (more than half the
time of a whole 40-task flow). The dataclasses add nothing measurable.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from vibepiper.exceptions import MissingContextError

if TYPE_CHECKING:
    from vibepiper.flows import Flow
    from vibepiper.futures import PrefectFuture
    from vibepiper.results import ResultStore
    from vibepiper.schemas.runs import FlowRun, TaskRun
    from vibepiper.schemas.views import TaskRunView
    from vibepiper.settings import Settings
    from vibepiper.store.base import RunStore
    from vibepiper.task_runners import TaskRunner
    from vibepiper.tasks import Task


_flow_run_var: contextvars.ContextVar[FlowRunContext | None] = contextvars.ContextVar(
    "vibepiper_flow_run", default=None
)
_task_run_var: contextvars.ContextVar[TaskRunContext | None] = contextvars.ContextVar(
    "vibepiper_task_run", default=None
)
_tags_var: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "vibepiper_tags", default=frozenset()
)
_settings_var: contextvars.ContextVar[SettingsContext | None] = contextvars.ContextVar(
    "vibepiper_settings", default=None
)


class ContextModel:
    """The base of every context: `Context.get()`, `with context:` and a model's dump.

    Entering a context makes it the current one until the block exits; a context
    cannot be entered again while it is entered.
    """

    __var__: ClassVar[contextvars.ContextVar[Any]]
    # fields that `serialize()` keeps (what another thread or process needs)
    _serialized: ClassVar[tuple[str, ...]] = ()
    _token: Any = None

    @classmethod
    def get(cls) -> Self | None:
        """The current context of this kind, or None."""
        current = cls.__var__.get()
        return current if isinstance(current, cls) else None

    def __enter__(self) -> Self:
        if self._token is not None:
            raise RuntimeError(
                f"This {type(self).__name__} is already entered: leave it before entering it again"
            )
        self._token = self.__var__.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is None:
            raise RuntimeError(f"This {type(self).__name__} was exited without being entered")
        self.__var__.reset(self._token)
        self._token = None

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        include: set[str] | None = None,
        exclude: set[str] | None = None,
    ) -> dict[str, Any]:
        """The context's fields as a dict; runs and other records become dicts too."""
        out = {}
        for name in _field_names(self):
            if (include is not None and name not in include) or (exclude and name in exclude):
                continue
            out[name] = _dump(getattr(self, name))
        if mode == "json":
            from vibepiper.schemas.serialization import to_jsonable

            return {name: to_jsonable(value) for name, value in out.items()}
        return out

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (not entered), with the fields in `update` replaced."""
        clone = copy.deepcopy(self) if deep else copy.copy(self)
        for name, value in (update or {}).items():
            setattr(clone, name, value)
        clone._token = None
        return clone

    def serialize(self, include_secrets: bool = True) -> dict[str, Any]:
        """What `hydrated_context` needs to rebuild this context elsewhere (picklable
        with cloudpickle; values are kept as objects, not dumped)."""
        return {name: getattr(self, name) for name in self._serialized}


_INTERNAL = {"dump": False}
"""Field metadata of the engine's bookkeeping, which `model_dump()` leaves out."""


def _field_names(obj: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if f.metadata.get("dump", True)]


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    return value


class RunContext(ContextModel):
    """What the contexts of flow runs and task runs share."""

    @property
    def start_time(self) -> dt.datetime | None:
        """When the run started (its first Running state), if it has."""
        raise NotImplementedError

    @property
    def result_store(self) -> ResultStore:
        """The result store the run uses: where its result goes, how it is serialized."""
        from vibepiper.results import result_store_of

        return result_store_of(self)

    @property
    def persist_result(self) -> bool:
        """Whether the run persists its result."""
        from vibepiper.results import persist_result_of

        return persist_result_of(self)


@dataclass(eq=False)
class FlowRunContext(RunContext):
    """The flow run the current code runs in, and what belongs to it."""

    flow: Flow[..., Any]
    flow_run: FlowRun
    store: RunStore
    task_runner: TaskRunner
    parameters: dict[str, Any]
    log_prints: bool = False
    parent_flow_run_id: uuid.UUID | None = None
    # when resuming a flow run: its task runs so far, by (task_key, dynamic_key)
    previous_task_runs: dict[tuple[str, str], TaskRunView] | None = field(
        default=None, metadata=_INTERNAL
    )
    # counters naming task runs ("extract-0", "extract-1", ...) per task key
    task_run_counts: dict[str, int] = field(default_factory=dict, metadata=_INTERNAL)
    # submitted futures not yet finished: the flow waits for them before it ends
    pending_futures: set[PrefectFuture[Any]] = field(default_factory=set, metadata=_INTERNAL)
    lock: threading.Lock = field(default_factory=threading.Lock, metadata=_INTERNAL)
    # rebuilt by `hydrated_context` in another thread or process, not the run's own
    detached: bool = False
    # the context of the parent flow run, when it runs in this process
    parent_context: FlowRunContext | None = field(default=None, repr=False, metadata=_INTERNAL)
    # pausing (engine.pauses): the thread running the flow's body, a pause or suspension
    # asked for from outside ("Pausing"/"Suspending", set by the request watcher), the
    # number of pause/suspend calls so far (their default keys), the keys used before
    thread_id: int | None = field(default=None, metadata=_INTERNAL)
    pause_request: str | None = field(default=None, metadata=_INTERNAL)
    pause_calls: int = field(default=0, metadata=_INTERNAL)
    used_pause_keys: set[str] | None = field(default=None, metadata=_INTERNAL)
    # asset lineage of the run (`vibepiper.engine.assets.RunAssets`), made by its first
    # task run that reads or materializes assets; None: the engine's asset hook is off
    assets: Any = field(default=None, metadata=_INTERNAL)

    __var__: ClassVar[contextvars.ContextVar[Any]] = _flow_run_var
    _serialized: ClassVar[tuple[str, ...]] = (
        "flow",
        "flow_run",
        "parameters",
        "log_prints",
        "parent_flow_run_id",
    )

    @classmethod
    def get(cls) -> FlowRunContext | None:
        """The current flow run context, or None outside a flow run."""
        return _flow_run_var.get()

    @property
    def start_time(self) -> dt.datetime | None:
        return self.flow_run.start_time

    def next_dynamic_key(self, task_key: str) -> int:
        with self.lock:
            count = self.task_run_counts.get(task_key, 0)
            self.task_run_counts[task_key] = count + 1
        return count

    def __enter__(self) -> Self:
        # as `use_flow_run_context`: a flow run entered inside a task run is not in it
        if self._token is not None:
            raise RuntimeError("This FlowRunContext is already entered")
        self._link_parent()
        self._token = (_flow_run_var.set(self), _task_run_var.set(None))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is None:
            raise RuntimeError("This FlowRunContext was exited without being entered")
        flow_token, task_token = self._token
        _task_run_var.reset(task_token)
        _flow_run_var.reset(flow_token)
        self._token = None

    def _link_parent(self) -> None:
        if self.parent_flow_run_id is None or self.parent_context is not None:
            return
        current = _flow_run_var.get()
        if current is not None and current.flow_run.id == self.parent_flow_run_id:
            self.parent_context = current


EngineContext = FlowRunContext


@dataclass(eq=False)
class TaskRunContext(RunContext):
    """The task run the current code runs in."""

    task: Task[..., Any]
    task_run: TaskRun
    parameters: dict[str, Any]
    log_prints: bool = False
    store: RunStore | None = None

    __var__: ClassVar[contextvars.ContextVar[Any]] = _task_run_var
    _serialized: ClassVar[tuple[str, ...]] = ("task", "task_run", "parameters", "log_prints")

    @classmethod
    def get(cls) -> TaskRunContext | None:
        """The current task run context, or None outside a task run."""
        return _task_run_var.get()

    @property
    def start_time(self) -> dt.datetime | None:
        return self.task_run.start_time


@dataclass(eq=False)
class TagsContext(ContextModel):
    """The tags that enclosing `tags(...)` blocks add to new runs."""

    current_tags: set[str] = field(default_factory=set)

    _serialized: ClassVar[tuple[str, ...]] = ("current_tags",)

    @classmethod
    def get(cls) -> TagsContext:
        """The current tags (an empty set outside any `tags(...)` block); never None."""
        return cls(current_tags=set(_tags_var.get()))

    def __enter__(self) -> Self:
        if self._token is not None:
            raise RuntimeError("This TagsContext is already entered")
        self._token = _tags_var.set(frozenset(self.current_tags))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is None:
            raise RuntimeError("This TagsContext was exited without being entered")
        _tags_var.reset(self._token)
        self._token = None


@dataclass(eq=False)
class SettingsContext(ContextModel):
    """The settings in effect (`vibepiper.settings.get_settings()` when none is entered).

    VibePiper itself reads `get_settings()`; entering a SettingsContext changes what
    `SettingsContext.get()` answers (for code that passes settings along), not that.
    """

    settings: Settings
    profile: Any = None

    __var__: ClassVar[contextvars.ContextVar[Any]] = _settings_var
    _serialized: ClassVar[tuple[str, ...]] = ("settings", "profile")

    @classmethod
    def get(cls) -> SettingsContext:
        """The entered settings context, else one holding the process's settings."""
        current = _settings_var.get()
        if current is not None:
            return current
        from vibepiper.settings import get_settings

        return cls(settings=get_settings())


def get_settings_context() -> SettingsContext:
    """The current `SettingsContext` (see `SettingsContext.get`)."""
    return SettingsContext.get()


def get_run_context() -> FlowRunContext | TaskRunContext:
    """The innermost run context: the task run's if in a task, else the flow run's.

    Raises:
        MissingContextError: when called outside any flow or task run.
    """
    task_ctx = _task_run_var.get()
    if task_ctx is not None:
        return task_ctx
    flow_ctx = _flow_run_var.get()
    if flow_ctx is not None:
        return flow_ctx
    raise MissingContextError(
        "No run context available. get_run_context() must be called inside a flow or task run."
    )


@contextlib.contextmanager
def use_flow_run_context(ctx: FlowRunContext) -> Iterator[FlowRunContext]:
    ctx._link_parent()
    flow_token = _flow_run_var.set(ctx)
    task_token = _task_run_var.set(None)
    try:
        yield ctx
    finally:
        _task_run_var.reset(task_token)
        _flow_run_var.reset(flow_token)


@contextlib.contextmanager
def use_task_run_context(ctx: TaskRunContext) -> Iterator[TaskRunContext]:
    token = _task_run_var.set(ctx)
    try:
        yield ctx
    finally:
        _task_run_var.reset(token)


def current_tags() -> frozenset[str]:
    """The tags added by enclosing `tags(...)` blocks."""
    return _tags_var.get()


@contextlib.contextmanager
def tags(*new_tags: str) -> Iterator[set[str]]:
    """Add tags to every flow run and task run created inside the block.

    Example:
        >>> with tags("db", "nightly"):
        ...     my_flow()
    """
    current = _tags_var.get()
    combined = current | frozenset(new_tags)
    token = _tags_var.set(combined)
    try:
        yield set(combined)
    finally:
        _tags_var.reset(token)


# --- carrying contexts to another thread or process -----------------------------------------


def serialize_context() -> dict[str, Any]:
    """The current contexts as plain data, for `hydrated_context` in another thread or
    process (pickle it with cloudpickle to send it)."""
    flow_ctx = _flow_run_var.get()
    task_ctx = _task_run_var.get()
    settings_ctx = _settings_var.get()
    tags_now = _tags_var.get()
    return {
        "flow_run_context": flow_ctx.serialize() if flow_ctx is not None else {},
        "task_run_context": task_ctx.serialize() if task_ctx is not None else {},
        "tags_context": {"current_tags": set(tags_now)} if tags_now else {},
        "settings_context": settings_ctx.serialize() if settings_ctx is not None else {},
    }


@contextlib.contextmanager
def hydrated_context(
    serialized_context: dict[str, Any] | None = None, client: Any = None
) -> Iterator[None]:
    """Enter the contexts `serialize_context()` captured, for the block.

    A flow run context made here is `detached`: it records task runs into the run's
    store with a fresh copy of the flow's task runner (shut down at the end).
    `client` is accepted for Prefect's signature; runs are reached through the store.
    """
    with contextlib.ExitStack() as stack:
        data = serialized_context or {}
        settings_data = data.get("settings_context")
        if settings_data:
            stack.enter_context(SettingsContext(**settings_data))
        flow_data = data.get("flow_run_context")
        if flow_data:
            from vibepiper.store import get_store

            flow = flow_data["flow"]
            stack.enter_context(
                FlowRunContext(
                    flow=flow,
                    flow_run=_as_run(flow_data["flow_run"], "flow"),
                    store=get_store(),
                    task_runner=stack.enter_context(flow.task_runner.duplicate()),
                    parameters=dict(flow_data.get("parameters") or {}),
                    log_prints=bool(flow_data.get("log_prints", False)),
                    parent_flow_run_id=flow_data.get("parent_flow_run_id"),
                    detached=True,
                )
            )
        task_data = data.get("task_run_context")
        if task_data:
            from vibepiper.store import get_store

            stack.enter_context(
                TaskRunContext(
                    task=task_data["task"],
                    task_run=_as_run(task_data["task_run"], "task"),
                    parameters=dict(task_data.get("parameters") or {}),
                    log_prints=bool(task_data.get("log_prints", False)),
                    store=get_store(),
                )
            )
        tags_data = data.get("tags_context")
        if tags_data:
            stack.enter_context(tags(*tags_data.get("current_tags", ())))
        yield


def _as_run(value: Any, kind: Literal["flow", "task"]) -> Any:
    """A run record, rebuilt from a dict when `model_dump()` made one."""
    if not isinstance(value, dict):
        return value
    from vibepiper.schemas.runs import FlowRun, TaskRun

    record = FlowRun if kind == "flow" else TaskRun
    names = {f.name for f in dataclasses.fields(record)}
    return record(**{key: item for key, item in value.items() if key in names})


__all__ = [
    "ContextModel",
    "EngineContext",
    "FlowRunContext",
    "RunContext",
    "SettingsContext",
    "TagsContext",
    "TaskRunContext",
    "current_tags",
    "get_run_context",
    "get_settings_context",
    "hydrated_context",
    "serialize_context",
    "tags",
    "use_flow_run_context",
    "use_task_run_context",
]

"""Run contexts: what flow run or task run the current code belongs to.

Contexts live in `contextvars`, so each thread and asyncio task sees its own; the
task runners copy the submitting context into the worker that runs a task.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from vibepiper.exceptions import MissingContextError

if TYPE_CHECKING:
    from vibepiper.flows import Flow
    from vibepiper.futures import PrefectFuture
    from vibepiper.schemas.runs import FlowRun, TaskRun
    from vibepiper.schemas.views import TaskRunView
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


@dataclass(eq=False)
class FlowRunContext:
    """The flow run the current code runs in, and what belongs to it."""

    flow: Flow[..., Any]
    flow_run: FlowRun
    store: RunStore
    task_runner: TaskRunner
    parameters: dict[str, Any]
    log_prints: bool = False
    parent_flow_run_id: uuid.UUID | None = None
    # when resuming a flow run: its task runs so far, by (task_key, dynamic_key)
    previous_task_runs: dict[tuple[str, str], TaskRunView] | None = None
    # counters naming task runs ("extract-0", "extract-1", ...) per task key
    task_run_counts: dict[str, int] = field(default_factory=dict)
    # submitted futures not yet finished: the flow waits for them before it ends
    pending_futures: set[PrefectFuture[Any]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    _var: ClassVar[contextvars.ContextVar[FlowRunContext | None]] = _flow_run_var

    @classmethod
    def get(cls) -> FlowRunContext | None:
        """The current flow run context, or None outside a flow run."""
        return _flow_run_var.get()

    def next_dynamic_key(self, task_key: str) -> int:
        with self.lock:
            count = self.task_run_counts.get(task_key, 0)
            self.task_run_counts[task_key] = count + 1
        return count


@dataclass(eq=False)
class TaskRunContext:
    """The task run the current code runs in."""

    task: Task[..., Any]
    task_run: TaskRun
    parameters: dict[str, Any]
    log_prints: bool = False
    store: RunStore | None = None

    @classmethod
    def get(cls) -> TaskRunContext | None:
        """The current task run context, or None outside a task run."""
        return _task_run_var.get()


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


__all__ = [
    "FlowRunContext",
    "TaskRunContext",
    "current_tags",
    "get_run_context",
    "tags",
    "use_flow_run_context",
    "use_task_run_context",
]

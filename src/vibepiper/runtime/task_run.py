"""The current task run: `from vibepiper.runtime import task_run; task_run.name`."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    from vibepiper.context import TaskRunContext

    ctx = TaskRunContext.get()
    run = ctx.task_run if ctx is not None else None
    if name == "id":
        return str(run.id) if run else None
    if name == "name":
        return run.name if run else None
    if name == "task_name":
        return run.task_name if run else None
    if name == "parameters":
        return dict(ctx.parameters) if ctx else {}
    if name == "tags":
        return list(run.tags) if run else []
    if name == "run_count":
        return run.run_count if run else 0
    raise AttributeError(f"module 'vibepiper.runtime.task_run' has no attribute {name!r}")

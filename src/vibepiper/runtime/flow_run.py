"""The current flow run: `from vibepiper.runtime import flow_run; flow_run.id`."""

from __future__ import annotations

from typing import Any


def _flow_run() -> Any:
    from vibepiper.context import FlowRunContext

    ctx = FlowRunContext.get()
    return ctx.flow_run if ctx is not None else None


def _parent_flow_run_id() -> Any:
    from vibepiper.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is None or ctx.parent_flow_run_id is None:
        return None
    return str(ctx.parent_flow_run_id)


def __getattr__(name: str) -> Any:
    run = _flow_run()
    if name == "id":
        if run is None:
            from vibepiper.context import TaskRunContext

            task_ctx = TaskRunContext.get()
            flow_run_id = task_ctx.task_run.flow_run_id if task_ctx else None
            return str(flow_run_id) if flow_run_id else None
        return str(run.id)
    if name == "name":
        return run.name if run else None
    if name == "flow_name":
        return run.flow_name if run else None
    if name == "flow_version":
        return run.flow_version if run else None
    if name == "parameters":
        from vibepiper.context import FlowRunContext

        ctx = FlowRunContext.get()
        return dict(ctx.parameters) if ctx else {}
    if name == "tags":
        return list(run.tags) if run else []
    if name == "run_count":
        return run.run_count if run else 0
    if name == "scheduled_start_time":
        return (run.expected_start_time or run.created) if run else None
    if name == "parent_flow_run_id":
        return _parent_flow_run_id()
    if name == "deployment_id":
        return str(run.deployment_id) if run and run.deployment_id else None
    raise AttributeError(f"module 'vibepiper.runtime.flow_run' has no attribute {name!r}")

"""The current task run, as module attributes: `from vibepiper.runtime import task_run`.

    task_run.id, task_run.name, task_run.task_name, task_run.parameters, task_run.run_count

Outside a task run, ids and names are None, `parameters` is `{}`, `tags` is `[]` and
`run_count` is 0. Available attributes (Prefect's): `id`, `tags`, `name`,
`parameters`, `run_count`, `task_name`, `api_url`, `ui_url`. Each can be set for a
test from the environment (`VIBEPIPER__RUNTIME__TASK_RUN__NAME=x`, or
`PREFECT__RUNTIME__TASK_RUN__NAME`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vibepiper.context import TaskRunContext
from vibepiper.runtime import _fields


def get_id() -> str | None:
    ctx = TaskRunContext.get()
    return str(ctx.task_run.id) if ctx is not None else None


def get_name() -> str | None:
    ctx = TaskRunContext.get()
    return ctx.task_run.name if ctx is not None else None


def get_task_name() -> str | None:
    ctx = TaskRunContext.get()
    return ctx.task.name if ctx is not None else None


def get_tags() -> list[str]:
    ctx = TaskRunContext.get()
    return list(ctx.task_run.tags) if ctx is not None else []


def get_run_count() -> int:
    ctx = TaskRunContext.get()
    return ctx.task_run.run_count if ctx is not None else 0


def get_parameters() -> dict[str, Any]:
    ctx = TaskRunContext.get()
    return dict(ctx.parameters) if ctx is not None else {}


def get_task_run_api_url() -> str | None:
    """The task run in the REST API (`.../api/task_runs/ID`)."""
    task_run_id = get_id()
    return f"{_fields.api_url()}/task_runs/{task_run_id}" if task_run_id else None


def get_task_run_ui_url() -> str | None:
    """Where the dashboard shows the task run: its flow run's page (the dashboard has
    no page of its own for a task run); None for a task run outside a flow run."""
    ctx = TaskRunContext.get()
    if ctx is None or ctx.task_run.flow_run_id is None:
        return None
    return f"{_fields.ui_url()}/runs/{ctx.task_run.flow_run_id}"


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "tags": get_tags,
    "name": get_name,
    "parameters": get_parameters,
    "run_count": get_run_count,
    "task_name": get_task_name,
    "api_url": get_task_run_api_url,
    "ui_url": get_task_run_ui_url,
}

# the attributes, answered by __getattr__
__all__ = sorted(FIELDS)


def __getattr__(name: str) -> Any:
    return _fields.attribute(__name__, "task_run", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(__all__)

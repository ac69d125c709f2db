"""The current flow run, as module attributes: `from vibepiper.runtime import flow_run`.

    flow_run.id, flow_run.name, flow_run.flow_name, flow_run.parameters, flow_run.tags

Inside a task, they describe the flow run the task runs in. Outside any run, ids and
names are None, `parameters` is `{}`, `tags` is `[]`, `run_count` is 0 and
`scheduled_start_time` is now, unless the environment names a flow run
(`VIBEPIPER__FLOW_RUN_ID`, or Prefect's `PREFECT__FLOW_RUN_ID`): that run is read
from the store.

Available attributes (Prefect's): `id`, `tags`, `scheduled_start_time`, `name`,
`flow_name`, `flow_version`, `parameters`, `parent_flow_run_id`,
`parent_deployment_id`, `root_flow_run_id`, `run_count`, `api_url`, `ui_url`,
`job_variables`; and `deployment_id`. Each can be set for a test from the
environment (`VIBEPIPER__RUNTIME__FLOW_RUN__NAME=x`, or `PREFECT__RUNTIME__...`; see
`vibepiper.runtime._fields`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from vibepiper.context import FlowRunContext, TaskRunContext
from vibepiper.runtime import _fields


def _context() -> FlowRunContext | None:
    return FlowRunContext.get()


def _stored_run() -> Any:
    """The run the environment names, read from the store (outside a flow run)."""
    run_id = _fields.env_flow_run_id()
    return _fields.read_flow_run(run_id) if run_id else None


def get_id() -> str | None:
    ctx = _context()
    if ctx is not None:
        return str(ctx.flow_run.id)
    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        flow_run_id = task_ctx.task_run.flow_run_id
        return str(flow_run_id) if flow_run_id is not None else None
    return _fields.env_flow_run_id()


def get_name() -> str | None:
    ctx = _context()
    if ctx is not None:
        return ctx.flow_run.name
    run = _stored_run()
    return run.name if run is not None else None


def get_flow_name() -> str | None:
    ctx = _context()
    if ctx is not None:
        return ctx.flow.name
    run = _stored_run()
    return run.flow_name if run is not None else None


def get_flow_version() -> str | None:
    ctx = _context()
    if ctx is not None:
        return ctx.flow_run.flow_version or getattr(ctx.flow, "version", None)
    return None


def get_tags() -> list[str]:
    ctx = _context()
    if ctx is not None:
        return list(ctx.flow_run.tags)
    run = _stored_run()
    return list(run.tags) if run is not None else []


def get_run_count() -> int:
    ctx = _context()
    if ctx is not None:
        return ctx.flow_run.run_count
    run = _stored_run()
    return int(run.run_count) if run is not None else 0


def get_scheduled_start_time() -> dt.datetime:
    """When the run was due (its creation for a run started at once); now outside runs."""
    ctx = _context()
    if ctx is not None:
        run = ctx.flow_run
        when = run.expected_start_time or run.created or run.start_time
        if when is not None:
            return when
    else:
        stored = _stored_run()
        if stored is not None and stored.created is not None:
            return stored.created  # type: ignore[no-any-return]
    return dt.datetime.now(dt.UTC)


def get_parameters() -> dict[str, Any]:
    ctx = _context()
    if ctx is not None:
        return dict(ctx.parameters)
    run = _stored_run()
    return dict(run.parameters) if run is not None else {}


def _parent_of(ctx: FlowRunContext) -> str | None:
    if ctx.parent_flow_run_id is not None:
        return str(ctx.parent_flow_run_id)
    # a deployment's run started as a subflow by a flow in another process
    parent_task_run_id = ctx.flow_run.parent_task_run_id
    if parent_task_run_id is None or not _fields.has_server():
        return None
    parent = _fields.server_read(lambda client: client.read_task_run(parent_task_run_id))
    return str(parent.flow_run_id) if parent.flow_run_id is not None else None


def get_parent_flow_run_id() -> str | None:
    ctx = _context()
    return _parent_of(ctx) if ctx is not None else None


def get_parent_deployment_id() -> str | None:
    ctx = _context()
    if ctx is None:
        return None
    parent_ctx = ctx.parent_context
    if parent_ctx is not None:
        deployment_id = parent_ctx.flow_run.deployment_id
        return str(deployment_id) if deployment_id is not None else None
    parent_id = _parent_of(ctx)
    if parent_id is None or not _fields.has_server():
        return None
    parent = _fields.server_read(lambda client: client.read_flow_run(uuid.UUID(parent_id)))
    return str(parent.deployment_id) if parent.deployment_id is not None else None


def get_root_flow_run_id() -> str | None:
    """The outermost flow run of the current one (itself when it has no parent)."""
    ctx = _context()
    if ctx is None:
        return get_id()
    while ctx.parent_context is not None:  # parents running in this process
        ctx = ctx.parent_context
    parent_id = _parent_of(ctx)
    if parent_id is None:
        return str(ctx.flow_run.id)
    if not _fields.has_server():
        return parent_id
    return str(_fields.server_read(lambda client: _root_on_server(client, uuid.UUID(parent_id))))


def _root_on_server(client: Any, flow_run_id: uuid.UUID) -> str:
    for _ in range(1000):  # a chain of parents, read from the server
        run = client.read_flow_run(flow_run_id)
        if run.parent_task_run_id is None:
            break
        parent_task_run = client.read_task_run(run.parent_task_run_id)
        if parent_task_run.flow_run_id is None:
            break
        flow_run_id = parent_task_run.flow_run_id
    return str(flow_run_id)


def get_flow_run_api_url() -> str | None:
    """The flow run in the REST API (`.../api/flow_runs/ID`)."""
    flow_run_id = get_id()
    return f"{_fields.api_url()}/flow_runs/{flow_run_id}" if flow_run_id else None


def get_flow_run_ui_url() -> str | None:
    """The flow run's page in the dashboard (`http://127.0.0.1:4200/runs/ID` by default)."""
    flow_run_id = get_id()
    return f"{_fields.ui_url()}/runs/{flow_run_id}" if flow_run_id else None


def get_job_variables() -> dict[str, Any] | None:
    """The job variables this run was started with: its deployment's, with the run's own
    (given when it was created, e.g. `run_deployment(..., job_variables=...)`) laid over
    them as its worker does (`env` mappings merge); None for a run that is not a
    deployment's. Read from the server once per process."""
    from vibepiper.orchestration.job_templates import resolve_job_variables

    deployment_id, run_id = get_deployment_id(), get_id()
    if deployment_id is None or run_id is None:
        return None
    deployment = _fields.read_deployment(deployment_id)
    if deployment is None:
        return None
    own = _fields.read_run_job_variables(run_id)
    return resolve_job_variables(None, deployment.job_variables, own)


def get_deployment_id() -> str | None:
    ctx = _context()
    if ctx is None or ctx.flow_run.deployment_id is None:
        return None
    return str(ctx.flow_run.deployment_id)


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "tags": get_tags,
    "scheduled_start_time": get_scheduled_start_time,
    "name": get_name,
    "flow_name": get_flow_name,
    "flow_version": get_flow_version,
    "parameters": get_parameters,
    "parent_flow_run_id": get_parent_flow_run_id,
    "parent_deployment_id": get_parent_deployment_id,
    "root_flow_run_id": get_root_flow_run_id,
    "run_count": get_run_count,
    "api_url": get_flow_run_api_url,
    "ui_url": get_flow_run_ui_url,
    "job_variables": get_job_variables,
    "deployment_id": get_deployment_id,
}

# the attributes, answered by __getattr__
__all__ = sorted(FIELDS)


def __getattr__(name: str) -> Any:
    return _fields.attribute(__name__, "flow_run", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(__all__)

"""The deployment of the current flow run: `from vibepiper.runtime import deployment`.

    deployment.id, deployment.name, deployment.version, deployment.parameters

For a flow run that is not a deployment's (a flow called from a script), `id`,
`name`, `version` and `flow_run_id` are None and `parameters` is `{}`. `name` and
`version` are read from the server (once per process). Available attributes
(Prefect's): `id`, `flow_run_id`, `name`, `parameters`, `version`. Each can be set for
a test from the environment (`VIBEPIPER__RUNTIME__DEPLOYMENT__NAME=x`, or
`PREFECT__RUNTIME__DEPLOYMENT__NAME`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vibepiper.context import FlowRunContext
from vibepiper.runtime import _fields


def get_id() -> str | None:
    ctx = FlowRunContext.get()
    if ctx is not None:
        deployment_id = ctx.flow_run.deployment_id
        return str(deployment_id) if deployment_id is not None else None
    run_id = _fields.env_flow_run_id()
    if run_id is None or not _fields.has_server():
        return None
    import uuid

    run = _fields.server_read(lambda client: client.read_flow_run(uuid.UUID(run_id)))
    return str(run.deployment_id) if run.deployment_id is not None else None


def get_flow_run_id() -> str | None:
    """The deployment's current flow run: the one the environment names (as Prefect's
    workers set it), else the current flow run when it is a deployment's."""
    run_id = _fields.env_flow_run_id()
    if run_id is not None:
        return run_id
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run.deployment_id is not None:
        return str(ctx.flow_run.id)
    return None


def get_parameters() -> dict[str, Any]:
    """The parameters of the deployment's flow run (its defaults with the run's own)."""
    ctx = FlowRunContext.get()
    if ctx is not None:
        if ctx.flow_run.deployment_id is None:
            return {}
        return dict(ctx.flow_run.parameters or ctx.parameters)
    run_id = _fields.env_flow_run_id()
    run = _fields.read_flow_run(run_id) if run_id else None
    return dict(run.parameters) if run is not None else {}


def _deployment() -> Any:
    deployment_id = get_id()
    return _fields.read_deployment(deployment_id) if deployment_id is not None else None


def get_name() -> str | None:
    deployment = _deployment()
    return deployment.name if deployment is not None else None


def get_version() -> str | None:
    deployment = _deployment()
    return deployment.version if deployment is not None else None


FIELDS: dict[str, Callable[[], Any]] = {
    "id": get_id,
    "flow_run_id": get_flow_run_id,
    "parameters": get_parameters,
    "name": get_name,
    "version": get_version,
}

# the attributes, answered by __getattr__
__all__ = sorted(FIELDS)


def __getattr__(name: str) -> Any:
    return _fields.attribute(__name__, "deployment", FIELDS, name)


def __dir__() -> list[str]:
    return sorted(__all__)

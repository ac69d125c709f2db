"""HTTP routers: parse the request into wire models, call a service, return its answer.

No SQL here; see `services/` and `repositories/`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI

from vibepiper.server.api import (
    artifacts,
    assets,
    automations,
    background_tasks,
    batch,
    block_capabilities,
    block_documents,
    block_schemas,
    block_types,
    concurrency_limits,
    deployments,
    events,
    flow_run_inputs,
    flow_run_pauses,
    flow_runs,
    flows,
    logs,
    metrics,
    system,
    task_runs,
    variables,
    webhooks,
    work_pools,
    workers,
)
from vibepiper.server.api.deps import require_api_key
from vibepiper.server.api.responses import COMMON, UNAUTHORIZED

PREFIX = "/api"


def include_api(app: FastAPI) -> None:
    """Every route under `/api`; all but `/api/health` need the API key when one is set.

    The error responses every operation can give are documented here, once. Each router
    is included in the app itself, not in an `/api` router of routers: FastAPI walks the
    routers a request passes through on every request (their route lists, recursively),
    so one level of them is much cheaper to match than three.
    """
    app.include_router(system.health_router, prefix=PREFIX)
    protected: dict[str, Any] = {
        "prefix": PREFIX,
        "dependencies": [Depends(require_api_key)],
        "responses": {**UNAUTHORIZED, **COMMON},
    }
    # first: the background-task routes and the batch every run's records go through
    # are on the hot paths (routes are matched in order, each match costs)
    for module in (
        background_tasks,
        batch,
        system,
        flows,
        flow_runs,
        flow_run_pauses,
        task_runs,
        logs,
        concurrency_limits,
        events,
    ):
        app.include_router(module.router, **protected)
    app.include_router(events.sockets, prefix=PREFIX)
    for module in (
        deployments,
        work_pools,
        workers,
        block_types,
        block_schemas,
        block_documents,
        block_capabilities,
        variables,
        webhooks,
        automations,
        artifacts,
        assets,
        flow_run_inputs,
        metrics,
    ):
        app.include_router(module.router, **protected)

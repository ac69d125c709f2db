"""HTTP routers: parse the request into wire models, call a service, return its answer.

No SQL here; see `services/` and `repositories/`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

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


def api_router() -> APIRouter:
    """Every route under `/api`; all but `/api/health` need the API key when one is set.

    The error responses every operation can give are documented here, once.
    """
    router = APIRouter(prefix="/api")
    router.include_router(system.health_router)
    protected = APIRouter(
        dependencies=[Depends(require_api_key)], responses={**UNAUTHORIZED, **COMMON}
    )
    # first: the background-task routes and the batch every run's records go through
    # are on the hot paths (routes are matched in order, each match costs)
    protected.include_router(background_tasks.router)
    protected.include_router(batch.router)
    for module in (
        system,
        flows,
        flow_runs,
        flow_run_pauses,
        task_runs,
        logs,
        concurrency_limits,
    ):
        protected.include_router(module.router)
    protected.include_router(events.router)
    router.include_router(events.sockets)
    for module in (deployments, work_pools, workers):
        protected.include_router(module.router)
    for module in (block_types, block_schemas, block_documents, block_capabilities, variables):
        protected.include_router(module.router)
    protected.include_router(webhooks.router)
    protected.include_router(automations.router)
    protected.include_router(artifacts.router)
    protected.include_router(assets.router)
    protected.include_router(flow_run_inputs.router)
    protected.include_router(metrics.router)
    router.include_router(protected)
    return router

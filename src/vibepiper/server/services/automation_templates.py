"""What an automation action's templates see (`action_templates.TemplateContext`), read
from the database for one firing; the one builder every templated action uses
(run-deployment and change-flow-run-state parameters, notifications, webhooks).

Only what the templates name is read, so an action without templates costs no query:
- `flow_run`, `task_run`, `flow`, `deployment`, `work_pool`, `work_queue`: the objects
  the firing names (`automation_targets.first_of_kind`: the bucket's resource, then the
  event's resource and related resources), as the API reads them; the flow run's flow,
  deployment, pool and queue stand in when the event names none (a task run's flow run
  too). An object deleted since is left out.
- `logs`: the flow run's last `LOG_LINES` log lines (`ERROR boom`).
- `variables`: those the templates name (`variables.x`, `variables['x']`), or the first
  `MAX_VARIABLES` when they use `variables` otherwise.
- `result`: the flow run's persisted result, beyond Prefect: the result of the state the
  event reports (a state event's id is its state's), else of the run's current state.
  It is read when the run persisted it with the `json` serializer to storage the server
  may read (`VIBEPIPER_SERVER_READABLE_STORAGE`, by default the result storage of its
  own environment) and it is at most `MAX_RESULT_BYTES`; otherwise
  None, and the reason is in the server's log. The server never unpickles: a pickled
  result is code the server would run.
- `event`, `automation`, `ui_base` (the firing's, else the `server_ui_url` setting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from vibepiper.exceptions import MissingResult, ObjectNotFound
from vibepiper.orchestration.action_templates import TemplateContext
from vibepiper.schemas import variables as variable_wire
from vibepiper.schemas.api_filters import LogFilter, LogSort
from vibepiper.server.database import Database
from vibepiper.server.repositories import states
from vibepiper.server.repositories import work_pools as pool_rows
from vibepiper.server.services import (
    deployments,
    flow_runs,
    flows,
    logs,
    task_runs,
    variables,
    work_pools,
)
from vibepiper.server.services._deployment_read import queue_read
from vibepiper.server.services._stored import read_stored, readable_roots
from vibepiper.server.services.automation_context import ActionContext
from vibepiper.server.services.automation_targets import first_of_kind
from vibepiper.server.settings import ServerSettings, given_or_environment

__all__ = ["LOG_LINES", "MAX_RESULT_BYTES", "MAX_VARIABLES", "template_context"]

LOG_LINES = 10
"""How many of the flow run's last log lines a template sees (`logs`)."""
MAX_VARIABLES = 200
"""Most variables read for a template that names none in particular."""
MAX_RESULT_BYTES = 1_000_000
"""The largest stored result a template sees (`result`)."""

logger = logging.getLogger("vibepiper.server.automations")
T = TypeVar("T")

_VARIABLE = re.compile(r"variables\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


async def template_context(
    db: Database,
    context: ActionContext,
    templates: Sequence[str],
    *,
    settings: ServerSettings | None = None,
) -> TemplateContext:
    """What `templates` (the texts to be rendered) may use for this firing: plain JSON
    values, which pickle for the child process that renders them."""
    text = "\n".join(templates)
    values: TemplateContext = {"automation": context.automation(), "result": None}
    if context.event is not None:
        values["event"] = context.event.model_dump(mode="json")
    ui_base = context.ui_base or (settings.server_ui_url if settings else None)
    if ui_base:
        values["ui_base"] = ui_base
    named = {word for word in re.findall(r"[A-Za-z_]+", text)}
    wants_run = bool(named & {"flow_run", "flow", "deployment", "work_pool", "work_queue"})
    wants_run = wants_run or bool(named & {"logs", "result"})
    task_run = None
    if "task_run" in named or wants_run:
        task_run = await _found(task_runs.read, db, first_of_kind(context, "task-run"))
    flow_run = None
    if wants_run:
        run_id = first_of_kind(context, "flow-run") or (task_run.flow_run_id if task_run else None)
        flow_run = await _found(flow_runs.read, db, run_id)
    flow = deployment = work_pool = work_queue = None
    if "flow" in named:
        flow_id = first_of_kind(context, "flow") or _get(flow_run, "flow_id")
        flow = await _found(flows.read, db, flow_id)
    if named & {"deployment", "work_pool", "work_queue"}:
        deployment_id = first_of_kind(context, "deployment") or _get(flow_run, "deployment_id")
        deployment = await _found(deployments.read, db, deployment_id)
    pool_name = _get(flow_run, "work_pool_name") or _get(deployment, "work_pool_name")
    if named & {"work_pool", "work_queue"}:
        pool_id = first_of_kind(context, "work-pool")
        if pool_id is not None:
            async with db.read() as connection:
                pool = await pool_rows.get_pool_by_id(connection, pool_id)
            pool_name = pool["name"] if pool is not None else pool_name
        work_pool = await _found(work_pools.read_pool, db, pool_name)
    if "work_queue" in named:
        queue_id = first_of_kind(context, "work-queue")
        if queue_id is not None:
            async with db.read() as connection:
                queue = await pool_rows.get_queue_by_id(connection, queue_id)
            work_queue = queue_read(queue) if queue is not None else None
        queue_name = _get(flow_run, "work_queue_name") or _get(deployment, "work_queue_name")
        if work_queue is None and pool_name and queue_name:
            read_queue = work_pools.read_queue
            work_queue = await _found(lambda name: read_queue(db, pool_name, name), queue_name)
    for name, found in (
        ("flow_run", flow_run),
        ("task_run", task_run),
        ("flow", flow),
        ("deployment", deployment),
        ("work_pool", work_pool),
        ("work_queue", work_queue),
    ):
        if found is not None and name in named:
            values[name] = found.model_dump(mode="json")  # type: ignore[literal-required]
    if flow_run is not None and "logs" in named:
        values["logs"] = await _last_log_lines(db, flow_run.id)
    if flow_run is not None and "result" in named:
        values["result"] = await _result(db, context, flow_run, settings)
    if "variables" in named or "workspace_variable" in named:
        values["variables"] = await _variables(db, text)
    return values


def _get(model: Any, name: str) -> Any:
    return getattr(model, name, None) if model is not None else None


async def _found(read: Callable[..., Awaitable[T]], *args: Any) -> T | None:
    """`read(*args)`, or None when the last argument is None or the object is gone."""
    if args[-1] is None:
        return None
    try:
        return await read(*args)
    except ObjectNotFound:
        return None


async def _last_log_lines(db: Database, run_id: uuid.UUID) -> list[str]:
    query = LogFilter(flow_run_id=[run_id], sort=LogSort.TIMESTAMP_DESC, limit=LOG_LINES)
    lines = await logs.filter_logs(db, query)
    return [f"{logging.getLevelName(line.level)} {line.message}" for line in reversed(lines)]


async def _variables(db: Database, text: str) -> dict[str, Any]:
    names = sorted({a or b for a, b in _VARIABLE.findall(text)})
    query: dict[str, Any] = {"limit": MAX_VARIABLES}
    if names and len(names) <= MAX_VARIABLES:
        query["variables"] = {"name": {"any_": names}}
    found = await variables.search(db, variable_wire.VariableQuery.model_validate(query))
    return {variable.name: variable.value for variable in found}


async def _result(
    db: Database, context: ActionContext, flow_run: Any, settings: ServerSettings | None
) -> Any:
    """The persisted result of the state the event reports (else the run's current
    state), when it is JSON the server can read; else None (the reason logged)."""
    state_ids = []
    event = context.event
    if event is not None and event.resource.id == f"vibepiper.flow-run.{flow_run.id}":
        state_ids.append(event.id)  # a flow run's state event has its state's id
    if flow_run.state is not None:
        state_ids.append(flow_run.state.id)
    details = None
    async with db.read() as connection:
        for state_id in state_ids:
            details = await states.details_of(connection, "flow_run", state_id)
            if details is not None:
                break
    stored = (details or {}).get("result") if isinstance(details, dict) else None
    if not isinstance(stored, dict) or not stored.get("storage") or not stored.get("key"):
        return None
    try:
        roots = readable_roots(given_or_environment(settings))
        return await asyncio.to_thread(_read_json_result, stored["storage"], stored["key"], roots)
    except (MissingResult, ValueError, OSError) as exc:
        logger.info("flow run %s: its result is not shown to templates: %s", flow_run.id, exc)
        return None


def _read_json_result(storage: str, key: str, roots: Sequence[str]) -> Any:
    """The value stored at `key` in `storage`, if the `json` serializer wrote it and it
    is at most `MAX_RESULT_BYTES` (blocking: runs in a thread)."""
    from vibepiper.result_storage import decode

    header, payload = decode(read_stored(storage, key, MAX_RESULT_BYTES, roots), repr(key))
    if header.get("serializer") != "json":
        kind = header.get("serializer")
        raise ValueError(f"it was serialized with {kind!r}; only 'json' results are read")
    return json.loads(payload)

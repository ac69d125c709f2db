"""What an automation's action acts on, and what its templates see, found from the
firing that runs it.

Targets (Prefect's inference): an action whose `source` is "inferred" acts on the first
object of its kind among the resources the firing names: the bucket's
`vibepiper.resource.id` label (a `for_each` over resources, which proactive triggers
use without an event), then the triggering event's resource, then its related
resources in order. A resource id is `vibepiper.<kind>.<uuid>` (`prefect.` reads as
`vibepiper.`); one whose tail is not a UUID is passed over.

Templates (`template_context`): the objects the triggering event is about, as the API
reads them (`flow_run` with its parameters, `flow`, `deployment`, `work_pool`,
`work_queue`), the variables, the event and the automation. Only what the action's
templates name is read, so an action with plain parameters costs no query at all. The
flow run's flow, deployment and pool stand in when the event names none of them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from vibepiper.exceptions import ObjectNotFound
from vibepiper.orchestration.action_templates import TemplateContext
from vibepiper.schemas.api_filters import MAX_LIMIT
from vibepiper.schemas.events import canonical
from vibepiper.schemas.variables import VariableQuery
from vibepiper.server.database import Database
from vibepiper.server.repositories import deployments as deployment_rows
from vibepiper.server.repositories import flow_runs, flows, variables, work_pools
from vibepiper.server.services import deployments
from vibepiper.server.services import work_pools as pools
from vibepiper.server.services._convert import flow_read, flow_run_read
from vibepiper.server.services._deployment_read import queue_read
from vibepiper.server.services.automation_context import ActionContext, ActionFailed

MAX_VARIABLES = MAX_LIMIT
"""Most variables a template sees (the first by name)."""

_OBJECTS = ("flow_run", "flow", "deployment", "work_pool", "work_queue")
_TEMPLATED_FIELDS = ("parameters", "job_variables", "message")
_TEMPLATE_MARKS = ("{{", "{%", "{#", "__prefect_kind", "__vibepiper_kind")


def resource_ids(context: ActionContext) -> list[str]:
    """The resource ids the firing names, in the order targets are inferred from."""
    found = []
    labels = {canonical(key): value for key, value in context.labels.items()}
    if labels.get("vibepiper.resource.id"):
        found.append(canonical(labels["vibepiper.resource.id"]))
    if context.event is not None:
        found.extend(resource.id for resource in context.event.involved_resources)
    return found


def first_of_kind(context: ActionContext, kind: str) -> uuid.UUID | None:
    """The id of the first resource of `kind` (e.g. "flow-run") the firing names."""
    prefix = f"vibepiper.{kind}."
    for resource_id in resource_ids(context):
        if resource_id.startswith(prefix):
            try:
                return uuid.UUID(resource_id[len(prefix) :])
            except ValueError:
                continue
    return None


def target(context: ActionContext, kind: str, selected: uuid.UUID | None) -> uuid.UUID:
    """`selected` when the action names its object, else the one inferred from the firing.

    Raises:
        ActionFailed: nothing of `kind` can be inferred (not retryable).
    """
    if selected is not None:
        return selected
    found = first_of_kind(context, kind)
    if found is not None:
        return found
    what = kind.replace("-", " ")
    if context.event is None:
        raise ActionFailed(f"no {what} could be inferred: no event triggered the automation")
    raise ActionFailed(
        f"no {what} could be inferred: event {context.event.event!r} of "
        f"{context.event.resource.id!r} names no {what}"
    )


def templated_text(action_json: Mapping[str, Any]) -> str:
    """The action's templated fields as JSON text ("" when none holds a template)."""
    text = json.dumps([action_json.get(name) for name in _TEMPLATED_FIELDS])
    return text if any(mark in text for mark in _TEMPLATE_MARKS) else ""


async def template_context(
    db: Database, action_json: Mapping[str, Any], context: ActionContext
) -> TemplateContext:
    """What the action's templates may use, read from the database (plain values that
    pickle, for `render_action` in a child process). `result` is None: a run's persisted
    result is not read yet."""
    text = templated_text(action_json)
    wanted = {name for name in _OBJECTS if name in text}  # "flow" also in "flow_run": fine
    found: TemplateContext = {"automation": context.automation(), "result": None}
    if context.event is not None:
        found["event"] = context.event.model_dump(mode="json")
    if context.ui_base:
        found["ui_base"] = context.ui_base
    pool_name: str | None = None
    async with db.read() as connection:
        run = None
        if wanted & {"flow_run", "flow", "deployment", "work_pool"}:
            run_id = first_of_kind(context, "flow-run")
            run = await flow_runs.get(connection, run_id) if run_id else None
            if run is not None and "flow_run" in wanted:
                found["flow_run"] = flow_run_read(run).model_dump(mode="json")
        if "flow" in wanted:
            flow_id = first_of_kind(context, "flow") or (run["flow_id"] if run else None)
            flow = await flows.get(connection, flow_id) if flow_id else None
            if flow is not None:
                found["flow"] = flow_read(flow).model_dump(mode="json")
        if "deployment" in wanted:
            deployment_id = first_of_kind(context, "deployment") or (
                run["deployment_id"] if run else None
            )
            row = await deployment_rows.get(connection, deployment_id) if deployment_id else None
            if row is not None:
                read = await deployments.to_read(connection, row)
                found["deployment"] = read.model_dump(mode="json")
        if "work_pool" in wanted:
            pool_id = first_of_kind(context, "work-pool")
            pool = await work_pools.get_pool_by_id(connection, pool_id) if pool_id else None
            pool_name = pool["name"] if pool else (run["work_pool_name"] if run else None)
        if "work_queue" in wanted:
            queue_id = first_of_kind(context, "work-queue")
            queue = await work_pools.get_queue_by_id(connection, queue_id) if queue_id else None
            if queue is not None:
                found["work_queue"] = queue_read(queue).model_dump(mode="json")
        if "variables" in text or "workspace_variable" in text:
            rows = await variables.search(connection, VariableQuery(limit=MAX_VARIABLES))
            found["variables"] = {row["name"]: row["value"] for row in rows}
    if pool_name is not None:
        try:
            found["work_pool"] = (await pools.read_pool(db, pool_name)).model_dump(mode="json")
        except ObjectNotFound:  # deleted meanwhile: the template sees no pool
            pass
    return found

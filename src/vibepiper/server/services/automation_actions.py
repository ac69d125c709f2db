"""Carrying out one action of an automation's firing (`execute`), through the same
services the REST routes use, so every change emits its events once and the
orchestration rules apply.

What each action does (Prefect 3's `prefect.server.events.actions`):
- `run-deployment`: a flow run of the deployment, Scheduled at now + `schedule_after`,
  its `parameters` and `job_variables` rendered (a single `{{ expression }}` keeps its
  type) in a child process within `RENDER_SECONDS`, merged over the deployment's
  defaults and checked against its parameter schema before anything is created. Its
  idempotency key is `automation-<firing id>-<deployment id>`: a retried action finds
  the run it made instead of making a second.
- `pause-`/`resume-deployment`, `-work-pool`, `-work-queue`: as `POST .../pause` and
  `.../resume` do (lifecycle and status events).
- `pause-`/`resume-automation`: turns the automation off or on.
- `cancel-flow-run`: Cancelled at once when nothing runs it yet (Scheduled, Paused,
  Pending without a worker), else Cancelling, as `POST /flow_runs/{id}/cancel`.
- `suspend-flow-run`: a Paused state named Suspended (timeout 1 h, rescheduled on resume).
- `resume-flow-run`: a Paused run goes on: Scheduled ("Resuming", due now) when it was
  suspended (its process exited), else Running; a run that is not Paused is refused.
- `change-flow-run-state`: the state type with `name` and `message` (rendered as text).
- `delete-flow-run`: as `DELETE /flow_runs/{id}`.
- `send-notification`, `call-webhook`: `automation_delivery`.

A failure raises `ActionFailed` with a one-line reason starting with the action's type;
`retryable` only when trying again may succeed (the database or a child process did
not answer). Nothing here retries: the evaluator's action runner does.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import sqlalchemy as sa
from fastapi import HTTPException
from pydantic import ValidationError

from vibepiper.exceptions import ObjectNotFound
from vibepiper.orchestration.action_templates import ActionTemplateError, render_action
from vibepiper.schemas import api
from vibepiper.schemas.automation_actions import (
    ActionTypes,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    DeleteFlowRun,
    DoNothing,
    PauseAutomation,
    PauseDeployment,
    PauseWorkPool,
    PauseWorkQueue,
    ResumeAutomation,
    ResumeDeployment,
    ResumeFlowRun,
    ResumeWorkPool,
    ResumeWorkQueue,
    RunDeployment,
    SendNotification,
    SuspendFlowRun,
)
from vibepiper.schemas.deployments import DeploymentFlowRunCreate
from vibepiper.server.conflicts import lost_to_another
from vibepiper.server.database import Database
from vibepiper.server.repositories import deployments as deployment_rows
from vibepiper.server.repositories import flow_runs as run_rows
from vibepiper.server.repositories import work_pools
from vibepiper.server.services import (
    _notify,
    automations,
    cancellation,
    deployment_runs,
    deployments,
    flow_run_pauses,
    flow_runs,
    run_states,
)
from vibepiper.server.services import work_pools as pools
from vibepiper.server.services._deadline import DeadlineExceeded, run_with_deadline
from vibepiper.server.services.automation_context import ActionContext, ActionFailed
from vibepiper.server.services.automation_targets import first_of_kind, target, templated_text
from vibepiper.server.services.automation_templates import template_context
from vibepiper.server.settings import ServerSettings
from vibepiper.states import State

__all__ = ["RENDER_SECONDS", "SUSPEND_TIMEOUT", "execute"]

logger = logging.getLogger("vibepiper.server.automations")

RENDER_SECONDS = 2.0
"""Seconds an action's templates may take to render."""
BACKSTOP = 10.0
"""Seconds more before the child is killed (a new child imports the module first)."""
SUSPEND_TIMEOUT = dt.timedelta(hours=1)
"""How long a run suspended by an automation waits to be resumed (Prefect's hour)."""


async def execute(
    db: Database,
    action: ActionTypes,
    context: ActionContext,
    *,
    settings: ServerSettings | None = None,
) -> dict[str, Any]:
    """Carry out `action` for one firing of its automation (`settings`: the server's, for
    the key ring that opens block documents and the dashboard's address; the
    environment's when None).

    Returns:
        A small JSON-able result: `{}` for do-nothing, `{"flow_run_id": ..., "state":
        ...}` for a flow run's action, the target's id and new setting otherwise.

    Raises:
        ActionFailed: the action could not be carried out; `reason` says why in one line,
            `retryable` whether trying again later may succeed.
    """
    try:
        return await _carry_out(db, action, context, settings)
    except ActionFailed as exc:
        failure = exc
    except Exception as exc:
        known = _failure(exc)
        if known is None:
            logger.exception("automation %s: %s failed", context.automation_id, action.type)
        failure = known or ActionFailed(f"unexpected {type(exc).__name__}: {exc}")
    reason = failure.reason.replace("\n", " ")
    if not reason.startswith(f"{action.type}:"):
        reason = f"{action.type}: {reason}"
    raise ActionFailed(reason, retryable=failure.retryable) from None


def _failure(exc: Exception) -> ActionFailed | None:
    """`exc` as a failure of the action (None: a bug, logged with its traceback)."""
    if isinstance(exc, ObjectNotFound):
        return ActionFailed(str(exc))
    if isinstance(exc, HTTPException):  # a service's refusal (422 naming the field)
        return ActionFailed(_detail(exc), retryable=exc.status_code >= 500)
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return ActionFailed(f"{where}: {error['msg']}" if where else error["msg"])
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return ActionFailed(f"the database did not answer: {exc}", retryable=True)
    if isinstance(exc, sa.exc.DBAPIError) and lost_to_another(exc):
        return ActionFailed("lost to a concurrent transaction", retryable=True)
    if isinstance(exc, OSError | EOFError):  # a child process died, a connection closed
        return ActionFailed(f"{type(exc).__name__}: {exc}", retryable=True)
    return None


async def _carry_out(
    db: Database, action: ActionTypes, context: ActionContext, settings: ServerSettings | None
) -> dict[str, Any]:
    match action:
        case DoNothing():
            return {}
        case RunDeployment():
            return await _run_deployment(db, action, context)
        case PauseDeployment() | ResumeDeployment():
            deployment_id = target(context, "deployment", action.deployment_id)
            paused = isinstance(action, PauseDeployment)
            await deployments.set_paused(db, deployment_id, paused)
            return {"deployment_id": str(deployment_id), "paused": paused}
        case PauseWorkPool() | ResumeWorkPool():
            return await _pause_pool(db, action, context)
        case PauseWorkQueue() | ResumeWorkQueue():
            return await _pause_queue(db, action, context)
        case PauseAutomation() | ResumeAutomation():
            # inferred: the automation the event is about, else this automation itself
            automation_id = action.automation_id or first_of_kind(context, "automation")
            automation_id = automation_id or context.automation_id
            enabled = isinstance(action, ResumeAutomation)
            await automations.set_enabled(db, automation_id, enabled)
            return {"automation_id": str(automation_id), "enabled": enabled}
        case CancelFlowRun():
            return await _cancel(db, context)
        case SuspendFlowRun():
            return await _suspend(db, context)
        case ResumeFlowRun():
            return await _resume(db, context)
        case ChangeFlowRunState():
            return await _change_state(db, action, context)
        case DeleteFlowRun():
            run_id = target(context, "flow-run", None)
            await flow_runs.delete(db, run_id)
            return {"flow_run_id": str(run_id), "deleted": True}
        case SendNotification():
            from vibepiper.server.services.automation_delivery import send_notification

            return await send_notification(db, action, context, settings=settings)
        case CallWebhook():
            from vibepiper.server.services.automation_delivery import call_webhook

            return await call_webhook(db, action, context, settings=settings)
    raise ActionFailed("not an action this server carries out")


def _detail(exc: HTTPException) -> str:
    """A refusal's text: `msg` of its first error (which names the field), or `detail`."""
    detail = exc.detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg", detail[0]))
    return str(detail)


def _by(context: ActionContext) -> str:
    return f"Automation {context.automation_id}"


async def _rendered(
    db: Database, action: RunDeployment | ChangeFlowRunState, context: ActionContext
) -> dict[str, Any]:
    """The action's JSON with its templates filled in (in a child process)."""
    action_json = action.model_dump(mode="json")
    if not templated_text(action_json):
        return action_json
    values = await template_context(db, context, [templated_text(action_json)])
    try:
        rendered: dict[str, Any] = await run_with_deadline(
            render_action,
            action_json,
            values,
            time_limit=RENDER_SECONDS,
            timeout=RENDER_SECONDS + BACKSTOP,
            what=f"rendering the {action.type} action's templates",
        )
    except (ActionTemplateError, DeadlineExceeded) as exc:  # the same again next time
        raise ActionFailed(str(exc)) from None
    return rendered


# --- deployments, pools, queues --------------------------------------------------------------
async def _run_deployment(
    db: Database, action: RunDeployment, context: ActionContext
) -> dict[str, Any]:
    deployment_id = target(context, "deployment", action.deployment_id)
    async with db.read() as connection:
        if await deployment_rows.get(connection, deployment_id) is None:
            raise ActionFailed(f"deployment {deployment_id} not found")
    rendered = await _rendered(db, action, context)
    parameters, job_variables = rendered.get("parameters") or {}, rendered.get("job_variables")
    for name, value in (("parameters", parameters), ("job_variables", job_variables)):
        if value is not None and not isinstance(value, dict):
            kind = type(value).__name__
            raise ActionFailed(f"{name} rendered to a {kind}, not an object")
    body = DeploymentFlowRunCreate(
        parameters=parameters,
        job_variables=job_variables,
        scheduled_time=dt.datetime.now(dt.UTC) + action.schedule_after,
        idempotency_key=f"automation-{context.firing_id}-{context.position}-{deployment_id}",
    )
    # merged over the defaults and checked against the schema (a 422 naming the
    # parameter) before anything is created
    run, created = await deployment_runs.create_flow_run(db, deployment_id, body)
    return {
        "deployment_id": str(deployment_id),
        "flow_run_id": str(run.id),
        "flow_run_name": run.name,
        "created": created,
    }


async def _pause_pool(
    db: Database, action: PauseWorkPool | ResumeWorkPool, context: ActionContext
) -> dict[str, Any]:
    pool_id = target(context, "work-pool", action.work_pool_id)
    async with db.read() as connection:
        row = await work_pools.get_pool_by_id(connection, pool_id)
    if row is None:
        raise ActionFailed(f"work pool {pool_id} not found")
    paused = isinstance(action, PauseWorkPool)
    await pools.update_pool(db, row["name"], {"paused": paused})
    return {"work_pool_id": str(pool_id), "work_pool_name": row["name"], "paused": paused}


async def _pause_queue(
    db: Database, action: PauseWorkQueue | ResumeWorkQueue, context: ActionContext
) -> dict[str, Any]:
    queue_id = target(context, "work-queue", action.work_queue_id)
    async with db.read() as connection:
        row = await work_pools.get_queue_by_id(connection, queue_id)
    if row is None:
        raise ActionFailed(f"work queue {queue_id} not found")
    paused = isinstance(action, PauseWorkQueue)
    await pools.update_queue(db, row["work_pool_name"], row["name"], {"paused": paused})
    return {"work_queue_id": str(queue_id), "work_queue_name": row["name"], "paused": paused}


# --- flow runs --------------------------------------------------------------------------------
def _moved(run_id: uuid.UUID, state: api.StateRead | State[Any] | None) -> dict[str, Any]:
    assert state is not None
    return {"flow_run_id": str(run_id), "state": state.type.value, "state_name": state.name}


async def _cancel(db: Database, context: ActionContext) -> dict[str, Any]:
    run_id = target(context, "flow-run", None)
    async with db.write() as connection:
        row = await run_rows.get_for_update(connection, run_id)
        if row is None:
            raise ActionFailed(f"flow run {run_id} not found")
        outcome = await cancellation.cancel_row(connection, row, f"Cancelled by {_by(context)}")
    if outcome == "CANCELLING":
        _notify.states_changed(db)
    if outcome == "ALREADY_FINAL":
        now = row["state_name"] or row["state_type"]
        raise ActionFailed(f"flow run {run_id} has already ended ({now})")
    return {"flow_run_id": str(run_id), "state": outcome}


async def _set_state(db: Database, run_id: uuid.UUID, state: api.StateCreate) -> dict[str, Any]:
    """Propose `state` as `POST /flow_runs/{id}/set_state` does (not forced)."""
    result = await run_states.set_state(db, "flow_run", run_id, api.SetState(state=state))
    if result.status != "ACCEPT":
        raise ActionFailed(f"flow run {run_id} refused {state.type.value}: {result.reason}")
    return _moved(run_id, result.state)


async def _suspend(db: Database, context: ActionContext) -> dict[str, Any]:
    """Ask the run to suspend at its next task (Suspending until its process does)."""
    run_id = target(context, "flow-run", None)
    result = await flow_run_pauses.request(
        db,
        run_id,
        reschedule=True,
        timeout_seconds=SUSPEND_TIMEOUT.total_seconds(),
        by=_by(context),
    )
    if result.status != "ACCEPT":
        raise ActionFailed(f"flow run {run_id} was not suspended: {result.reason}")
    return _moved(run_id, result.state)


async def _resume(db: Database, context: ActionContext) -> dict[str, Any]:
    run_id = target(context, "flow-run", None)
    try:
        result = await flow_run_pauses.resume(db, run_id, by=_by(context))
    except HTTPException as exc:  # the pause waits for input an automation cannot give
        raise ActionFailed(f"flow run {run_id} was not resumed: {exc.detail}") from None
    if result.status != "ACCEPT":
        raise ActionFailed(f"flow run {run_id} was not resumed: {result.reason}")
    return _moved(run_id, result.state)


async def _change_state(
    db: Database, action: ChangeFlowRunState, context: ActionContext
) -> dict[str, Any]:
    run_id = target(context, "flow-run", None)
    rendered = await _rendered(db, action, context)
    state = api.StateCreate(
        type=action.state,
        name=action.name,
        message=rendered.get("message") or f"State changed by {_by(context)}",
    )
    return await _set_state(db, run_id, state)

"""Carrying out the actions automations queued (`automation_action_run`).

Every replica claims due actions (`SKIP LOCKED` on PostgreSQL, so each is carried out by
one), marks them running for a lease, and carries them out outside the transaction. An
action that fails for a reason that may pass (a server or network that did not answer)
is tried again with backoff, at most `MAX_ATTEMPTS` times; one that cannot succeed (a
deployment that is gone, a template that fails) fails at once. Each outcome is recorded
on the action's row, in the automation's evaluation log, and as an event:
`vibepiper.automation.action.executed` or `vibepiper.automation.action.failed` with the
reason. A failing action never holds up the others: they run side by side, each with a
time limit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError

from vibepiper.schemas.automations import ActionTypes
from vibepiper.schemas.events import ReceivedEvent, uuid7
from vibepiper.server import metrics
from vibepiper.server.database import Database
from vibepiper.server.repositories import automation_state as state
from vibepiper.server.services import _wake, lifecycle_events
from vibepiper.server.services._periodic import every
from vibepiper.server.services.automation_context import ActionContext, ActionFailed
from vibepiper.server.settings import ServerSettings

logger = logging.getLogger("vibepiper.server.automations")

MAX_ATTEMPTS = 5
LEASE = dt.timedelta(seconds=120)
"""How long a claimed action may run before another pass takes it over (a server that
stopped mid-action)."""
ACTION_TIMEOUT = 60.0
BATCH = 20
_ACTION: TypeAdapter[ActionTypes] = TypeAdapter(ActionTypes)


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt `attempts + 1`: 2, 4, 8, 16 s ... at most a minute."""
    return dt.timedelta(seconds=min(60, 2**attempts))


def _context(row: Any) -> ActionContext:
    data = row["context"]
    event = data.get("event")
    return ActionContext(
        automation_id=uuid.UUID(data["automation_id"]),
        automation_name=data["automation_name"],
        firing_id=uuid.UUID(data["firing_id"]),
        kind=data.get("kind", "triggered"),
        event=None if event is None else ReceivedEvent.model_validate(event),
        labels=dict(data.get("labels") or {}),
        position=row["position"],
    )


async def one_pass(db: Database, settings: ServerSettings | None = None) -> int:
    """Carry out the actions due now; how many were carried out or given up
    (`settings`: the server's, passed to the actions)."""
    now = dt.datetime.now(dt.UTC)
    async with db.read() as connection:
        if not await state.any_due_action(connection, now):
            return 0
    async with db.write() as connection:
        rows = await state.claim_actions(connection, now, LEASE, BATCH)
    if not rows:
        return 0
    await asyncio.gather(*(_carry_out(db, row, settings) for row in rows))
    return len(rows)


async def _carry_out(db: Database, row: Any, settings: ServerSettings | None) -> None:
    from vibepiper.server.services.automation_actions import execute

    attempt = row["attempts"] + 1
    try:
        action = _ACTION.validate_python(row["action"])
        context = _context(row)
    except (ValidationError, KeyError, ValueError) as exc:
        await _finish(
            db, row, None, ActionFailed(f"the stored action cannot be read: {exc}"), attempt
        )
        return
    try:
        async with asyncio.timeout(ACTION_TIMEOUT):  # wait_for could lose a shutdown's cancel
            result = await execute(db, action, context, settings=settings)
    except ActionFailed as failed:
        await _finish(db, row, None, failed, attempt)
    except TimeoutError:
        late = ActionFailed(f"did not finish within {ACTION_TIMEOUT:g} s", retryable=True)
        await _finish(db, row, None, late, attempt)
    except Exception as exc:  # a bug or an unexpected answer: retried, then recorded
        logger.exception("automation action %s failed", row["id"])
        await _finish(
            db, row, None, ActionFailed(f"{type(exc).__name__}: {exc}", retryable=True), attempt
        )
    else:
        await _finish(db, row, result, None, attempt)


async def _finish(
    db: Database,
    row: Any,
    result: dict[str, Any] | None,
    failure: ActionFailed | None,
    attempt: int,
) -> None:
    now = dt.datetime.now(dt.UTC)
    action = row["action"]
    resource = {
        "vibepiper.resource.id": f"vibepiper.automation.{row['automation_id']}",
        "vibepiper.resource.name": row["context"].get("automation_name", ""),
    }
    payload: dict[str, Any] = {
        "action_index": row["position"],
        "action_type": action.get("type"),
        "invocation": str(row["id"]),
        "firing_id": str(row["firing_id"]),
        "attempt": attempt,
    }
    retry = failure is not None and failure.retryable and attempt < MAX_ATTEMPTS
    async with db.write() as connection:
        if failure is None:
            values: dict[str, Any] = {"status": "done", "result": result or {}, "error": None}
            name, kind, message = "executed", "action-executed", f"{action.get('type')}: done"
            payload["result"] = result or {}
        elif retry:
            values = {
                "status": "pending",
                "next_attempt": now + backoff(attempt),
                "error": failure.reason,
            }
            name, kind = "", "action-retry"
            message = (
                f"{action.get('type')}: attempt {attempt} failed ({failure.reason}); trying again"
            )
        else:
            values = {"status": "failed", "error": failure.reason}
            metrics.FAILED_ACTIONS.inc((str(action.get("type") or "unknown"),))
            name, kind, message = (
                "failed",
                "action-failed",
                f"{action.get('type')}: {failure.reason}",
            )
            payload["reason"] = failure.reason
        await state.finish_action(connection, row["id"], values)
        await state.insert_log(
            connection,
            [
                {
                    "id": uuid7(),
                    "automation_id": row["automation_id"],
                    "occurred": now,
                    "kind": kind,
                    "event_id": None,
                    "bucket": None,
                    "message": message,
                }
            ],
        )
        if name:
            await lifecycle_events.emit(
                connection, f"vibepiper.automation.action.{name}", resource, payload=payload
            )


async def runner_loop(db: Database, settings: ServerSettings, *, interval: float) -> None:
    """Carry out due actions every `interval` seconds, forever."""

    async def tick() -> int:
        return await one_pass(db, settings)

    async def pause(seconds: float) -> None:
        await _wake.pause(db, "actions", seconds)

    await every(interval, tick, what="automation actions", logger=logger, pause=pause)

"""Setting a run's state: the orchestration rules decide, then the state is recorded.

The same `vibepiper.orchestration.propose` the embedded store calls decides here, so a
late "Running" after "Cancelled" is rejected the same way over HTTP. An accepted
state becomes a history row and the run's current state; entering RUNNING counts an
attempt and sets the start time once; a terminal state sets the end time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.orchestration import propose
from vibepiper.schemas import api
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs, states, task_queue, task_runs
from vibepiper.server.repositories.states import RunKind
from vibepiper.server.services import _convert, _notify, _task_notify, _wake, state_events
from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType

_LABELS = {"flow_run": "flow run", "task_run": "task run"}


def to_state(body: api.StateCreate) -> State[Any]:
    """The proposed state, stamped with the server's clock unless it carries a time."""
    return State(
        body.type,
        name=body.name,
        message=body.message,
        timestamp=body.timestamp or dt.datetime.now(dt.UTC),
        id=body.id,
    )


def state_read(state: State[Any], details: dict[str, Any]) -> api.StateRead:
    return api.StateRead(
        id=state.id,
        type=state.type,
        name=state.name,
        message=state.message,
        timestamp=state.timestamp,
        state_details=details,
    )


async def set_state(
    db: Database, kind: RunKind, run_id: uuid.UUID, body: api.SetState
) -> api.OrchestrationResult:
    """Propose `body.state` for the run; nothing is written when it is rejected.

    A state whose `id` is in the run's history already is accepted without change.
    """
    repository = flow_runs if kind == "flow_run" else task_runs
    async with db.write() as connection:
        row = await repository.get_for_update(connection, run_id)
        if row is None:
            raise ObjectNotFound(f"{_LABELS[kind]} {run_id} not found")
        current = _convert.current_state(row)
        if body.state.id is not None and await states.exists(connection, kind, body.state.id):
            return api.OrchestrationResult(
                status="ACCEPT", state=current, reason="recorded already"
            )
        proposed = to_state(body.state)
        decision = propose(as_state(current) if current else None, proposed, force=body.force)
        if not decision.accepted:
            return api.OrchestrationResult(status="REJECT", state=current, reason=decision.reason)
        details = body.state.state_details
        values = run_values(decision.state, row["run_count"], row["start_time"])
        if kind == "task_run" and body.run_details is not None:
            values["details"] = body.run_details
        if kind == "flow_run" and reopens(current, decision.state):
            values.update(flow_runs.RELEASED_HOLDER)
        run_count = values.get("run_count", row["run_count"])
        await record(connection, kind, run_id, decision.state, details, current, run_count)
        await repository.update(connection, run_id, values)
        finished = kind == "task_run" and decision.state.type in TERMINAL_STATE_TYPES
        if finished:
            await task_queue.delete(connection, [run_id])  # a final run leaves the task queue
    _wake.wake(db, "events")  # the state's event
    if finished:
        _task_notify.notify(db, "finished")
    elif kind == "flow_run" and decision.state.type is StateType.CANCELLING:
        _notify.states_changed(db)  # wakes the workers' cancellation watches
    return api.OrchestrationResult(status="ACCEPT", state=state_read(decision.state, details))


def reopens(current: api.StateRead | None, new: State[Any]) -> bool:
    """Whether `new` takes a finished flow run out of its final state (a resume with
    `vibepiper flow-run retry`, a Retry from the dashboard). The worker or process that
    held it ended it, so it no longer holds it: the crash detector must not end the
    reopened run again for that worker's silence. The process that resumes it, or the
    worker that claims it next, is its holder from then on."""
    return (
        current is not None
        and current.type in TERMINAL_STATE_TYPES
        and new.type not in TERMINAL_STATE_TYPES
    )


def run_values(state: State[Any], run_count: int, start_time: dt.datetime | None) -> dict[str, Any]:
    """The run row's columns after entering `state`."""
    values: dict[str, Any] = {
        "state_id": state.id,
        "state_type": state.type.value,
        "state_name": state.name,
        "state_message": state.message,
        "state_timestamp": state.timestamp,
        "updated": dt.datetime.now(dt.UTC),
    }
    if state.type is StateType.RUNNING:
        values["run_count"] = run_count + 1
        if start_time is None:
            values["start_time"] = state.timestamp
    if state.type in TERMINAL_STATE_TYPES:
        values["end_time"] = state.timestamp
    return values


async def record(
    connection: AsyncConnection,
    kind: RunKind,
    run_id: uuid.UUID,
    state: State[Any],
    details: dict[str, Any],
    previous: api.StateRead | None = None,
    run_count: int = 0,
    row: Mapping[str, Any] | None = None,
) -> None:
    """Append `state` to the run's history, and its event (`previous` is the state the
    run leaves, `run_count` its count after entering `state`, `row` the run's row when
    the caller holds it)."""
    await states.insert(connection, kind, history_row(kind, run_id, state, details))
    change = state_events.StateChange(run_id, state, previous, run_count)
    known = None if row is None else {run_id: row}
    await state_events.record(connection, kind, [change], known)


def history_row(
    kind: RunKind, run_id: uuid.UUID, state: State[Any], details: dict[str, Any]
) -> dict[str, Any]:
    """The row of a run's state history that records `state`."""
    return {
        "id": state.id,
        f"{kind}_id": run_id,
        "type": state.type.value,
        "name": state.name,
        "message": state.message,
        "timestamp": state.timestamp,
        "details": details,
    }


def as_state(read: api.StateRead) -> State[Any]:
    return State(
        read.type, name=read.name, message=read.message, timestamp=read.timestamp, id=read.id
    )


async def history(db: Database, kind: RunKind, run_id: uuid.UUID) -> list[api.StateRead]:
    """Every state of the run, oldest first."""
    repository = flow_runs if kind == "flow_run" else task_runs
    async with db.read() as connection:
        if await repository.get(connection, run_id) is None:
            raise ObjectNotFound(f"{_LABELS[kind]} {run_id} not found")
        rows = await states.history(connection, kind, run_id)
    return [_convert.state_read(row) for row in rows]

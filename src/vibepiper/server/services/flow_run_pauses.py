"""Pausing, suspending and resuming flow runs.

A run pauses itself (`pause_flow_run`: its process waits; `suspend_flow_run`: its
process exits) by proposing a PAUSED state named Paused or Suspended whose details
carry `pause_key`, `pause_timeout`, `pause_reschedule` and, when it waits for input,
`run_input_keyset` (the flow-run-input keys of the input's schema, description and
answer).

From outside (API, CLI, automation action) a running run is asked to pause or suspend:
its state becomes `Pausing` / `Suspending` (type RUNNING: it is still executing). Its
process sees the request at its next task boundary, lets the tasks it started finish,
and then acknowledges with Paused / Suspended, so a run is never shown paused while it
still executes. Resuming a run whose request was not acknowledged yet withdraws it.

Resuming validates the input against the schema the run stored before anything moves
(a 422 naming the field; the run stays paused), stores it as the answer, and moves the
run on with a conditional update, so two resumes never both win: a Paused run goes
Running (its waiting process continues), a Suspended one Scheduled "Resuming" (a worker
of its deployment's pool starts it again; a run without a deployment is started by
`vibepiper flow-run resume`, which asks with `run_here` and gets it Pending). A pause
whose timeout passed cannot be resumed: the run ends Failed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs, states
from vibepiper.server.services import _convert, _notify, _wake
from vibepiper.server.services._errors import conflict, invalid
from vibepiper.server.services._parameters import check_parameters
from vibepiper.server.services._transitions import scheduled_details, transition
from vibepiper.server.services.run_states import state_read
from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType

REQUEST_NAMES = {"Pausing": False, "Suspending": True}
"""The names of a requested pause (value: whether the process exits), type RUNNING."""
RESUMING = "Resuming"
DEFAULT_TIMEOUT_S = 3600.0
WAIT_RECHECK_S = 0.25
"""A state wait re-reads the database this often (changes made by other replicas)."""
PAUSED_GRACE_S = 30.0
"""A Paused run's own process fails it at its timeout; the server only does so this much
later (the process is gone)."""


def _accept(state: State[Any], details: Mapping[str, Any]) -> api.OrchestrationResult:
    return api.OrchestrationResult(status="ACCEPT", state=state_read(state, dict(details)))


def _reject(row: Mapping[Any, Any], reason: str) -> api.OrchestrationResult:
    return api.OrchestrationResult(
        status="REJECT", state=_convert.current_state(row), reason=reason
    )


def _now_name(row: Mapping[Any, Any]) -> str:
    return str(row["state_name"] or row["state_type"] or "without a state")


async def _locked(connection: AsyncConnection, run_id: uuid.UUID) -> Any:
    row = await flow_runs.get_for_update(connection, run_id)
    if row is None:
        raise ObjectNotFound(f"flow run {run_id} not found")
    return row


# --- requests from outside -------------------------------------------------------------
async def request(
    db: Database,
    run_id: uuid.UUID,
    *,
    reschedule: bool,
    timeout_seconds: float | None = None,
    by: str = "request",
) -> api.OrchestrationResult:
    """Ask the running run `run_id` to pause (or, with `reschedule`, to suspend) at its
    next task boundary."""
    name = "Suspending" if reschedule else "Pausing"
    timeout = DEFAULT_TIMEOUT_S if timeout_seconds is None else timeout_seconds
    async with db.write() as connection:
        row = await _locked(connection, run_id)
        kind = row["state_type"]
        if kind == StateType.RUNNING.value and row["state_name"] == name:
            return _reject(row, f"flow run {run_id} is {name} already")
        if kind != StateType.RUNNING.value:
            return _reject(row, _not_running(run_id, row))
        if reschedule and row["parent_task_run_id"] is not None:
            return _reject(
                row, f"flow run {run_id} is a subflow: suspend its parent flow run (or pause it)"
            )
        what = "suspension" if reschedule else "pause"
        state: State[Any] = State(
            StateType.RUNNING,
            name=name,
            message=f"A {what} was requested by {by}; it takes effect at the flow's next task",
        )
        details = {"pause_reschedule": reschedule, "pause_timeout_seconds": timeout}
        decision = await transition(
            connection,
            row,
            state,
            extra={"run_count": row["run_count"]},
            expect_type=kind,
            details=details,
        )
    if not decision.accepted:
        return _reject(row, f"flow run {run_id} changed meanwhile; try again")
    states_changed(db)
    return _accept(decision.state, details)


def _not_running(run_id: uuid.UUID, row: Mapping[Any, Any]) -> str:
    kind = row["state_type"]
    if kind == StateType.PAUSED.value:
        return f"flow run {run_id} is {_now_name(row)} already"
    if kind is not None and StateType(kind) in TERMINAL_STATE_TYPES:
        return f"flow run {run_id} has ended ({_now_name(row)})"
    return (
        f"flow run {run_id} is {_now_name(row)}, not running: only a running run can be "
        "paused or suspended (pause its deployment, or cancel the run)"
    )


# --- resume ----------------------------------------------------------------------------
async def resume(
    db: Database,
    run_id: uuid.UUID,
    run_input: dict[str, Any] | None = None,
    *,
    run_here: bool = False,
    by: str = "request",
) -> api.OrchestrationResult:
    """Resume the paused run `run_id` (see the module docstring)."""
    from vibepiper.server.services import flow_run_inputs

    now = dt.datetime.now(dt.UTC)
    async with db.write() as connection:
        row = await _locked(connection, run_id)
        kind, name = row["state_type"], row["state_name"]
        if kind == StateType.RUNNING.value and name in REQUEST_NAMES:
            result = await _withdraw(connection, row, by)
        elif kind == StateType.SCHEDULED.value and name == RESUMING:
            result = await _run_resumed_here(connection, row, run_here)
        elif kind != StateType.PAUSED.value:
            return _reject(row, f"flow run {run_id} is {_now_name(row)}, not paused")
        else:
            details = await states.details_of(connection, "flow_run", row["state_id"]) or {}
            expired = _expired(details, now)
            if expired is not None:
                result = await _fail_expired(connection, row, expired, resumed=True)
            else:
                keyset = details.get("run_input_keyset") or {}
                await _store_input(connection, row["id"], keyset, run_input, by, flow_run_inputs)
                result = await _continue(connection, row, details, run_here, by, now)
    states_changed(db)
    if result.state is not None and result.state.type is StateType.SCHEDULED:
        _notify.runs_changed(db)  # a waiting worker claims it at once
    return result


async def _withdraw(
    connection: AsyncConnection, row: Mapping[Any, Any], by: str
) -> api.OrchestrationResult:
    """Resuming a run whose pause was requested but not reached: it keeps running."""
    state: State[Any] = State(
        StateType.RUNNING, name="Running", message=f"The pause request was withdrawn by {by}"
    )
    decision = await transition(
        connection,
        row,
        state,
        extra={"run_count": row["run_count"]},
        expect_type=StateType.RUNNING.value,
    )
    if not decision.accepted:
        return _reject(row, "the run changed meanwhile; try again")
    return _accept(decision.state, {})


async def _run_resumed_here(
    connection: AsyncConnection, row: Mapping[Any, Any], run_here: bool
) -> api.OrchestrationResult:
    """A resumed suspended run nothing has started yet: `run_here` takes it (once)."""
    if not run_here:
        return _reject(row, f"flow run {row['id']} was resumed already")
    if row["deployment_id"] is not None:
        return _reject(
            row,
            f"flow run {row['id']} was resumed already: a worker of pool "
            f"{row['work_pool_name'] or '(its deployment)'} starts it",
        )
    state: State[Any] = State(StateType.PENDING, name=RESUMING, message="Started again here")
    decision = await transition(connection, row, state, expect_type=StateType.SCHEDULED.value)
    if not decision.accepted:
        return _reject(row, f"flow run {row['id']} was taken by another resume")
    return _accept(decision.state, {})


def _expired(details: Mapping[str, Any], now: dt.datetime) -> dt.datetime | None:
    raw = details.get("pause_timeout")
    if not isinstance(raw, str):
        return None
    try:
        deadline = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=dt.UTC)
    return deadline if deadline <= now else None


async def _fail_expired(
    connection: AsyncConnection, row: Mapping[Any, Any], deadline: dt.datetime, *, resumed: bool
) -> api.OrchestrationResult:
    what = "suspended" if row["state_name"] == "Suspended" else "paused"
    message = f"The flow run was {what} and not resumed before its timeout ({deadline.isoformat()})"
    state: State[Any] = State(StateType.FAILED, message=message)
    decision = await transition(connection, row, state, expect_type=StateType.PAUSED.value)
    current = decision.state if decision.accepted else None
    reason = f"the pause timed out at {deadline.isoformat()}; the run can no longer be resumed"
    if not resumed and decision.accepted:
        return _accept(decision.state, {})
    read = state_read(current, {}) if current is not None else _convert.current_state(row)
    return api.OrchestrationResult(status="REJECT", state=read, reason=reason)


async def _store_input(
    connection: AsyncConnection,
    run_id: uuid.UUID,
    keyset: Mapping[str, Any],
    run_input: dict[str, Any] | None,
    by: str,
    inputs: Any,
) -> None:
    """Check `run_input` against the schema the paused run stored; keep it as the answer."""
    schema_key = keyset.get("schema")
    stored = await inputs.read_value(connection, run_id, schema_key) if schema_key else None
    if stored is None:
        if run_input is not None:
            raise invalid(("body", "run_input"), "this pause does not wait for input")
        return
    if run_input is None:
        raise invalid(("body", "run_input"), "this pause waits for input; none was given")
    try:
        schema = json.loads(stored)
    except ValueError:
        schema = None
    if isinstance(schema, dict):
        check_parameters(schema, run_input, at=("body", "run_input"), of_input=True)
    response = keyset.get("response")
    if isinstance(response, str):
        if await inputs.read_value(connection, run_id, response) is not None:
            raise conflict(f"flow run {run_id} has an answer under {response!r} already")
        await inputs.insert(connection, run_id, response, json.dumps(run_input), by)


async def _continue(
    connection: AsyncConnection,
    row: Mapping[Any, Any],
    details: Mapping[str, Any],
    run_here: bool,
    by: str,
    now: dt.datetime,
) -> api.OrchestrationResult:
    message = f"Resumed by {by}"
    state: State[Any]
    if details.get("pause_reschedule") or row["state_name"] == "Suspended":
        # its process exited: it starts again from the top, reusing persisted results
        if run_here and row["deployment_id"] is None:
            state = State(StateType.PENDING, name=RESUMING, message=message)
            decision = await transition(connection, row, state, expect_type=StateType.PAUSED.value)
            new_details: dict[str, Any] = {}
        else:
            state = State(StateType.SCHEDULED, name=RESUMING, message=message)
            new_details = scheduled_details(now)
            decision = await transition(
                connection,
                row,
                state,
                extra={"expected_start_time": now, **flow_runs.RELEASED_HOLDER},
                expect_type=StateType.PAUSED.value,
                details=new_details,
            )
    else:
        # the paused process waits for this; a resume is not a new attempt, and the
        # worker's heartbeats (not counted while paused) start from now
        state = State(StateType.RUNNING, message=message)
        new_details = {}
        decision = await transition(
            connection,
            row,
            state,
            extra={"run_count": row["run_count"], "heartbeat_time": now},
            expect_type=StateType.PAUSED.value,
        )
    if not decision.accepted:
        return _reject(row, f"flow run {row['id']} was resumed by someone else meanwhile")
    return _accept(decision.state, new_details)


# --- timeouts --------------------------------------------------------------------------
async def fail_expired_pauses(db: Database, *, now: dt.datetime | None = None) -> int:
    """End the paused runs nobody resumed in time (Suspended at their timeout, Paused a
    grace period later: their own process normally ends them); how many."""
    now = now or dt.datetime.now(dt.UTC)
    r, s = t.flow_run.c, t.flow_run_state.c
    query = (
        sa.select(r.id, s.details, r.state_name)
        .join(t.flow_run_state, s.id == r.state_id)
        .where(r.state_type == StateType.PAUSED.value)
        .limit(1000)
    )
    ended = 0
    async with db.read() as connection:
        candidates = (await connection.execute(query)).all()
    for run_id, details, name in candidates:
        grace = 0.0 if name == "Suspended" else PAUSED_GRACE_S
        deadline = _expired(details or {}, now - dt.timedelta(seconds=grace))
        if deadline is None:
            continue
        async with db.write() as connection:
            row = await flow_runs.get_for_update(connection, run_id)
            if row is None or row["state_type"] != StateType.PAUSED.value:
                continue
            current = await states.details_of(connection, "flow_run", row["state_id"]) or {}
            deadline = _expired(current, now - dt.timedelta(seconds=grace))
            if deadline is None:
                continue
            result = await _fail_expired(connection, row, deadline, resumed=False)
            ended += result.status == "ACCEPT"
    if ended:
        states_changed(db)
        _wake.wake(db, "events")
    return ended


# --- waiting for state changes ---------------------------------------------------------
def states_changed(db: Database) -> None:
    """Wake the state waits on `db` in this process (call after the commit)."""
    _notify.states_changed(db)


async def current_states(db: Database, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, api.StateRead]:
    r, s = t.flow_run.c, t.flow_run_state.c
    query = (
        sa.select(s.id, s.type, s.name, s.message, s.timestamp, s.details, r.id.label("run_id"))
        .join(t.flow_run_state, s.id == r.state_id)
        .where(r.id.in_(list(ids)))
    )
    async with db.read() as connection:
        rows = (await connection.execute(query)).mappings().all()
    return {row["run_id"]: _convert.state_read(row) for row in rows}


async def wait_for_states(
    db: Database,
    ids: Sequence[uuid.UUID],
    known: Mapping[uuid.UUID, uuid.UUID | None],
    wait_seconds: float,
) -> dict[uuid.UUID, api.StateRead]:
    """The current state of each run, once one differs from `known` (or after
    `wait_seconds`); a stopping server answers at once."""
    loop_time = _loop_time()
    deadline = loop_time + wait_seconds
    while True:
        current = await current_states(db, ids)
        changed = any(state.id != known.get(run_id) for run_id, state in current.items())
        left = deadline - _loop_time()
        if changed or not current or left <= 0 or _notify.draining(db):
            return current  # (none of the runs exists: nothing to wait for)
        await _notify.wait_for_states(db, min(left, WAIT_RECHECK_S))


def _loop_time() -> float:
    import asyncio

    return asyncio.get_running_loop().time()


async def pause_timeouts_loop(db: Database, *, interval: float) -> None:
    """Every `interval` seconds, fail the pauses nobody resumed in time (forever)."""
    import logging

    from vibepiper.server.services._periodic import every

    logger = logging.getLogger("vibepiper.server.pause_timeouts")
    await every(
        interval,
        lambda: fail_expired_pauses(db),
        what="pause-timeouts pass",
        logger=logger,
        report=lambda ended: logger.info("failed %d flow runs whose pause timed out", ended),
    )

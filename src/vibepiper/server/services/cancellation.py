"""Cancelling a flow run (`POST /api/flow_runs/{id}/cancel`).

A run nothing has started yet (Scheduled or Late, Paused, Pending without a worker
holding it) is Cancelled at once. A claimed or running one becomes Cancelling: the
worker holding it learns so at once (its cancellation watch, woken by
`_notify.states_changed`) or at the latest from its next heartbeat, stops the run and proposes
Cancelled (or, if the worker is dead, the crash detector ends it Cancelled). A run in
a final state is left as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import deployments as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs
from vibepiper.server.services import _notify
from vibepiper.server.services._convert import flow_run_read
from vibepiper.server.services._transitions import transition
from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType

Outcome = Literal["CANCELLED", "CANCELLING", "ALREADY_FINAL"]
_NOT_STARTED = {StateType.SCHEDULED.value, StateType.PAUSED.value}


def not_started(row: Mapping[Any, Any]) -> bool:
    """Nothing runs the run yet: no process needs to be told to stop."""
    kind = row["state_type"]
    return kind is None or kind in _NOT_STARTED or (kind == "PENDING" and not row["worker_name"])


async def cancel_row(connection: AsyncConnection, row: Mapping[Any, Any], message: str) -> Outcome:
    """Cancel the run whose (locked) row is `row`."""
    kind = row["state_type"]
    if kind is not None and StateType(kind) in TERMINAL_STATE_TYPES:
        return "ALREADY_FINAL"
    if kind == StateType.CANCELLING.value:
        return "CANCELLING"
    if not_started(row):
        state: State[Any] = State(StateType.CANCELLED, message=message)
        decision = await transition(connection, row, state, expect_type=kind)
        return "CANCELLED" if decision.accepted else "ALREADY_FINAL"
    state = State(StateType.CANCELLING, message=message)
    decision = await transition(connection, row, state, expect_type=kind)
    return "CANCELLING" if decision.accepted else "ALREADY_FINAL"


async def cancel(db: Database, run_id: uuid.UUID) -> wire.CancelResult:
    async with db.write() as connection:
        row = await flow_runs.get_for_update(connection, run_id)
        if row is None:
            raise ObjectNotFound(f"flow run {run_id} not found")
        status = await cancel_row(connection, row, "cancelled by request")
        updated = await flow_runs.get(connection, run_id)
    if status == "CANCELLING":
        _notify.states_changed(db)
    assert updated is not None
    return wire.CancelResult(flow_run=flow_run_read(updated), status=status)

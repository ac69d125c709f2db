"""State changes the server makes itself (claims, cancellation, crash and late-run
detection), through the same orchestration rules as `set_state`.

`transition` proposes a state for a flow run whose row the caller has read (and, on
PostgreSQL, locked or guarded), records the accepted state in the history and updates
the run row. With `expect_type`, the row is only updated while it is still in that
state type: a conditional UPDATE whose row count tells a lost race from a win, which
is what keeps two claimers from taking one run on either backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.orchestration import propose
from vibepiper.orchestration.rules import Decision
from vibepiper.server.services import _convert, run_states
from vibepiper.states import State, StateType


async def transition(
    connection: AsyncConnection,
    row: Mapping[Any, Any],
    proposed: State[Any],
    *,
    extra: dict[str, Any] | None = None,
    expect_type: str | None = None,
    details: dict[str, Any] | None = None,
) -> Decision:
    """Propose `proposed` for the run in `row`; on acceptance write it (and `extra`)."""
    read = _convert.current_state(row)
    current = run_states.as_state(read) if read is not None else None
    decision = propose(current, proposed)
    if not decision.accepted:
        return decision
    values = run_states.run_values(decision.state, row["run_count"], row["start_time"])
    values.update(extra or {})
    statement = sa.update(t.flow_run).where(t.flow_run.c.id == row["id"])
    if expect_type is not None:
        statement = statement.where(t.flow_run.c.state_type == expect_type)
    result = await connection.execute(statement.values(**values))
    if result.rowcount != 1:
        assert current is not None
        return Decision(False, current, "the run changed meanwhile")
    run_count = values.get("run_count", row["run_count"])
    await run_states.record(
        connection, "flow_run", row["id"], decision.state, details or {}, read, run_count
    )
    return decision


def scheduled(name: str = "Scheduled", message: str | None = None) -> State[Any]:
    """A Scheduled state (or one of its named kinds, such as Late) stamped now."""
    return State(StateType.SCHEDULED, name=name, message=message)


def scheduled_details(when: dt.datetime) -> dict[str, Any]:
    """The state details a Scheduled state carries: when the run is due."""
    return {"scheduled_time": when.isoformat()}

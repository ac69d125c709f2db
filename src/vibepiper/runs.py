"""Read finished runs back, from any process: their final state and persisted value.

    from vibepiper.runs import get_flow_run_state
    state = get_flow_run_state(flow_run_id)
    state.result()          # loads the persisted return value

A state read back carries a pointer to its value when the value was persisted (a
`StoredResult`: storage, key, serializer), so `.result()` reads it from the result
storage; otherwise it raises `MissingResult`.
"""

from __future__ import annotations

import uuid
from typing import Any

from vibepiper.exceptions import MissingResult, ObjectNotFound
from vibepiper.schemas.views import StateRow
from vibepiper.states import State, StateDetails, StateType


class _NotPersisted:
    """Stands for a value that was never persisted, so `.result()` explains itself."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def load_result(self) -> Any:
        raise MissingResult(
            f"The result of {self.what} was not persisted; set persist_result=True "
            "(or VIBEPIPER_RESULTS_PERSIST_BY_DEFAULT=true) to read it from another process"
        )


def state_from_row(row: StateRow, what: str) -> State[Any]:
    """A State rebuilt from a stored history row (its value loads from storage)."""
    from vibepiper.result_storage import StoredResult  # not vibepiper.results: no pydantic

    details = dict(row.details)
    record = details.get("result")
    data: Any = None
    if record:
        data = StoredResult.from_json(record)
    elif row.type == StateType.COMPLETED.value:
        data = _NotPersisted(what)
    return State(
        StateType(row.type),
        name=row.name,
        message=row.message,
        data=data,
        timestamp=row.timestamp,
        state_details=StateDetails.from_json(details),
        id=row.id,
    )


def _last(rows: list[StateRow], what: str) -> State[Any]:
    if not rows:
        raise ObjectNotFound(f"{what} has no recorded state")
    return state_from_row(rows[-1], what)


def get_flow_run_state(flow_run_id: uuid.UUID | str) -> State[Any]:
    """The latest state of a flow run, as recorded in the store."""
    from vibepiper.store import get_store

    run_id = uuid.UUID(str(flow_run_id))
    return _last(get_store().read_flow_run_states(run_id), f"flow run {run_id}")


def get_task_run_state(task_run_id: uuid.UUID | str) -> State[Any]:
    """The latest state of a task run, as recorded in the store."""
    from vibepiper.store import get_store

    run_id = uuid.UUID(str(task_run_id))
    return _last(get_store().read_task_run_states(run_id), f"task run {run_id}")


def retry_flow_run(flow_run_id: uuid.UUID | str) -> State[Any]:
    """Run a failed or crashed flow run again from where it failed; returns its final state.

    Task runs that completed with a persisted result are not run again. Raises
    `RetryRefused` naming the reason when the run cannot be retried.
    """
    from vibepiper.engine.resume import retry_flow_run as retry

    return retry(flow_run_id)


__all__ = ["get_flow_run_state", "get_task_run_state", "retry_flow_run", "state_from_row"]

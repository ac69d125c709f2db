"""Task runs: create, read, filter, count."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.schemas.api_filters import TaskRunFilter
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs, task_runs
from vibepiper.server.services import _convert, run_states
from vibepiper.states import State
from vibepiper.utilities.ids import new_id


async def create(db: Database, body: api.TaskRunCreate) -> tuple[api.TaskRunRead, bool]:
    """Create the task run (in `body.state`, if given) with its input edges.

    A run whose `id` exists already is returned as it is, so a client may retry.
    """
    run_id = body.id or new_id()
    async with db.write() as connection:
        existing = await task_runs.get(connection, run_id) if body.id else None
        if existing is not None:
            inputs = await task_runs.inputs_of(connection, [run_id])
            return _convert.task_run_read(existing, inputs.get(run_id, [])), False
        if (
            body.flow_run_id is not None
            and await flow_runs.get(connection, body.flow_run_id) is None
        ):
            raise ObjectNotFound(f"flow run {body.flow_run_id} not found")
        values, state = new_row(body, run_id)
        await task_runs.insert(connection, values, _convert.input_rows(run_id, body.task_inputs))
        if body.state is not None and state is not None:
            await run_states.record(
                connection,
                "task_run",
                run_id,
                state,
                body.state.state_details,
                run_count=values["run_count"],
            )
    return await read(db, run_id), True


def new_row(body: api.TaskRunCreate, run_id: uuid.UUID) -> tuple[dict[str, Any], State[Any] | None]:
    """The `task_run` row for `body` (in its initial state, returned too, if any)."""
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "id": run_id,
        "flow_run_id": body.flow_run_id,
        "name": body.name,
        "task_key": body.task_key,
        "task_name": body.task_name or body.name,
        "dynamic_key": body.dynamic_key,
        "tags": body.tags,
        "run_count": 0,
        "cache_key": body.cache_key,
        "cache_expiration": body.cache_expiration,
        "task_version": body.task_version,
        "subflow_run_id": body.subflow_run_id,
        "details": {},
        "created": now,
        "updated": now,
    }
    state = None
    if body.state is not None:
        state = run_states.to_state(body.state)
        values.update(run_states.run_values(state, 0, None))
    return values, state


async def read(db: Database, run_id: uuid.UUID) -> api.TaskRunRead:
    async with db.read() as connection:
        row = await task_runs.get(connection, run_id)
        if row is None:
            raise ObjectNotFound(f"task run {run_id} not found")
        inputs = await task_runs.inputs_of(connection, [run_id])
    return _convert.task_run_read(row, inputs.get(run_id, []))


async def filter_runs(db: Database, query: TaskRunFilter) -> list[api.TaskRunRead]:
    async with db.read() as connection:
        rows = await task_runs.filter_runs(connection, query)
        inputs = await task_runs.inputs_of(connection, [row["id"] for row in rows])
    return [_convert.task_run_read(row, inputs.get(row["id"], [])) for row in rows]


async def count_runs(db: Database, query: TaskRunFilter) -> int:
    async with db.read() as connection:
        return await task_runs.count_runs(connection, query)

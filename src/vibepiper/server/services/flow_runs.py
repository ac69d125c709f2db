"""Flow runs: create, read, filter, count, update, delete."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import api
from vibepiper.schemas.api_filters import FlowRunFilter
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs, flows, states
from vibepiper.server.services import run_states
from vibepiper.server.services._convert import flow_run_read
from vibepiper.states import State
from vibepiper.utilities.ids import new_id
from vibepiper.utilities.names import generate_run_name


async def create(db: Database, body: api.FlowRunCreate) -> tuple[api.FlowRunRead, bool]:
    """Create the run (in `body.state`, if given); True when it was created.

    A run whose `id` exists already is returned as it is, so a client may retry.
    """
    run_id = body.id or new_id()
    async with db.write() as connection:
        existing = await flow_runs.get(connection, run_id) if body.id else None
        if existing is not None:
            return flow_run_read(existing), False
        if await flows.get(connection, body.flow_id) is None:
            raise ObjectNotFound(f"flow {body.flow_id} not found")
        values, state = new_row(body, run_id)
        await flow_runs.insert(connection, values)
        if body.state is not None and state is not None:
            await run_states.record(
                connection,
                "flow_run",
                run_id,
                state,
                body.state.state_details,
                run_count=values["run_count"],
            )
        row = await flow_runs.get(connection, run_id)
    assert row is not None
    return flow_run_read(row), True


def new_row(body: api.FlowRunCreate, run_id: uuid.UUID) -> tuple[dict[str, Any], State[Any] | None]:
    """The `flow_run` row for `body` (in its initial state, returned too, if any)."""
    now = dt.datetime.now(dt.UTC)
    values: dict[str, Any] = {
        "id": run_id,
        "flow_id": body.flow_id,
        "name": body.name or generate_run_name(),
        "parameters": body.parameters,
        "tags": body.tags,
        "run_count": 0,
        "parent_task_run_id": body.parent_task_run_id,
        "deployment_id": body.deployment_id,
        "flow_version": body.flow_version,
        "entrypoint": body.entrypoint,
        "infrastructure_pid": body.infrastructure_pid,
        "expected_start_time": body.expected_start_time,
        "created": now,
        "updated": now,
    }
    state = None
    if body.state is not None:
        state = run_states.to_state(body.state)
        values.update(run_states.run_values(state, 0, None))
    return values, state


async def read(db: Database, run_id: uuid.UUID) -> api.FlowRunRead:
    """One run, its current state with its details (a pause's key and input keyset, a
    scheduled time), which lists leave out."""
    async with db.read() as connection:
        row = await flow_runs.get(connection, run_id)
        if row is None:
            raise ObjectNotFound(f"flow run {run_id} not found")
        details = None
        if row["state_id"] is not None:
            details = await states.details_of(connection, "flow_run", row["state_id"])
    read = flow_run_read(row)
    if read.state is not None and details:
        read.state.state_details = dict(details)
    return read


async def job_variables(db: Database, run_id: uuid.UUID) -> dict[str, Any]:
    """The run's own job variables (given by the request that made it; `{}` when none),
    which a worker lays over its deployment's."""
    async with db.read() as connection:
        if await flow_runs.get(connection, run_id) is None:
            raise ObjectNotFound(f"flow run {run_id} not found")
        found = await states.flow_run_job_variables(connection, [run_id])
    return found.get(run_id, {})


async def filter_runs(db: Database, query: FlowRunFilter) -> list[api.FlowRunRead]:
    async with db.read() as connection:
        rows = await flow_runs.filter_runs(connection, query)
    return [flow_run_read(row) for row in rows]


async def count_runs(db: Database, query: FlowRunFilter) -> int:
    async with db.read() as connection:
        return await flow_runs.count_runs(connection, query)


async def update(db: Database, run_id: uuid.UUID, body: api.FlowRunUpdate) -> api.FlowRunRead:
    """Change the run's name, tags, parameters or flow version (the fields given)."""
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    async with db.write() as connection:
        if await flow_runs.get_for_update(connection, run_id) is None:
            raise ObjectNotFound(f"flow run {run_id} not found")
        if changes:
            changes["updated"] = dt.datetime.now(dt.UTC)
            await flow_runs.update(connection, run_id, changes)
        row = await flow_runs.get(connection, run_id)
    assert row is not None
    return flow_run_read(row)


async def delete(db: Database, run_id: uuid.UUID) -> None:
    """Delete the run, its states, task runs and logs."""
    async with db.write() as connection:
        if not await flow_runs.delete(connection, run_id):
            raise ObjectNotFound(f"flow run {run_id} not found")

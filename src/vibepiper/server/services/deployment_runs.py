"""Runs of a deployment: made on request (`create_flow_run`), by a schedule (the
scheduler) or for a past window (`backfill`).

Every such run starts Scheduled at its time and carries what a worker needs to run
it: the deployment, its pool and queue, its entrypoint. Parameters are the
deployment's defaults overridden by the request's (or the schedule's) and, when the
deployment enforces it, must satisfy its parameter JSON schema: a failure is a 422
naming the parameter, and nothing is created. A run's own job variables (kept in its
first state's details) must fit its pool's variables schema (`job_templates`). A run
with an idempotency key is made at most once per flow (a unique index; a second insert
is ignored, not an error).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.schemas import api
from vibepiper.schemas import deployments as wire
from vibepiper.server.database import Database
from vibepiper.server.repositories import flow_runs, states
from vibepiper.server.repositories._dialect import insert_ignoring_conflicts
from vibepiper.server.services import _notify, _parameters, run_states, state_events
from vibepiper.server.services._convert import flow_run_read
from vibepiper.server.services._errors import invalid
from vibepiper.server.services._transitions import scheduled, scheduled_details
from vibepiper.server.services.deployments import read_row
from vibepiper.server.services.job_templates import check_run_job_variables
from vibepiper.states import State, StateType
from vibepiper.utilities.ids import new_id
from vibepiper.utilities.names import generate_run_name


def check_parameters(deployment: Mapping[Any, Any], parameters: dict[str, Any]) -> None:
    """422 naming the first parameter that fails the deployment's schema (if enforced),
    including one the flow does not take (see `_parameters`)."""
    _parameters.check_parameters(_parameters.enforced_schema(deployment), parameters)


def run_row(
    deployment: Mapping[Any, Any],
    *,
    parameters: dict[str, Any],
    when: dt.datetime,
    state: State[Any],
    name: str | None = None,
    tags: list[str] | None = None,
    idempotency_key: str | None = None,
    schedule_id: uuid.UUID | None = None,
    parent_task_run_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The `flow_run` row of a new run of `deployment`, in `state`, due at `when`."""
    run_id = new_id()
    now = dt.datetime.now(dt.UTC)
    pool = deployment["work_pool_name"]
    return {
        "id": run_id,
        "flow_id": deployment["flow_id"],
        "name": name or generate_run_name(),
        "parameters": parameters,
        "tags": list(deployment["tags"] or []) if tags is None else tags,
        "run_count": 0,
        "deployment_id": deployment["id"],
        "flow_version": deployment["version"],
        "entrypoint": deployment["entrypoint"],
        "expected_start_time": when,
        "work_pool_name": pool,
        "work_queue_name": (deployment["work_queue_name"] or wire.DEFAULT_QUEUE) if pool else None,
        "idempotency_key": idempotency_key,
        "deployment_schedule_id": schedule_id,
        "parent_task_run_id": parent_task_run_id,
        "created": now,
        "updated": now,
        **run_states.run_values(state, 0, None),
    }


async def insert_runs(
    connection: AsyncConnection, rows: list[dict[str, Any]], details: list[dict[str, Any]]
) -> list[uuid.UUID]:
    """Insert the runs (skipping those whose idempotency key exists) with their first
    state, in a few multi-row statements; returns the ids of the runs inserted."""
    if not rows:
        return []
    statement = insert_ignoring_conflicts(connection, t.flow_run).returning(t.flow_run.c.id)
    inserted = set((await connection.execute(statement, rows)).scalars())
    history = []
    changes = []
    for row, state_details in zip(rows, details, strict=True):
        if row["id"] not in inserted:
            continue
        state: State[Any] = State(
            StateType(row["state_type"]),
            name=row["state_name"],
            message=row["state_message"],
            timestamp=row["state_timestamp"],
            id=row["state_id"],
        )
        history.append(run_states.history_row("flow_run", row["id"], state, state_details))
        changes.append(state_events.StateChange(row["id"], state, None, 0))
    await states.insert_many(connection, "flow_run", history)
    await state_events.record(connection, "flow_run", changes)
    return [row["id"] for row in rows if row["id"] in inserted]


async def by_key(connection: AsyncConnection, flow_id: uuid.UUID, key: str) -> RowMapping | None:
    statement = sa.select(t.flow_run.c.id).where(
        t.flow_run.c.flow_id == flow_id, t.flow_run.c.idempotency_key == key
    )
    run_id = (await connection.execute(statement)).scalar_one_or_none()
    return None if run_id is None else await flow_runs.get(connection, run_id)


async def create_flow_run(
    db: Database, deployment_id: uuid.UUID, body: wire.DeploymentFlowRunCreate
) -> tuple[api.FlowRunRead, bool]:
    """A new run of the deployment (True), or the run its idempotency key made (False)."""
    async with db.write() as connection:
        deployment = await read_row(connection, deployment_id)
        key = body.idempotency_key
        if key is not None and (found := await by_key(connection, deployment["flow_id"], key)):
            return flow_run_read(found), False
        parameters = {**(deployment["parameters"] or {}), **body.parameters}
        check_parameters(deployment, parameters)
        when = body.scheduled_time or dt.datetime.now(dt.UTC)
        state: State[Any] = run_states.to_state(body.state) if body.state else scheduled()
        details = dict(body.state.state_details) if body.state else scheduled_details(when)
        if body.job_variables:
            await check_run_job_variables(connection, deployment, body.job_variables)
            details["job_variables"] = body.job_variables
        row = run_row(
            deployment,
            parameters=parameters,
            when=when,
            state=state,
            name=body.name,
            tags=body.tags,
            idempotency_key=key,
            parent_task_run_id=body.parent_task_run_id,
        )
        inserted = await insert_runs(connection, [row], [details])
        if not inserted and key is not None:  # another request with the key won the race
            found = await by_key(connection, deployment["flow_id"], key)
            assert found is not None
            return flow_run_read(found), False
        created = await flow_runs.get(connection, row["id"])
    assert created is not None
    _notify.runs_changed(db)
    return flow_run_read(created), True


MAX_BACKFILL_RUNS = 10_000


def schedule_run_rows(
    deployment: Mapping[Any, Any], schedule: Mapping[Any, Any], when: list[dt.datetime]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows (and first-state details) of a schedule's runs at the ticks `when`."""
    from vibepiper.orchestration.scheduling import scheduled_run_key

    parameters = {**(deployment["parameters"] or {}), **(schedule["parameters"] or {})}
    rows = [
        run_row(
            deployment,
            parameters=parameters,
            when=tick,
            state=scheduled(),
            idempotency_key=scheduled_run_key(schedule["id"], tick),
            schedule_id=schedule["id"],
        )
        for tick in when
    ]
    return rows, [scheduled_details(tick) for tick in when]


async def backfill(
    db: Database, deployment_id: uuid.UUID, body: wire.BackfillRequest
) -> wire.BackfillResult:
    """Create the runs every active schedule would have made in [start, end]; ticks whose
    run exists already are counted in `existing` (the same keys as the scheduler's).

    The ticks are computed in a child process within `PLAN_SECONDS` (more: a 422), and
    the runs written `CHUNK_RUNS` per transaction, so a backfill of thousands of runs
    never holds the database's writer for long. A backfill stopped half-way is simply
    sent again: the runs it made are found by their keys.
    """
    from vibepiper.orchestration.scheduling import ticks
    from vibepiper.server.repositories import deployments
    from vibepiper.server.services._deadline import DeadlineExceeded, run_with_deadline
    from vibepiper.server.services._deployment_read import schedule_read
    from vibepiper.server.services.scheduler import CHUNK_RUNS, CHUNK_WAIT, PLAN_SECONDS

    if body.end < body.start:
        raise invalid(["body", "end"], "must not be before start")
    async with db.read() as connection:
        deployment = await read_row(connection, deployment_id)
        schedules = (await deployments.schedules_of(connection, [deployment_id]))[deployment_id]
    active = [(row, schedule_read(row).schedule) for row in schedules if row["active"]]
    due: list[list[dt.datetime]] = []
    for _, definition in active:
        try:
            due.append(
                await run_with_deadline(
                    ticks,
                    definition,
                    body.start,
                    body.end,
                    limit=MAX_BACKFILL_RUNS + 1,
                    timeout=PLAN_SECONDS,
                    what="backfill ticks",
                )
            )
        except DeadlineExceeded:
            raise invalid(
                ["body", "end"],
                f"computing the schedules' ticks in this window took over {PLAN_SECONDS} s; "
                "backfill a shorter window",
            ) from None
    if sum(len(found) for found in due) > MAX_BACKFILL_RUNS:
        raise invalid(
            ["body", "end"],
            f"the window holds more than {MAX_BACKFILL_RUNS} runs; backfill a shorter one",
        )
    created: list[uuid.UUID] = []
    existing: list[uuid.UUID] = []
    for (row_of_schedule, _), when in zip(active, due, strict=True):
        for start in range(0, len(when), CHUNK_RUNS):
            rows, details = schedule_run_rows(
                deployment, row_of_schedule, when[start : start + CHUNK_RUNS]
            )
            check_parameters(deployment, rows[0]["parameters"])
            async with db.write(wait=CHUNK_WAIT, bulk=True) as connection:
                await read_row(connection, deployment_id)  # not deleted meanwhile
                inserted = set(await insert_runs(connection, rows, details))
                created.extend(row["id"] for row in rows if row["id"] in inserted)
                keys = [row["idempotency_key"] for row in rows if row["id"] not in inserted]
                existing.extend(await ids_by_keys(connection, deployment["flow_id"], keys))
            if inserted:
                _notify.runs_changed(db)
    return wire.BackfillResult(
        created=len(created), existing=len(existing), flow_run_ids=created + existing
    )


async def ids_by_keys(
    connection: AsyncConnection, flow_id: uuid.UUID, keys: list[str]
) -> list[uuid.UUID]:
    """The ids of the flow's runs with these idempotency keys, in the keys' order."""
    if not keys:
        return []
    statement = sa.select(t.flow_run.c.idempotency_key, t.flow_run.c.id).where(
        t.flow_run.c.flow_id == flow_id, t.flow_run.c.idempotency_key.in_(keys)
    )
    found = dict((await connection.execute(statement)).all())
    return [found[key] for key in keys if key in found]

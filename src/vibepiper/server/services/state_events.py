"""The events of the run states the server records, written in the same transaction.

Every place that appends to a run's state history (a single `set_state`, `POST /batch`,
the server's own transitions, runs created from deployments) hands its accepted states
here. Each becomes `vibepiper.flow-run.<Name>` / `vibepiper.task-run.<Name>`, shaped by
`vibepiper.orchestration.state_events` exactly as the embedded store shapes it, with the
state's id as its id: a state is recorded once (replicas included), so is its event.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database.codec import encode_timestamp
from vibepiper.orchestration.state_events import (
    RelatedSet,
    RunEvents,
    flow_run_related,
    related_set,
    task_run_related,
)
from vibepiper.schemas import api
from vibepiper.server import metrics
from vibepiper.server.repositories import events, run_facts
from vibepiper.server.repositories.states import RunKind
from vibepiper.states import State


class StateChange(NamedTuple):
    """A state a run entered: its run, the state, the one it left, the run count after."""

    run_id: uuid.UUID
    state: State[Any]
    previous: api.StateRead | None
    run_count: int


async def record(
    connection: AsyncConnection,
    kind: RunKind,
    changes: Sequence[StateChange],
    runs: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
) -> None:
    """Write the events of `changes` (runs that do not exist are skipped). `runs`: the
    task runs' rows the caller holds already (read or written in this transaction), so
    that their facts are not read again."""
    if not changes:
        return
    run_ids = [change.run_id for change in changes]
    if kind == "flow_run":
        flows = await run_facts.flow_runs(connection, run_ids)
        tasks: dict[uuid.UUID, run_facts.TaskRunFacts] = {}
    else:
        tasks = {}
        if runs:
            for run_id in run_ids:
                held = runs.get(run_id)
                if held is not None:
                    tasks[run_id] = run_facts.task_run_facts(held)
        missing = [run_id for run_id in run_ids if run_id not in tasks]
        if missing:
            tasks.update(await run_facts.task_runs(connection, missing))
        parents = [fact.flow_run_id for fact in tasks.values() if fact.flow_run_id]
        flows = await run_facts.flow_runs(connection, parents)
    received = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = []
    # the related resources of a run's state events, indexed once per run
    subjects: dict[tuple[str, str, str], dict[str, Any]] = {}
    related_of: dict[uuid.UUID, RelatedSet] = {}  # the state events of a run share them
    for change in changes:
        built = _event(kind, change, flows, tasks, related_of)
        if built is None:
            continue
        row, keys = built
        row["received"] = received
        rows.append(row)
        for rid, role in keys:
            key = (rid, role, row["resource_id"])
            if key not in subjects:
                subjects[key] = {
                    "resource_id": rid,
                    "role": role,
                    "subject_id": row["resource_id"],
                    "first_occurred": row["occurred"],
                }
    await events.insert_prepared(connection, rows)
    await events.insert_subjects(connection, list(subjects.values()))
    metrics.observe_state_changes(kind, changes, flows)


def _event(
    kind: RunKind,
    change: StateChange,
    flows: dict[uuid.UUID, run_facts.FlowRunFacts],
    tasks: dict[uuid.UUID, run_facts.TaskRunFacts],
    related_of: dict[uuid.UUID, RelatedSet],
) -> tuple[dict[str, Any], tuple[tuple[str, str], ...]] | None:
    if kind == "flow_run":
        facts = flows.get(change.run_id)
        if facts is None:
            return None
        name = facts.name
        related = related_of.get(change.run_id) or related_set(
            flow_run_related(
                flow=facts.flow,
                tags=facts.tags,
                deployment=facts.deployment,
                work_queue=facts.work_queue,
                work_pool=facts.work_pool,
                parent_task_run=facts.parent_task_run,
            )
        )
        run_events = RunEvents("flow-run", str(change.run_id), name)
    else:
        task = tasks.get(change.run_id)
        if task is None:
            return None
        parent = None if task.flow_run_id is None else flows.get(task.flow_run_id)
        flow_run: tuple[str, str | None] | None = None
        if task.flow_run_id is not None:
            flow_run = (str(task.flow_run_id), None if parent is None else parent.name)
        related = related_of.get(change.run_id) or related_set(
            task_run_related(
                flow_run=flow_run,
                flow=None if parent is None else parent.flow,
                tags=(*task.tags, *(parent.tags if parent else ())),
                deployment=None if parent is None else parent.deployment,
                work_queue=None if parent is None else parent.work_queue,
                work_pool=None if parent is None else parent.work_pool,
            )
        )
        run_events = RunEvents("task-run", str(change.run_id), task.name)
    related_of[change.run_id] = related
    state, before = change.state, change.previous
    previous = (
        None
        if before is None
        else (str(before.id), before.type.value, before.name, before.message, before.timestamp)
    )
    name, resource, payload, follows = run_events.parts(
        state.type.value,
        state.name,
        state.message,
        encode_timestamp(state.timestamp),
        state.timestamp,
        change.run_count,
        previous,
    )
    row = {
        "id": state.id,
        "occurred": state.timestamp,
        "event": name,
        "resource_id": run_events.resource_id,
        "resource": resource,
        "related": related.json,
        "payload": payload,
        "follows": None if follows is None else uuid.UUID(follows),
    }
    return row, related.keys

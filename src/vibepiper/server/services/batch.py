"""`POST /api/batch`: many writes applied in order, in one transaction.

Each operation is decided exactly as its single endpoint decides it (the same
`orchestration.propose`, the same row values from `flow_runs.new_row`,
`task_runs.new_row` and `run_states.run_values`), but the rows it touches are read
once up front and written once at the end: new runs and their states with one INSERT
per table, changed runs with one UPDATE executemany, log lines with one INSERT. A
rejected state or an unknown run is reported in its outcome and does not stop the
batch.

Idempotent, so a client may re-send a batch whose answer it lost: an existing run id
is left as it is, a state whose `id` is recorded already is skipped, and a log line
equal to a stored one (same run, name, level, message and instant) is not stored again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.orchestration import propose
from vibepiper.schemas import api
from vibepiper.schemas import api_batch as b
from vibepiper.schemas.artifacts import ArtifactUpdate
from vibepiper.schemas.runs import flow_id_for
from vibepiper.server.database import Database
from vibepiper.server.repositories import _dialect, events, flows, logs, states, task_queue
from vibepiper.server.repositories import artifacts as artifact_rows
from vibepiper.server.repositories import flow_runs as flow_runs_repository
from vibepiper.server.repositories.states import RunKind
from vibepiper.server.services import (
    _convert,
    _task_notify,
    _wake,
    artifacts,
    flow_runs,
    run_states,
    state_events,
    task_runs,
)
from vibepiper.states import State
from vibepiper.utilities.ids import new_id

# Columns of a run row that a state change may set (all written back together).
_STATE_COLUMNS = (
    "state_id",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "updated",
    "run_count",
    "start_time",
    "end_time",
)
_KINDS: tuple[RunKind, ...] = ("flow_run", "task_run")
_RUN_TABLES = {"flow_run": t.flow_run, "task_run": t.task_run}
_LABELS = {"flow_run": "flow run", "task_run": "task run"}


async def apply(db: Database, operations: Sequence[b.BatchOperation]) -> b.BatchResult:
    """Apply `operations` in order; one outcome each."""
    async with db.write() as connection:
        batch = _Batch(connection)
        await batch.load(operations)
        outcomes = [await batch.apply(operation) for operation in operations]
        await batch.write()
        finished = _task_notify.finished_runs(batch.changes["task_run"])
        await task_queue.delete(connection, finished)  # final runs leave the task queue
    _wake.wake(db, "events")  # state changes recorded their events
    if finished:
        _task_notify.notify(db, "finished")
    return b.BatchResult(outcomes=outcomes)


class _Batch:
    """The rows one batch reads and writes, kept in memory until `write`."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self.flows: set[uuid.UUID] = set()
        # run rows by id (existing or new in this batch); state changes update them
        self.runs: dict[RunKind, dict[uuid.UUID, dict[str, Any]]] = {
            "flow_run": {},
            "task_run": {},
        }
        self.new: dict[RunKind, list[dict[str, Any]]] = {"flow_run": [], "task_run": []}
        self.changed: dict[RunKind, set[uuid.UUID]] = {"flow_run": set(), "task_run": set()}
        self.reopened: set[uuid.UUID] = set()  # flow runs taken out of a final state
        self.recorded: dict[RunKind, set[uuid.UUID]] = {"flow_run": set(), "task_run": set()}
        self.states: dict[RunKind, list[dict[str, Any]]] = {"flow_run": [], "task_run": []}
        self.inputs: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []
        self.changes: dict[RunKind, list[state_events.StateChange]] = {
            "flow_run": [],
            "task_run": [],
        }
        self.events: list[dict[str, Any]] = []
        self.event_index: list[dict[str, Any]] = []
        self.received = dt.datetime.now(dt.UTC)
        self.artifacts: dict[uuid.UUID, dict[str, Any]] = {}
        self.artifact_updates: list[tuple[uuid.UUID, ArtifactUpdate]] = []

    async def load(self, operations: Sequence[b.BatchOperation]) -> None:
        """Read every run, flow and recorded state id the operations refer to."""
        run_ids: dict[RunKind, set[uuid.UUID]] = {"flow_run": set(), "task_run": set()}
        state_ids: dict[RunKind, set[uuid.UUID]] = {"flow_run": set(), "task_run": set()}
        flow_ids: set[uuid.UUID] = set()
        for op in operations:
            if isinstance(op, b.CreateFlowRun):
                flow_ids.add(op.flow_run.flow_id)
                if op.flow_run.id is not None:
                    run_ids["flow_run"].add(op.flow_run.id)
            elif isinstance(op, b.CreateTaskRun):
                if op.task_run.id is not None:
                    run_ids["task_run"].add(op.task_run.id)
                if op.task_run.flow_run_id is not None:
                    run_ids["flow_run"].add(op.task_run.flow_run_id)
            elif isinstance(op, b.SetFlowRunState):
                run_ids["flow_run"].add(op.flow_run_id)
                if op.state.id is not None:
                    state_ids["flow_run"].add(op.state.id)
            elif isinstance(op, b.SetTaskRunState):
                run_ids["task_run"].add(op.task_run_id)
                if op.state.id is not None:
                    state_ids["task_run"].add(op.state.id)
        for kind in _KINDS:
            table = _RUN_TABLES[kind]
            self.runs[kind] = await _dialect.get_rows(self.connection, table, list(run_ids[kind]))
            if state_ids[kind]:
                ids = list(state_ids[kind])
                self.recorded[kind] = await states.existing_ids(self.connection, kind, ids)
        if flow_ids:
            self.flows = set(await _dialect.get_rows(self.connection, t.flow, list(flow_ids)))

    async def apply(self, op: b.BatchOperation) -> b.BatchOutcome:
        if isinstance(op, b.CreateFlow):
            return await self._create_flow(op.name)
        if isinstance(op, b.CreateFlowRun):
            return self._create_flow_run(op.flow_run)
        if isinstance(op, b.CreateTaskRun):
            return self._create_task_run(op.task_run)
        if isinstance(op, b.SetFlowRunState):
            return self._set_state("flow_run", op.flow_run_id, op.state, op.force)
        if isinstance(op, b.SetTaskRunState):
            return self._set_state("task_run", op.task_run_id, op.state, op.force, op.run_details)
        if isinstance(op, b.CreateArtifacts):
            for body in op.artifacts:
                row = artifacts.row_of(body, self.received)
                self.artifacts.setdefault(row["id"], row)
            return b.BatchOutcome(status="ok")
        if isinstance(op, b.UpdateArtifact):
            return await self._update_artifact(op.artifact_id, op.update)
        if isinstance(op, b.CreateEvents):
            for event in op.events:
                row, index = events.rows_of(event, self.received)
                self.events.append(row)
                self.event_index.extend(index)
            return b.BatchOutcome(status="ok")
        self.logs.extend(line.model_dump() for line in op.logs)
        return b.BatchOutcome(status="ok")

    async def _update_artifact(
        self, artifact_id: uuid.UUID, update: ArtifactUpdate
    ) -> b.BatchOutcome:
        new = self.artifacts.get(artifact_id)
        if new is not None:  # made in this batch: its row takes the change
            new.update({name: getattr(update, name) for name in update.model_fields_set})
            return b.BatchOutcome(status="ok")
        if await artifact_rows.get(self.connection, artifact_id) is None:
            return _error(f"artifact {artifact_id} not found")
        self.artifact_updates.append((artifact_id, update))
        return b.BatchOutcome(status="ok")

    async def _create_flow(self, name: str) -> b.BatchOutcome:
        flow_id = flow_id_for(name)
        created = await flows.insert_if_missing(self.connection, flow_id, name)
        if created:
            self.flows.add(flow_id)
        else:
            row = await flows.get_by_name(self.connection, name)
            if row is not None:
                self.flows.add(row["id"])
        return b.BatchOutcome(status="ok", created=created)

    def _create_flow_run(self, body: api.FlowRunCreate) -> b.BatchOutcome:
        run_id = body.id or new_id()
        if run_id in self.runs["flow_run"]:
            return b.BatchOutcome(status="ok", created=False)
        if body.flow_id not in self.flows:
            return _error(f"flow {body.flow_id} not found")
        values, state = flow_runs.new_row(body, run_id)
        self._add_run("flow_run", values, state, body.state)
        return b.BatchOutcome(status="ok", created=True)

    def _create_task_run(self, body: api.TaskRunCreate) -> b.BatchOutcome:
        run_id = body.id or new_id()
        if run_id in self.runs["task_run"]:
            return b.BatchOutcome(status="ok", created=False)
        if body.flow_run_id is not None and body.flow_run_id not in self.runs["flow_run"]:
            return _error(f"flow run {body.flow_run_id} not found")
        values, state = task_runs.new_row(body, run_id)
        self._add_run("task_run", values, state, body.state)
        self.inputs.extend(_convert.input_rows(run_id, body.task_inputs))
        return b.BatchOutcome(status="ok", created=True)

    def _add_run(
        self,
        kind: RunKind,
        values: dict[str, Any],
        state: State[Any] | None,
        body: api.StateCreate | None,
    ) -> None:
        for name in _STATE_COLUMNS:  # one key set for all: one executemany
            values.setdefault(name, None)
        self.runs[kind][values["id"]] = values
        self.new[kind].append(values)
        if state is not None and body is not None:
            self._record(kind, values["id"], state, body, None, values["run_count"])

    def _set_state(
        self,
        kind: RunKind,
        run_id: uuid.UUID,
        body: api.StateCreate,
        force: bool,
        run_details: dict[str, Any] | None = None,
    ) -> b.BatchOutcome:
        row = self.runs[kind].get(run_id)
        if row is None:
            return _error(f"{_LABELS[kind]} {run_id} not found")
        if body.id is not None and body.id in self.recorded[kind]:
            return b.BatchOutcome(status="ok", detail="recorded already")
        current = _convert.current_state(row)
        proposed = run_states.to_state(body)
        current_state = run_states.as_state(current) if current else None
        decision = propose(current_state, proposed, force=force)
        if not decision.accepted:
            return b.BatchOutcome(status="rejected", state=current, detail=decision.reason)
        row.update(run_states.run_values(decision.state, row["run_count"], row["start_time"]))
        if run_details is not None and kind == "task_run":
            row["details"] = run_details
        if kind == "flow_run" and run_states.reopens(current, decision.state):
            self.reopened.add(run_id)
        self.changed[kind].add(run_id)
        self._record(kind, run_id, decision.state, body, current, row["run_count"])
        return b.BatchOutcome(status="ok")

    def _record(
        self,
        kind: RunKind,
        run_id: uuid.UUID,
        state: State[Any],
        body: api.StateCreate,
        previous: api.StateRead | None,
        run_count: int,
    ) -> None:
        self.changes[kind].append(state_events.StateChange(run_id, state, previous, run_count))
        self.recorded[kind].add(state.id)
        if body.id is not None:
            self.recorded[kind].add(body.id)
        self.states[kind].append(run_states.history_row(kind, run_id, state, body.state_details))

    async def write(self) -> None:
        """Write what the batch changed: new runs first, then states, updates, logs."""
        connection = self.connection
        for kind in _KINDS:
            await _dialect.insert_rows(connection, _RUN_TABLES[kind], self.new[kind])
            if kind == "task_run" and self.inputs:
                await _dialect.insert_rows(connection, t.task_run_input, self.inputs)
        for kind in _KINDS:
            await states.insert_many(connection, kind, self.states[kind])
            new_ids = {row["id"] for row in self.new[kind]}
            changed = [
                {"id": run_id}
                | {name: self.runs[kind][run_id].get(name) for name in _updated_columns(kind)}
                for run_id in self.changed[kind]
                if run_id not in new_ids
            ]
            await _dialect.update_many(connection, _RUN_TABLES[kind], changed)
            await state_events.record(connection, kind, self.changes[kind], self.runs[kind])
        if self.reopened:
            await flow_runs_repository.release_holders(connection, list(self.reopened))
        if self.logs:
            stored = await logs.existing_keys(connection, self.logs)
            fresh = (
                [row for row in self.logs if logs.key(row) not in stored] if stored else self.logs
            )
            await logs.insert_many(connection, fresh)
        if self.events:
            await events.insert(connection, self.events, self.event_index)
        if self.artifacts:
            await artifact_rows.insert(connection, list(self.artifacts.values()))
        for artifact_id, update in self.artifact_updates:
            await artifacts.update_in(connection, artifact_id, update)


def _error(message: str) -> b.BatchOutcome:
    return b.BatchOutcome(status="error", detail=message)


def _updated_columns(kind: RunKind) -> tuple[str, ...]:
    """The columns a state change rewrites: the state's, and a task run's details."""
    return (*_STATE_COLUMNS, "details") if kind == "task_run" else _STATE_COLUMNS

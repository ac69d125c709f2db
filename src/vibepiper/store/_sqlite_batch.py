"""The embedded store's writer: turn queued events into rows, write them in one transaction.

Callers only append small tuples (`Event`) to a queue; everything costly (UUID and
timestamp text, JSON) happens here, in the writer thread. Several events of one run
in a batch become a single upsert of its row; every accepted state still gets its own
history row.

Rows go in as multi-row `INSERT ... VALUES (...), (...)` statements rather than
`executemany`: `sqlite3` releases the GIL around every statement step, and a writer
thread that needs the GIL back once per row waits behind the engine's thread for a
switch interval each time (100,000 rows took 22 s that way; a few dozen statements
per batch take milliseconds).

Every accepted state also becomes its event (`vibepiper.task-run.Completed`, ...), and
the events scripts emit are written too (see `_sqlite_events`), in a second transaction
that follows the batch's: `build_batch` notes what needs an event, `build_events` makes
the rows once the runs are committed, so a flow waiting for its records waits for none
of its events.

Representations come from `vibepiper.database.codec`, the same as the SQLAlchemy
types in `vibepiper.database.types`, so both sides read each other's rows.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from vibepiper.database.codec import encode_json, encode_timestamp
from vibepiper.orchestration.state_events import RelatedSet, RunEvents
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.serialization import to_jsonable
from vibepiper.states import State, StateDetails
from vibepiper.store._sqlite_events import (
    EventFacts,
    RunEventRows,
    StateEventRows,
    task_run_related,
)

# --- what the store's callers append to the queue ---------------------------------------
# (CREATE_FLOW_RUN, run, state, start_time, end_time, run_count)
# (FLOW_RUN_STATE, run, state, start_time, end_time, run_count, previous state)
# (CREATE_TASK_RUN, run, state, start_time, end_time, run_count)
# (TASK_RUN_STATE, run, state, start_time, end_time, run_count, previous state)
# (LOG, row)
# (MARK, threading.Event, runs_only)  set once everything queued before it is committed
#                            (with runs_only, before the events made of it are)
# (EMITTED, event)           a validated `vibepiper.events.Event`
# (ARTIFACT, artifact)       a `vibepiper.schemas.artifacts.ArtifactCreate` with id and created
# (ARTIFACT_UPDATE, id, update)  an `ArtifactUpdate` of an artifact queued or recorded
CREATE_FLOW_RUN = 0
FLOW_RUN_STATE = 1
CREATE_TASK_RUN = 2
TASK_RUN_STATE = 3
LOG = 4
MARK = 5
EMITTED = 6
ARTIFACT = 7
ARTIFACT_UPDATE = 8

Event = tuple[Any, ...]

# Rows per INSERT statement: fewer statements mean fewer GIL round trips, but each
# prepared statement's program grows with it (a 2,000-row task_run insert is ~6 MB).
_ROWS_PER_STATEMENT = 500
Rows = list[tuple[Any, ...]]

_FLOW_RUN_COLUMNS = [
    "id",
    "flow_id",
    "name",
    "state_id",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "parameters",
    "tags",
    "run_count",
    "parent_task_run_id",
    "deployment_id",
    "flow_version",
    "created",
    "updated",
    "start_time",
    "end_time",
    "expected_start_time",
    "entrypoint",
    "infrastructure_pid",
]
_TASK_RUN_COLUMNS = [
    "id",
    "flow_run_id",
    "name",
    "task_key",
    "task_name",
    "dynamic_key",
    "state_id",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "tags",
    "run_count",
    "cache_key",
    "cache_expiration",
    "task_version",
    "subflow_run_id",
    "details",
    "created",
    "updated",
    "start_time",
    "end_time",
]
_STATE_COLUMNS = "id {run}_id type name message timestamp details"


def _upsert(table: str, columns: list[str]) -> tuple[str, str, int]:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("id", "created"))
    return (
        f"INSERT INTO {table} ({', '.join(columns)})",
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        len(columns),
    )


def _insert(table: str, columns: str, tail: str = "") -> tuple[str, str, int]:
    names = columns.split()
    return f"INSERT INTO {table} ({', '.join(names)})", tail, len(names)


# (table, statement head, statement tail, column count), in foreign-key order
_STATEMENTS = {
    "flow": _insert("flow", "id name created", "ON CONFLICT DO NOTHING"),
    "flow_run": _upsert("flow_run", _FLOW_RUN_COLUMNS),
    "flow_run_state": _insert(
        "flow_run_state",
        _STATE_COLUMNS.format(run="flow_run"),
        "ON CONFLICT (id) DO NOTHING",
    ),
    "task_run": _upsert("task_run", _TASK_RUN_COLUMNS),
    "task_run_input": _insert(
        "task_run_input",
        "task_run_id parameter position input_type upstream_id upstream_name",
        "ON CONFLICT (task_run_id, parameter, position) DO UPDATE SET "
        "input_type = excluded.input_type, upstream_id = excluded.upstream_id, "
        "upstream_name = excluded.upstream_name",
    ),
    "task_run_state": _insert(
        "task_run_state",
        _STATE_COLUMNS.format(run="task_run"),
        "ON CONFLICT (id) DO NOTHING",
    ),
    "log": _insert("log", "flow_run_id task_run_id name level message timestamp"),
    "artifact": _insert(
        "artifact",
        "id key type description data metadata_ flow_run_id task_run_id created updated",
        "ON CONFLICT (id) DO NOTHING",
    ),
    "event": _insert(
        "event",
        "id occurred event resource_id resource related payload received follows",
        "ON CONFLICT (id) DO NOTHING",
    ),
    "event_subject": _insert(
        "event_subject", "resource_id role subject_id first_occurred", "ON CONFLICT DO NOTHING"
    ),
}


# The related resources of the events just inserted, indexed by SQLite itself from their
# `related` JSON: the writer thread holds the GIL for none of it.
_LAST_EVENT = "SELECT coalesce(max(rowid), 0) FROM event"
_INDEX_RELATED = (
    "INSERT INTO event_resource (resource_id, occurred, event_id, role) "
    "SELECT json_extract(r.value, '$.\"vibepiper.resource.id\"'), e.occurred, e.id, "
    "json_extract(r.value, '$.\"vibepiper.resource.role\"') "
    "FROM event AS e, json_each(e.related) AS r WHERE e.rowid > ? "
    "ON CONFLICT DO NOTHING"
)


class Batch:
    """The rows of one transaction, built from a list of events (`pending`: what the
    events made of them need, for `build_events`)."""

    __slots__ = ("pending", "rows")

    def __init__(self, rows: dict[str, Rows], pending: Pending | None = None) -> None:
        self.rows = rows
        self.pending = pending

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def write(self, con: sqlite3.Connection) -> None:
        """Insert every row on `con`, inside the caller's transaction."""
        max_vars = con.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        for table, (head, tail, width) in _STATEMENTS.items():
            rows = self.rows.get(table)
            if not rows:
                continue
            _insert_rows(con, head, tail, width, rows, max_vars)
        for statement, *parameters in self.rows.get("artifact_update", ()):
            con.execute(statement, parameters)
        # scripts' events: their related resources indexed one by one (a run's state
        # events share theirs, indexed once per run in `event_subject`)
        if self.rows.get("emitted_event"):
            before = con.execute(_LAST_EVENT).fetchone()[0]
            head, tail, width = _STATEMENTS["event"]
            _insert_rows(con, head, tail, width, self.rows["emitted_event"], max_vars)
            con.execute(_INDEX_RELATED, (before,))

    def scrubbed(self) -> Batch:
        """The same rows with text made encodable (lone surrogates replaced)."""
        return Batch(
            {table: [tuple(map(_scrub, row)) for row in rows] for table, rows in self.rows.items()}
        )


class Pending:
    """What the events of a batch are made of: its state changes (each with its state
    row) and the events scripts emitted, in queue order, and the text cache and receive
    time of the batch (so an id's text is computed once for both transactions)."""

    __slots__ = ("ids", "items", "now")

    def __init__(self, ids: _Text, now: str) -> None:
        self.ids = ids
        self.now = now
        self.items: list[tuple[Event, tuple[Any, ...] | None]] = []

    def __len__(self) -> int:
        return len(self.items)


def build_batch(events: list[Event]) -> Batch:
    """Rows for `events`: one upsert per run (its latest event), one row per state and log.
    The events of its states, and the events scripts emitted, are noted in the batch's
    `pending` for `build_events`.

    `MARK` events carry no rows; the caller sets them once the batch is committed.
    """
    now = encode_timestamp(dt.datetime.now(dt.UTC))
    flows: dict[Any, tuple[Any, ...]] = {}
    flow_runs: dict[int, Event] = {}
    task_runs: dict[int, Event] = {}
    flow_states: Rows = []
    task_states: Rows = []
    inputs: Rows = []
    logs: Rows = []
    artifacts: Rows = []
    artifact_updates: Rows = []
    ids = _Text()
    pending = Pending(ids, now)
    noted = pending.items.append
    for event in events:
        kind = event[0]
        if kind == TASK_RUN_STATE:
            run = event[1]
            task_runs[id(run)] = event
            row = _state_row(ids.of(run), event[2], ids)
            task_states.append(row)
            noted((event, row))
        elif kind == CREATE_TASK_RUN:
            run = event[1]
            task_runs[id(run)] = event
            if run.task_inputs:
                inputs.extend(_input_rows(ids.of(run), run))
            if run.subflow_run_id is not None:
                noted((event, None))
        elif kind == LOG:
            logs.append(_log_row(event[1], ids))
        elif kind == FLOW_RUN_STATE:
            run = event[1]
            flow_runs[id(run)] = event
            row = _state_row(ids.of(run), event[2], ids)
            flow_states.append(row)
            noted((event, row))
        elif kind == CREATE_FLOW_RUN:
            run = event[1]
            flow_runs[id(run)] = event
            flows[run.flow_id] = (ids.uuid(run.flow_id), run.flow_name, now)
        elif kind == EMITTED:
            noted((event, None))
        elif kind == ARTIFACT:
            artifacts.append(_artifact_row(event[1], ids, now))
        elif kind == ARTIFACT_UPDATE:
            artifact_updates.append(_artifact_update(event[1], event[2], ids, now))
    rows: dict[str, Rows] = {
        "flow": list(flows.values()),
        "flow_run": [_flow_run_row(e, ids, now) for e in flow_runs.values()],
        "flow_run_state": flow_states,
        "task_run": [_task_run_row(e, ids, now) for e in task_runs.values()],
        "task_run_input": inputs,
        "task_run_state": task_states,
        "log": logs,
        "artifact": artifacts,
        "artifact_update": artifact_updates,
    }
    return Batch(rows, pending)


def build_events(pending: Pending, facts: EventFacts) -> Batch:
    """The `event` rows of a committed batch: the event of every state it recorded
    (`vibepiper.task-run.Completed`, ...) and the events scripts emitted."""
    ids, now = pending.ids, pending.now
    emitted = StateEventRows()
    runs: dict[int, RunEventRows] = {}  # the state events of each run of the batch
    related: dict[tuple[str | None, tuple[str, ...]], RelatedSet] = {}  # of task runs
    for event, row in pending.items:
        kind = event[0]
        if kind == TASK_RUN_STATE:
            assert row is not None
            run = event[1]
            writer = runs.get(id(run))
            if writer is None:
                writer = _task_run_events(run, ids, facts, related, emitted, row)
                runs[id(run)] = writer
            writer.add(event[2], row[0], row[5], event[5], event[6], now)
        elif kind == FLOW_RUN_STATE:
            assert row is not None
            run = event[1]
            writer = runs.get(id(run))
            if writer is None:
                writer = _flow_run_events(run, ids, facts, emitted, row)
                runs[id(run)] = writer
            writer.add(event[2], row[0], row[5], event[5], event[6], now)
        elif kind == CREATE_TASK_RUN:
            facts.note_proxy(ids.of(event[1]), event[1].name)
        elif kind == EMITTED:
            emitted.add_emitted(event[1], now)
    return Batch(
        {
            "event": emitted.events,
            "event_subject": emitted.subjects,
            "emitted_event": emitted.emitted,
        }
    )


def _flow_run_events(
    run: FlowRun, ids: _Text, facts: EventFacts, emitted: StateEventRows, row: tuple[Any, ...]
) -> RunEventRows:
    """The state events of a flow run in this batch (`row`: its first state's row)."""
    run_id = ids.of(run)
    related = facts.of_flow_run(run, run_id).related()
    return emitted.of_run(RunEvents("flow-run", run_id, run.name), related, row[5], ids.uuid)


def _task_run_events(
    run: TaskRun,
    ids: _Text,
    facts: EventFacts,
    related: dict[tuple[str | None, tuple[str, ...]], RelatedSet],
    emitted: StateEventRows,
    row: tuple[Any, ...],
) -> RunEventRows:
    """The state events of a task run in this batch (`row`: its first state's row); the
    task runs of one flow run with the same tags share their related resources."""
    flow_run_id = ids.optional(run.flow_run_id)
    key = (flow_run_id, tuple(run.tags))
    shared = related.get(key)
    if shared is None:
        flow_run = None if flow_run_id is None else facts.of_flow_run_id(flow_run_id)
        shared = related[key] = task_run_related(flow_run, run, flow_run_id)
    events = RunEvents("task-run", ids.of(run), run.name)
    return emitted.of_run(events, shared, row[5], ids.uuid)


class _Text:
    """Text of UUIDs and timestamps, computed once per object and batch.

    A task run's id, and the timestamps its start and end times share with its
    states, appear in several rows. Objects are keyed by identity; each entry keeps
    its object alive, so an id cannot be reused by another object mid-batch.
    """

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, str]] = {}

    def of(self, run: FlowRun | TaskRun) -> str:
        return self.uuid(run.id)

    def uuid(self, value: Any) -> str:
        entry = self._cache.get(id(value))
        if entry is None:
            entry = self._cache[id(value)] = (value, str(value))
        return entry[1]

    def optional(self, value: Any) -> str | None:
        return None if value is None else self.uuid(value)

    def ts(self, value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        entry = self._cache.get(id(value))
        if entry is None:
            entry = self._cache[id(value)] = (value, encode_timestamp(value))
        return entry[1]


def _json(value: Any, empty: str) -> str:
    if not value:
        return empty
    # The engine (or the user's flow body) may mutate a dict while we walk it.
    for _ in range(3):
        try:
            return encode_json(to_jsonable(value))
        except RuntimeError:
            continue
    return empty


def _state_columns(state: State[Any] | None, ids: _Text) -> tuple[Any, ...]:
    if state is None:
        return (None, None, None, None, None)
    return (
        ids.uuid(state.id),
        state.type._value_,
        state.name,
        state.message,
        ids.ts(state.timestamp),
    )


def _flow_run_row(event: Event, ids: _Text, now: str) -> tuple[Any, ...]:
    run, state, start_time, end_time, run_count = event[1:6]
    return (
        ids.of(run),
        ids.uuid(run.flow_id),
        run.name,
        *_state_columns(state, ids),
        _json(run.parameters, "{}"),
        _json(run.tags, "[]"),
        run_count,
        ids.optional(run.parent_task_run_id),
        ids.optional(run.deployment_id),
        run.flow_version,
        ids.ts(run.created) or now,
        now,
        ids.ts(start_time),
        ids.ts(end_time),
        ids.ts(run.expected_start_time),
        run.entrypoint,
        run.infrastructure_pid,
    )


def _task_run_row(event: Event, ids: _Text, now: str) -> tuple[Any, ...]:
    run, state, start_time, end_time, run_count = event[1:6]
    return (
        ids.of(run),
        ids.optional(run.flow_run_id),
        run.name,
        run.task_key,
        run.task_name,
        run.dynamic_key,
        *_state_columns(state, ids),
        _json(run.tags, "[]"),
        run_count,
        run.cache_key,
        ids.ts(run.cache_expiration),
        run.task_version,
        ids.optional(run.subflow_run_id),
        _json(run.details, "{}"),
        ids.ts(run.created) or now,
        now,
        ids.ts(start_time),
        ids.ts(end_time),
    )


def _state_row(run_id: str, state: State[Any], ids: _Text) -> tuple[Any, ...]:
    return (
        ids.uuid(state.id),
        run_id,
        state.type._value_,
        state.name,
        state.message,
        ids.ts(state.timestamp),
        _details_json(state.state_details, ids),
    )


_PLAIN_DETAILS = {"flow_run_id", "task_run_id"}
# The fast path below spells out `StateDetails.to_json` for the common case; it is
# only used while StateDetails has exactly the slots it was written for.
_DETAILS_FAST = set(StateDetails.__slots__) == _PLAIN_DETAILS | {
    "cache_expiration",
    "cache_key",
    "pause_key",
    "pause_reschedule",
    "pause_timeout",
    "result",
    "retriable",
    "run_input_keyset",
    "scheduled_time",
    "untrackable_result",
}


def _details_json(details: StateDetails, ids: _Text) -> str:
    if (
        _DETAILS_FAST
        and details.scheduled_time is None
        and details.cache_key is None
        and details.cache_expiration is None
        and details.retriable is None
        and details.pause_timeout is None
        and details.pause_key is None
        and details.result is None
        and not details.untrackable_result
    ):
        flow_run_id, task_run_id = details.flow_run_id, details.task_run_id
        if flow_run_id is not None and task_run_id is not None:
            return (
                f'{{"flow_run_id":"{ids.uuid(flow_run_id)}",'
                f'"task_run_id":"{ids.uuid(task_run_id)}"}}'
            )
        if task_run_id is None and flow_run_id is not None:
            return f'{{"flow_run_id":"{ids.uuid(flow_run_id)}"}}'
    return encode_json(details.to_json())


def _input_rows(run_id: str, run: TaskRun) -> Rows:
    rows: Rows = []
    for parameter, refs in run.task_inputs.items():
        if not refs:
            rows.append((run_id, parameter, 0, None, None, None))
        for position, ref in enumerate(refs):
            upstream = None if ref.id is None else str(ref.id)
            rows.append((run_id, parameter, position, ref.input_type, upstream, ref.name))
    return rows


def _log_row(row: LogRecordRow, ids: _Text) -> tuple[Any, ...]:
    return (
        ids.optional(row.flow_run_id),
        ids.optional(row.task_run_id),
        row.name,
        row.level,
        row.message,
        ids.ts(row.timestamp),
    )


def _artifact_row(artifact: Any, ids: _Text, now: str) -> tuple[Any, ...]:
    created = ids.ts(artifact.created) or now
    return (
        ids.uuid(artifact.id),
        artifact.key,
        artifact.type,
        artifact.description,
        None if artifact.data is None else encode_json(artifact.data),
        None if artifact.metadata_ is None else encode_json(artifact.metadata_),
        ids.optional(artifact.flow_run_id),
        ids.optional(artifact.task_run_id),
        created,
        created,
    )


_ARTIFACT_JSON = frozenset({"data", "metadata_"})


def _artifact_update(artifact_id: Any, update: Any, ids: _Text, now: str) -> tuple[Any, ...]:
    """(UPDATE statement, its parameters...) for the fields `update` sets."""
    names = sorted(update.model_fields_set)
    values = [getattr(update, name) for name in names]
    values = [
        None if value is None else encode_json(value) if name in _ARTIFACT_JSON else value
        for name, value in zip(names, values, strict=True)
    ]
    assignments = "".join(f"{name} = ?, " for name in names)
    statement = f"UPDATE artifact SET {assignments}updated = ? WHERE id = ?"
    return (statement, *values, now, ids.uuid(artifact_id))


def _insert_rows(
    con: sqlite3.Connection, head: str, tail: str, width: int, rows: Rows, max_vars: int
) -> None:
    per_statement = max(1, min(max_vars // width, _ROWS_PER_STATEMENT))
    placeholder = "(" + ",".join("?" * width) + ")"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ",".join([placeholder] * len(chunk))
        con.execute(f"{head} VALUES {values} {tail}", [v for row in chunk for v in row])


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    return value

"""The embedded store's reads: plain `sqlite3` queries returning the view dataclasses.

Answers match `MemoryStore` (the shared store suite checks it): flow runs newest
first, task runs by creation, states and logs by timestamp; ties keep insertion order
(SQLite's rowid).
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from vibepiper.database.codec import decode_json, decode_timestamp, decode_uuid
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView

_FLOW_RUN_SELECT = """
SELECT r.id, r.name, r.flow_id, coalesce(f.name, ''), r.state_type, r.state_name,
       r.state_message, r.parameters, r.tags, r.run_count, r.parent_task_run_id,
       r.created, r.start_time, r.end_time, r.entrypoint, r.infrastructure_pid
FROM flow_run AS r LEFT JOIN flow AS f ON f.id = r.flow_id
"""

_TASK_RUN_SELECT = """
SELECT id, name, task_key, task_name, flow_run_id, dynamic_key, state_type, state_name,
       state_message, tags, run_count, cache_key, created, start_time, end_time,
       subflow_run_id, details
FROM task_run WHERE flow_run_id IS ? ORDER BY created, rowid
"""

_INPUTS_SELECT = """
SELECT task_run_id, parameter, input_type, upstream_id, upstream_name
FROM task_run_input
WHERE task_run_id IN (SELECT id FROM task_run WHERE flow_run_id IS ?)
ORDER BY rowid
"""


def read_flow_run(con: sqlite3.Connection, flow_run_id: uuid.UUID) -> FlowRunView:
    row = con.execute(_FLOW_RUN_SELECT + "WHERE r.id = ?", (str(flow_run_id),)).fetchone()
    if row is None:
        raise ObjectNotFound(f"No flow run with id {flow_run_id}")
    return _flow_run_view(row)


def read_flow_runs(
    con: sqlite3.Connection,
    *,
    state: str | None,
    flow_name: str | None,
    limit: int,
    offset: int,
) -> list[FlowRunView]:
    where: list[str] = []
    args: list[Any] = []
    if state:
        wanted = state.upper()
        where.append("(r.state_type = ? OR upper(r.state_name) = ?)")
        args += [wanted, wanted]
    if flow_name is not None:
        where.append("f.name = ?")
        args.append(flow_name)
    sql = _FLOW_RUN_SELECT
    if where:
        sql += "WHERE " + " AND ".join(where)
    sql += " ORDER BY r.created DESC, r.rowid LIMIT ? OFFSET ?"
    args += [max(limit, 0), max(offset, 0)]
    return [_flow_run_view(row) for row in con.execute(sql, args)]


def read_task_runs(con: sqlite3.Connection, flow_run_id: uuid.UUID | None) -> list[TaskRunView]:
    """A flow run's task runs; `None`: the task runs called outside any flow."""
    key = str(flow_run_id) if flow_run_id is not None else None
    con.execute("BEGIN")  # one snapshot for runs and edges
    try:
        runs = con.execute(_TASK_RUN_SELECT, (key,)).fetchall()
        edges = con.execute(_INPUTS_SELECT, (key,)).fetchall()
    finally:
        con.execute("COMMIT")
    inputs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for task_run_id, parameter, input_type, upstream_id, upstream_name in edges:
        refs = inputs.setdefault(task_run_id, {}).setdefault(parameter, [])
        if input_type is None:
            continue  # the parameter exists, nothing upstream feeds it
        ref: dict[str, Any] = {"input_type": input_type, "id": upstream_id}
        if upstream_name:
            ref["name"] = upstream_name
        refs.append(ref)
    return [_task_run_view(row, inputs.get(row[0], {})) for row in runs]


def read_states(con: sqlite3.Connection, kind: str, run_id: uuid.UUID) -> list[StateRow]:
    """The state history of a `flow_run` or `task_run` (`kind`), oldest first."""
    key = str(run_id)
    con.execute("BEGIN")
    try:
        found = con.execute(f"SELECT 1 FROM {kind} WHERE id = ?", (key,)).fetchone()
        rows = con.execute(
            f"SELECT id, type, name, message, timestamp, details FROM {kind}_state "
            f"WHERE {kind}_id = ? ORDER BY timestamp, rowid",
            (key,),
        ).fetchall()
    finally:
        con.execute("COMMIT")
    if found is None:
        noun = kind.replace("_", " ")
        raise ObjectNotFound(f"No {noun} with id {run_id}")
    return [_state_row(run_id, *row) for row in rows]


def _state_row(
    run_id: uuid.UUID,
    state_id: str,
    type_: str,
    name: str,
    message: str | None,
    timestamp: str,
    details: str,
) -> StateRow:
    return StateRow(
        id=decode_uuid(state_id),
        run_id=run_id,
        type=type_,
        name=name,
        message=message,
        timestamp=decode_timestamp(timestamp),
        details=decode_json(details),
    )


def read_logs(
    con: sqlite3.Connection, flow_run_id: uuid.UUID, task_run_id: uuid.UUID | None
) -> list[LogView]:
    sql = "SELECT flow_run_id, task_run_id, name, level, message, timestamp FROM log "
    args = [str(flow_run_id)]
    if task_run_id is None:
        sql += "WHERE flow_run_id = ? "
    else:
        sql += "WHERE flow_run_id = ? AND task_run_id = ? "
        args.append(str(task_run_id))
    sql += "ORDER BY timestamp, id"
    return [
        LogView(
            flow_run_id=_uuid(fr_id),
            task_run_id=_uuid(tr_id),
            name=name,
            level=level,
            message=message,
            timestamp=decode_timestamp(timestamp),
        )
        for fr_id, tr_id, name, level, message, timestamp in con.execute(sql, args)
    ]


def _uuid(text: str | None) -> uuid.UUID | None:
    return None if text is None else decode_uuid(text)


def _ts(text: str | None) -> Any:
    return None if text is None else decode_timestamp(text)


def _flow_run_view(row: tuple[Any, ...]) -> FlowRunView:
    return FlowRunView(
        id=decode_uuid(row[0]),
        name=row[1],
        flow_id=decode_uuid(row[2]),
        flow_name=row[3],
        state_type=row[4],
        state_name=row[5],
        state_message=row[6],
        parameters=decode_json(row[7]),
        tags=decode_json(row[8]),
        run_count=row[9],
        parent_task_run_id=_uuid(row[10]),
        created=_ts(row[11]),
        start_time=_ts(row[12]),
        end_time=_ts(row[13]),
        entrypoint=row[14],
        infrastructure_pid=row[15],
    )


def _task_run_view(
    row: tuple[Any, ...], task_inputs: dict[str, list[dict[str, Any]]]
) -> TaskRunView:
    return TaskRunView(
        id=decode_uuid(row[0]),
        name=row[1],
        task_key=row[2],
        task_name=row[3],
        flow_run_id=_uuid(row[4]),
        dynamic_key=row[5],
        state_type=row[6],
        state_name=row[7],
        state_message=row[8],
        tags=decode_json(row[9]),
        run_count=row[10],
        cache_key=row[11],
        created=_ts(row[12]),
        start_time=_ts(row[13]),
        end_time=_ts(row[14]),
        subflow_run_id=_uuid(row[15]),
        task_inputs=task_inputs,
        details=decode_json(row[16]),
    )


def current_flow_run_states(
    con: sqlite3.Connection, run_ids: list[uuid.UUID]
) -> dict[uuid.UUID, StateRow]:
    """The current state of each of `run_ids` that exists and has one."""
    marks = ",".join("?" * len(run_ids))
    rows = con.execute(
        "SELECT r.id, s.id, s.type, s.name, s.message, s.timestamp, s.details "
        "FROM flow_run AS r JOIN flow_run_state AS s ON s.id = r.state_id "
        f"WHERE r.id IN ({marks})",
        [str(run_id) for run_id in run_ids],
    ).fetchall()
    found: dict[uuid.UUID, StateRow] = {}
    for run_id, *state in rows:
        key = decode_uuid(run_id)
        found[key] = _state_row(key, *state)
    return found

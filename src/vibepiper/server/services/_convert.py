"""Database rows to wire models."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import RowMapping

from vibepiper.schemas import api
from vibepiper.states import StateType


def current_state(row: RowMapping | Mapping[str, Any]) -> api.StateRead | None:
    """The state denormalised on a run's row (details are kept in the history only)."""
    if row["state_type"] is None or row["state_id"] is None:
        return None
    return api.StateRead(
        id=row["state_id"],
        type=StateType(row["state_type"]),
        name=row["state_name"] or row["state_type"].capitalize(),
        message=row["state_message"],
        timestamp=row["state_timestamp"] or row["updated"],
    )


def state_read(row: RowMapping) -> api.StateRead:
    return api.StateRead(
        id=row["id"],
        type=StateType(row["type"]),
        name=row["name"],
        message=row["message"],
        timestamp=row["timestamp"],
        state_details=row["details"] or {},
    )


def flow_read(row: RowMapping) -> api.FlowRead:
    return api.FlowRead(id=row["id"], name=row["name"], created=row["created"])


def flow_run_read(row: RowMapping) -> api.FlowRunRead:
    state = current_state(row)
    return api.FlowRunRead(
        **{name: row[name] for name in _FLOW_RUN_FIELDS},
        state_type=state.type if state else None,
        state_name=state.name if state else None,
        state=state,
        parameters=row["parameters"] or {},
        tags=row["tags"] or [],
    )


_FLOW_RUN_FIELDS = [
    "id",
    "name",
    "flow_id",
    "flow_name",
    "run_count",
    "parent_task_run_id",
    "deployment_id",
    "flow_version",
    "entrypoint",
    "infrastructure_pid",
    "created",
    "updated",
    "start_time",
    "end_time",
    "expected_start_time",
    "work_pool_name",
    "work_queue_name",
    "worker_name",
    "heartbeat_time",
    "idempotency_key",
    "deployment_schedule_id",
]


def task_run_read(row: RowMapping, inputs: Sequence[RowMapping] = ()) -> api.TaskRunRead:
    state = current_state(row)
    return api.TaskRunRead(
        **{name: row[name] for name in _TASK_RUN_FIELDS},
        state_type=state.type if state else None,
        state_name=state.name if state else None,
        state=state,
        tags=row["tags"] or [],
        details=row["details"] or {},
        task_inputs=task_inputs(inputs),
    )


_TASK_RUN_FIELDS = [
    "id",
    "name",
    "flow_run_id",
    "task_key",
    "task_name",
    "dynamic_key",
    "run_count",
    "cache_key",
    "cache_expiration",
    "task_version",
    "subflow_run_id",
    "created",
    "updated",
    "start_time",
    "end_time",
]


def task_inputs(rows: Sequence[RowMapping]) -> dict[str, list[api.TaskRunInput]]:
    """Input rows grouped by parameter; a parameter with no upstream maps to []."""
    out: dict[str, list[api.TaskRunInput]] = {}
    for row in rows:
        refs = out.setdefault(row["parameter"], [])
        if row["input_type"] is not None:
            refs.append(
                api.TaskRunInput(
                    input_type=row["input_type"], id=row["upstream_id"], name=row["upstream_name"]
                )
            )
    return out


def input_rows(
    run_id: uuid.UUID, inputs: dict[str, list[api.TaskRunInput]]
) -> list[dict[str, Any]]:
    """`task_run_input` rows for a task run's inputs (the embedded store's layout)."""
    rows: list[dict[str, Any]] = []
    for parameter, refs in inputs.items():
        if not refs:
            rows.append(_input_row(run_id, parameter, 0, None))
        for position, ref in enumerate(refs):
            rows.append(_input_row(run_id, parameter, position, ref))
    return rows


def _input_row(
    run_id: uuid.UUID, parameter: str, position: int, ref: api.TaskRunInput | None
) -> dict[str, Any]:
    return {
        "task_run_id": run_id,
        "parameter": parameter,
        "position": position,
        "input_type": ref.input_type if ref else None,
        "upstream_id": ref.id if ref else None,
        "upstream_name": ref.name if ref else None,
    }


def log_read(row: RowMapping) -> api.LogRead:
    return api.LogRead(**{name: row[name] for name in api.LogRead.model_fields})

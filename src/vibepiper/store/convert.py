"""Turn the engine's live records into read models (shared by every store)."""

from __future__ import annotations

import uuid
from typing import Any

from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.serialization import to_jsonable
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import State


def state_row(run_id: uuid.UUID, state: State[Any]) -> StateRow:
    return StateRow(
        id=state.id,
        run_id=run_id,
        type=state.type.value,
        name=state.name,
        message=state.message,
        timestamp=state.timestamp,
        details=state.state_details.to_json(),
    )


def flow_run_view(run: FlowRun) -> FlowRunView:
    state = run.state
    return FlowRunView(
        id=run.id,
        name=run.name,
        flow_id=run.flow_id,
        flow_name=run.flow_name,
        state_type=state.type.value if state else None,
        state_name=state.name if state else None,
        state_message=state.message if state else None,
        parameters=to_jsonable(run.parameters),
        tags=list(run.tags),
        run_count=run.run_count,
        parent_task_run_id=run.parent_task_run_id,
        created=run.created,
        start_time=run.start_time,
        end_time=run.end_time,
        entrypoint=run.entrypoint,
        infrastructure_pid=run.infrastructure_pid,
    )


def task_inputs_json(run: TaskRun) -> dict[str, list[dict[str, Any]]]:
    return {
        name: [
            {"input_type": ref.input_type, "id": str(ref.id) if ref.id else None}
            | ({"name": ref.name} if ref.name else {})
            for ref in refs
        ]
        for name, refs in run.task_inputs.items()
    }


def task_run_view(run: TaskRun) -> TaskRunView:
    state = run.state
    return TaskRunView(
        id=run.id,
        name=run.name,
        task_key=run.task_key,
        task_name=run.task_name,
        flow_run_id=run.flow_run_id,
        dynamic_key=run.dynamic_key,
        state_type=state.type.value if state else None,
        state_name=state.name if state else None,
        state_message=state.message if state else None,
        tags=list(run.tags),
        run_count=run.run_count,
        cache_key=run.cache_key,
        created=run.created,
        start_time=run.start_time,
        end_time=run.end_time,
        subflow_run_id=run.subflow_run_id,
        task_inputs=task_inputs_json(run),
        details=dict(run.details),
    )


def log_view(row: LogRecordRow) -> LogView:
    return LogView(
        flow_run_id=row.flow_run_id,
        task_run_id=row.task_run_id,
        name=row.name,
        level=row.level,
        message=row.message,
        timestamp=row.timestamp,
    )

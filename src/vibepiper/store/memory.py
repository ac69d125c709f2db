"""An in-memory store: the reference behaviour for unit tests and for `VIBEPIPER_HOME=:memory:`.

Every store must answer reads exactly as this one does (the shared store suite in
tests/ runs the same cases against each backend).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun
from vibepiper.schemas.views import FlowRunView, LogView, StateRow, TaskRunView
from vibepiper.states import State
from vibepiper.store.base import StoreBase
from vibepiper.store.convert import (
    flow_run_view,
    log_view,
    state_row,
    task_run_view,
)


class MemoryStore(StoreBase):
    """Keeps runs, states and logs in dictionaries; nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flow_runs: dict[uuid.UUID, FlowRun] = {}
        self._task_runs: dict[uuid.UUID, TaskRun] = {}
        self._states: dict[uuid.UUID, list[StateRow]] = {}
        self._logs: list[LogView] = []

    # --- writes ---------------------------------------------------------------------
    def create_flow_run(self, run: FlowRun) -> None:
        with self._lock:
            self._flow_runs[run.id] = run
            self._states.setdefault(run.id, [])

    def create_task_run(self, run: TaskRun) -> None:
        with self._lock:
            self._task_runs[run.id] = run
            self._states.setdefault(run.id, [])

    def _persist_flow_run_state(self, run: FlowRun, state: State[Any]) -> None:
        with self._lock:
            self._states.setdefault(run.id, []).append(state_row(run.id, state))

    def _persist_task_run_state(self, run: TaskRun, state: State[Any]) -> None:
        with self._lock:
            self._states.setdefault(run.id, []).append(state_row(run.id, state))

    def write_log(self, row: LogRecordRow) -> None:
        with self._lock:
            self._logs.append(log_view(row))

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        return None

    # --- reads ----------------------------------------------------------------------
    def read_flow_run(self, flow_run_id: uuid.UUID) -> FlowRunView:
        with self._lock:
            run = self._flow_runs.get(flow_run_id)
            if run is None:
                raise ObjectNotFound(f"No flow run with id {flow_run_id}")
            return flow_run_view(run)

    def read_flow_runs(
        self,
        *,
        state: str | None = None,
        flow_name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[FlowRunView]:
        with self._lock:
            runs = list(self._flow_runs.values())
        wanted = state.upper() if state else None
        selected = [
            r
            for r in runs
            if (wanted is None or wanted in (r.state_type, (r.state_name or "").upper()))
            and (flow_name is None or r.flow_name == flow_name)
        ]
        selected.sort(key=lambda r: r.created or r.start_time, reverse=True)  # type: ignore[arg-type,return-value]
        return [flow_run_view(r) for r in selected[offset : offset + limit]]

    def read_task_runs(self, flow_run_id: uuid.UUID | None) -> list[TaskRunView]:
        with self._lock:
            runs = [r for r in self._task_runs.values() if r.flow_run_id == flow_run_id]
        runs.sort(key=lambda r: r.created)  # type: ignore[arg-type,return-value]
        return [task_run_view(r) for r in runs]

    def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[StateRow]:
        with self._lock:
            if flow_run_id not in self._flow_runs:
                raise ObjectNotFound(f"No flow run with id {flow_run_id}")
            return list(self._states.get(flow_run_id, []))

    def read_task_run_states(self, task_run_id: uuid.UUID) -> list[StateRow]:
        with self._lock:
            if task_run_id not in self._task_runs:
                raise ObjectNotFound(f"No task run with id {task_run_id}")
            return list(self._states.get(task_run_id, []))

    def read_logs(
        self, flow_run_id: uuid.UUID, *, task_run_id: uuid.UUID | None = None
    ) -> list[LogView]:
        with self._lock:
            logs = [
                log
                for log in self._logs
                if log.flow_run_id == flow_run_id
                and (task_run_id is None or log.task_run_id == task_run_id)
            ]
        logs.sort(key=lambda log: log.timestamp)
        return logs

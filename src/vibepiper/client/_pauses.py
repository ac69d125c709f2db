"""Pausing, suspending and resuming flow runs, and waiting for runs' states to change
(`/api/flow_runs/{id}/pause|suspend`, `/api/flow_runs/states/wait`), as call
descriptions the clients and the API store send."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from vibepiper.client._layer import Call, _list, _model
from vibepiper.schemas import api
from vibepiper.schemas.pauses import RunState


def request_pause(
    flow_run_id: uuid.UUID, *, reschedule: bool, timeout_seconds: float | None = None
) -> Call[api.OrchestrationResult]:
    verb = "suspend" if reschedule else "pause"
    body = {} if timeout_seconds is None else {"timeout_seconds": timeout_seconds}
    return Call("POST", f"flow_runs/{flow_run_id}/{verb}", _model(api.OrchestrationResult), body)


def wait_for_states(
    known: Mapping[uuid.UUID, uuid.UUID | None], wait_seconds: float
) -> Call[list[RunState]]:
    body = {
        "ids": [str(run_id) for run_id in known],
        "known": {str(k): (str(v) if v is not None else None) for k, v in known.items()},
        "wait_seconds": wait_seconds,
    }
    return Call("POST", "flow_runs/states/wait", _list(RunState), body)


def resume_here(
    flow_run_id: uuid.UUID, run_input: dict[str, object] | None = None
) -> Call[api.OrchestrationResult]:
    """Resume a suspended run without a deployment to run it in the caller (Pending)."""
    body = {"run_input": run_input, "run_here": True}
    return Call("POST", f"flow_runs/{flow_run_id}/resume", _model(api.OrchestrationResult), body)

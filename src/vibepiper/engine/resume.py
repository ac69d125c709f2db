"""Retry a failed or crashed flow run from the point where it failed.

The flow is loaded again from the entrypoint its run recorded and runs as the next
attempt of the same flow run, with the same parameters. Task runs are matched to
the previous attempt's by task and call order (`task_key`, `dynamic_key`): those that
completed with a persisted result are not run again; failed, crashed and never-started
work runs. A run left Running by a process that no longer exists (killed with
SIGKILL, say) is first marked Crashed.
"""

from __future__ import annotations

import uuid
from typing import Any

from vibepiper.exceptions import ObjectNotFound, PrefectException
from vibepiper.schemas.runs import FlowRun
from vibepiper.states import AwaitingRetry, Crashed, State, StateType


class RetryRefused(PrefectException):
    """The flow run cannot be retried (still running, completed, or not loadable)."""


def retry_flow_run(flow_run_id: uuid.UUID | str) -> State[Any]:
    """Run a failed or crashed flow run again from its failure point; returns its final state."""
    from vibepiper.engine.entrypoints import load_entrypoint, process_is_gone
    from vibepiper.engine.flow_engine import FlowRunEngine, run_flow_sync
    from vibepiper.flows import Flow
    from vibepiper.runs import state_from_row
    from vibepiper.store import get_store

    store = get_store()
    run_id = uuid.UUID(str(flow_run_id))
    view = store.read_flow_run(run_id)
    history = store.read_flow_run_states(run_id)
    if not history:
        raise RetryRefused(f"Flow run {run_id} has no recorded state")
    current = state_from_row(history[-1], f"flow run {run_id}")
    flow_run = FlowRun(
        id=view.id,
        name=view.name,
        flow_id=view.flow_id,
        flow_name=view.flow_name,
        parameters=dict(view.parameters),
        tags=list(view.tags),
        run_count=view.run_count,
        parent_task_run_id=view.parent_task_run_id,
        state=current,
        created=view.created,
        start_time=view.start_time,
        end_time=view.end_time,
        entrypoint=view.entrypoint,
        infrastructure_pid=view.infrastructure_pid,
    )
    if current.type in (StateType.RUNNING, StateType.PENDING):
        gone = process_is_gone(view.infrastructure_pid)
        if not gone:
            where = view.infrastructure_pid or "an unknown process"
            raise RetryRefused(
                f"Flow run {run_id} is {current.name} in {where}, which is still alive "
                "(or on another host); only failed or crashed runs can be retried"
            )
        store.propose_flow_run_state(
            flow_run,
            Crashed(message=f"The process running this flow run ({where_of(view)}) is gone"),
        )
    elif current.type not in (StateType.FAILED, StateType.CRASHED, StateType.CANCELLED):
        raise RetryRefused(
            f"Flow run {run_id} is {current.name}; only failed, crashed or cancelled runs "
            "can be retried"
        )
    if view.parent_task_run_id is not None:
        raise RetryRefused(f"Flow run {run_id} is a subflow; retry its parent flow run instead")
    if not view.entrypoint:
        raise RetryRefused(
            f"Flow run {run_id} recorded no entrypoint (its flow was defined inside a "
            "function), so it cannot be loaded again"
        )
    try:
        flow = load_entrypoint(view.entrypoint)
    except ObjectNotFound as exc:
        raise RetryRefused(f"Cannot load flow run {run_id}'s flow: {exc}") from None
    if not isinstance(flow, Flow):
        raise RetryRefused(f"Entrypoint {view.entrypoint} is not a flow")
    if flow.isasync:
        raise RetryRefused("Retrying async flows is not supported yet")

    engine = FlowRunEngine(flow, dict(view.parameters))
    engine.flow_run = flow_run
    engine.previous_task_runs = {
        (t.task_key, t.dynamic_key): t for t in store.read_task_runs(run_id)
    }
    from vibepiper.engine.entrypoints import this_process

    flow_run.infrastructure_pid = this_process()
    engine.state = flow_run.state or current
    accepted = engine._set(AwaitingRetry(message="Retry requested: resuming from the failure"))
    if accepted.type is not StateType.SCHEDULED:
        raise RetryRefused(f"Flow run {run_id} could not be moved to AwaitingRetry")
    engine.logger.info(
        "Retrying flow run %r: %d task run(s) from earlier attempts",
        flow_run.name,
        len(engine.previous_task_runs),
    )
    return run_flow_sync(engine)


def where_of(view: Any) -> str:
    return str(view.infrastructure_pid or "unknown process")

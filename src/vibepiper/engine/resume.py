"""Retry a failed or crashed flow run from the point where it failed.

The flow is loaded again from the entrypoint its run recorded and runs as the next
attempt of the same flow run, with the same parameters. Task runs are matched to
the previous attempt's by task and call order (`task_key`, `dynamic_key`): those that
completed with a persisted result are not run again; failed, crashed and never-started
work runs. A run left Running by a process that no longer exists (killed with
SIGKILL, say) is first marked Crashed.

A task run (or the flow run) that runs again counts its attempts and retries from zero
in the retried attempt; its `run_count` and state history keep the earlier attempts.

Loading the flow imports its module, so a flow call left at its top level (not under
`if __name__ == "__main__":`) runs again, as a new flow run; the retry says so in one
warning line and carries on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

from vibepiper.exceptions import ObjectNotFound, PrefectException
from vibepiper.schemas.runs import FlowRun
from vibepiper.states import AwaitingRetry, Crashed, State, StateType


class RetryRefused(PrefectException):
    """The flow run cannot be retried (still running, completed, or not loadable)."""


def retry_flow_run(
    flow_run_id: uuid.UUID | str, *, warn: Callable[[str], None] | None = None
) -> State[Any]:
    """Run a failed or crashed flow run again from its failure point; returns its final state.

    `warn` receives a one-line warning when importing the flow's module ran flow runs
    (default: the retried run's logger, at WARNING).
    """
    from vibepiper.engine.entrypoints import load_entrypoint, process_is_gone
    from vibepiper.engine.flow_engine import FlowRunEngine, recording_flow_runs, run_flow_sync
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
        with recording_flow_runs() as started_by_import:
            flow = load_entrypoint(view.entrypoint)
    except ObjectNotFound as exc:
        raise RetryRefused(f"Cannot load flow run {run_id}'s flow: {exc}") from None
    if not isinstance(flow, Flow):
        raise RetryRefused(f"Entrypoint {view.entrypoint} is not a flow")
    if flow.isasync:
        raise RetryRefused("Retrying async flows is not supported yet")

    engine = FlowRunEngine(flow, dict(view.parameters))
    engine.flow_run = flow_run
    engine.attempts_before = flow_run.run_count
    engine.previous_task_runs = {
        (t.task_key, t.dynamic_key): t for t in store.read_task_runs(run_id)
    }
    from vibepiper.engine.entrypoints import this_process

    flow_run.infrastructure_pid = this_process()
    engine.state = flow_run.state or current
    if started_by_import:
        (warn or engine.logger.warning)(
            import_time_runs_warning(view.entrypoint, len(started_by_import))
        )
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


def import_time_runs_warning(entrypoint: str, count: int) -> str:
    """The warning about `count` flow runs that importing `entrypoint`'s module started."""
    target = entrypoint.rpartition(":")[0]
    if target.endswith(".py") or os.sep in target:
        try:
            relative = os.path.relpath(target)
        except ValueError:  # another drive
            relative = os.pardir
        target = target if relative.startswith(os.pardir) else relative
    return (
        f"importing {target} ran {count} flow run(s) at import time; guard the calls with "
        'if __name__ == "__main__": (the retry itself continues)'
    )

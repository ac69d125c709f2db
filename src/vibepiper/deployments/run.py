"""`run_deployment`: start a run of a deployment and (optionally) wait for its end.

    from vibepiper.deployments import run_deployment

    run = run_deployment("etl/nightly", parameters={"day": "2024-05-01"}, timeout=600)
    assert run.state.is_completed()

As in Prefect, `timeout=None` waits until the run is final, `timeout=0` returns at once,
and a run still going when the timeout passes is returned as it is (no exception).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vibepiper.schemas.runs import StateNames
from vibepiper.states import State, StateType

if TYPE_CHECKING:
    from vibepiper.client import SyncVibePiperClient
    from vibepiper.client.schemas.objects import FlowRun as ReadFlowRun
    from vibepiper.schemas.api import FlowRunRead
    from vibepiper.schemas.deployments import DeploymentRead

DEFAULT_POLL_INTERVAL = 1.0


@dataclass
class FlowRun(StateNames):
    """A flow run as the server reports it, with its state as a `State`
    (`run.state.is_completed()`, `run.state.result()` for a persisted result)."""

    id: uuid.UUID
    name: str
    flow_name: str | None
    deployment_id: uuid.UUID | None
    parameters: dict[str, Any]
    tags: list[str]
    state: State[Any] | None
    expected_start_time: dt.datetime | None
    start_time: dt.datetime | None
    end_time: dt.datetime | None
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    worker_name: str | None = None
    raw: FlowRunRead | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_read(cls, run: ReadFlowRun) -> FlowRun:
        return cls(
            id=run.id,
            name=run.name,
            flow_name=run.flow_name,
            deployment_id=run.deployment_id,
            parameters=run.parameters,
            tags=run.tags,
            state=run.state,
            expected_start_time=run.expected_start_time,
            start_time=run.start_time,
            end_time=run.end_time,
            work_pool_name=run.work_pool_name,
            work_queue_name=run.work_queue_name,
            worker_name=run.worker_name,
            raw=run,
        )


def read_deployment_by_ref(client: SyncVibePiperClient, ref: str | uuid.UUID) -> DeploymentRead:
    """The deployment `ref` names: its id, or `"flow-name/deployment-name"`."""
    from vibepiper.exceptions import ObjectNotFound

    if isinstance(ref, uuid.UUID):
        return client.read_deployment(ref)
    try:
        deployment_id = uuid.UUID(ref)
    except ValueError:
        try:
            return client.read_deployment_by_name(ref)
        except ObjectNotFound:
            raise ObjectNotFound(f"no deployment named {ref!r}") from None
    return client.read_deployment(deployment_id)


def run_deployment(
    name: str | uuid.UUID,
    parameters: dict[str, Any] | None = None,
    *,
    timeout: float | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    tags: list[str] | None = None,
    scheduled_time: dt.datetime | None = None,
    idempotency_key: str | None = None,
    flow_run_name: str | None = None,
    job_variables: dict[str, Any] | None = None,
    as_subflow: bool = True,
    client: SyncVibePiperClient | None = None,
) -> FlowRun:
    """Create a run of deployment `name` (`"flow/deployment"` or its id) and wait for it.

    Args:
        parameters: merged over the deployment's defaults; the server validates them
            against the flow's parameter schema (ApiValidationError naming the field).
        timeout: seconds to wait for a final state; None waits as long as it takes,
            0 returns the new (Scheduled) run at once.
        poll_interval: seconds between state checks while waiting.
        scheduled_time: when the run is due (default now).
        idempotency_key: a second call with the same key returns the first run.
        as_subflow: called inside a flow run, record a task run in it standing for
            the new run (the run shows as that flow's subflow, in its graph too).

    Returns:
        The run, with `.state` its state when the call returned.
    """
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be 0 or more seconds, got {timeout}")
    if poll_interval <= 0:
        raise ValueError(f"poll_interval must be positive, got {poll_interval}")
    from contextlib import ExitStack

    from vibepiper.schemas.deployments import DeploymentFlowRunCreate
    from vibepiper.schemas.serialization import to_jsonable
    from vibepiper.telemetry.tracing import with_traceparent

    # the run's process continues the caller's trace (tracing on): see telemetry.tracing
    job_variables = with_traceparent(job_variables)

    body: dict[str, Any] = {"parameters": to_jsonable(dict(parameters or {}))}
    for key, value in (
        ("tags", tags),
        ("scheduled_time", scheduled_time),
        ("idempotency_key", idempotency_key),
        ("name", flow_run_name),
        ("job_variables", job_variables),
    ):
        if value is not None:
            body[key] = value
    request = DeploymentFlowRunCreate.model_validate(body)
    with ExitStack() as stack:
        if client is None:
            from vibepiper.client import get_client

            client = stack.enter_context(get_client(sync_client=True, require_server=True))
        deployment = read_deployment_by_ref(client, name)
        link = _SubflowLink.open(deployment) if as_subflow else None
        if link is not None:
            request.parent_task_run_id = link.task_run_id
        run = client.create_flow_run_from_deployment(deployment.id, request)
        if link is not None:
            link.started(run)
        if timeout != 0:
            deadline = None if timeout is None else time.monotonic() + timeout
            for current in poll_flow_run(client, run.id, poll_interval, deadline):
                run = current
        if link is not None:
            link.finished(run)
        return FlowRun.from_read(run)


@dataclass
class _SubflowLink:
    """The task run standing for a deployment's run in the flow run that started it."""

    task_run_id: uuid.UUID
    deployment: DeploymentRead
    context: Any
    task_run: Any = None

    @classmethod
    def open(cls, deployment: DeploymentRead) -> _SubflowLink | None:
        from vibepiper.context import FlowRunContext
        from vibepiper.utilities.ids import new_id

        context = FlowRunContext.get()
        if context is None:
            return None
        return cls(new_id(), deployment, context)

    def started(self, run: FlowRunRead) -> None:
        from vibepiper.schemas.runs import TaskRun

        label = f"{self.deployment.flow_name}/{self.deployment.name}"
        self.task_run = TaskRun(
            id=self.task_run_id,
            name=f"run_deployment {label}",
            task_key=f"run_deployment:{label}",
            task_name="run_deployment",
            flow_run_id=self.context.flow_run.id,
            dynamic_key=str(run.id),
            subflow_run_id=run.id,
        )
        store = self.context.store
        store.create_task_run(self.task_run)
        store.propose_task_run_state(self.task_run, State(StateType.RUNNING))

    def finished(self, run: FlowRunRead) -> None:
        """Give the task run the deployment run's final state, or Completed (the run
        was started) if the call returned before it ended."""
        kind = StateType(run.state_type) if run.state_type is not None else None
        if kind is not None and kind in _FINAL:
            state: State[Any] = State(kind, message=f"flow run {run.name!r} ended {run.state_name}")
        else:
            state = State(
                StateType.COMPLETED, message=f"started flow run {run.name!r} ({run.state_name})"
            )
        self.context.store.propose_task_run_state(self.task_run, state)


def poll_flow_run(
    client: SyncVibePiperClient,
    flow_run_id: uuid.UUID,
    poll_interval: float,
    deadline: float | None = None,
) -> Iterator[ReadFlowRun]:
    """The run each time it is read, until it is final or `deadline` (monotonic) passes."""
    while True:
        run = client.read_flow_run(flow_run_id)
        yield run
        if run.state_type is not None and StateType(run.state_type) in _FINAL:
            return
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(poll_interval, remaining))
        else:
            time.sleep(poll_interval)


_FINAL = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})

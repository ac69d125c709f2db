"""`VibePiperClient` (async) and `SyncVibePiperClient`: thin senders over `_layer`.

Every endpoint is described once in `vibepiper.client._layer` (request, parser, error
and retry rules), and Prefect's arguments are turned into those requests in
`vibepiper.client._compat`; each method here hands that `Call` to `_send` (or a `Plan`
of several calls to `_run`), which only sends, sleeps between retries and returns the
parsed answer. The two classes have the same methods (a test pins it).

The methods keep Prefect's names and signatures (`read_flow_runs(flow_run_filter=...)`,
`set_flow_run_state(run_id, Cancelled())`, `create_concurrency_limit("db", 2)`, ...), and
return the models of `vibepiper.client.schemas` (a run's `state` is a `State`). Where
VibePiper's own API form came first it is kept beside Prefect's: the `query` argument
of the `read_*` methods takes the API's own filter, `set_*_state` a `SetState` body.

Flows, flow runs, task runs and logs are here, both twins side by side; the other
subjects are mixed in, each module holding its own async and blocking twins
(`_deployments`, `_work_pools`, `_concurrency`, `_config_methods` for blocks and
variables, `_events`, `_automations`, ...).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from vibepiper.client import _compat, _layer
from vibepiper.client._artifacts import Artifacts, SyncArtifacts
from vibepiper.client._assets import Assets, SyncAssets
from vibepiper.client._automations import Automations, SyncAutomations
from vibepiper.client._background_tasks import BackgroundTasks, SyncBackgroundTasks
from vibepiper.client._concurrency import ConcurrencyLimits, SyncConcurrencyLimits
from vibepiper.client._config_methods import BlocksAndVariables, SyncBlocksAndVariables
from vibepiper.client._deployments import Deployments, SyncDeployments
from vibepiper.client._events import Events, SyncEvents
from vibepiper.client._flow_run_inputs import FlowRunInputs, SyncFlowRunInputs
from vibepiper.client._layer import Call, Plan, RetryPolicy
from vibepiper.client._webhooks import SyncWebhooks, Webhooks
from vibepiper.client._work_pools import SyncWorkPools, WorkPools
from vibepiper.client.schemas import filters, objects, sorting
from vibepiper.client.schemas.responses import OrchestrationResult
from vibepiper.schemas import api, api_batch
from vibepiper.schemas import deployments as dep
from vibepiper.schemas.api_filters import FlowRunFilter, LogFilter, TaskRunFilter
from vibepiper.states import State

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class VibePiperClient(
    BlocksAndVariables,
    Events,
    Webhooks,
    Automations,
    Artifacts,
    FlowRunInputs,
    BackgroundTasks,
    Assets,
    Deployments,
    WorkPools,
    ConcurrencyLimits,
):
    """Async client of the REST API at `api_url` (e.g. `http://127.0.0.1:4200/api`).

    `get_client()` makes one; with no server URL it talks to the in-process API over the
    embedded store (`transport`), the same app a server runs.
    """

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        httpx_settings: dict[str, Any] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            **_http_settings(self.api_url, api_key, timeout, transport, httpx_settings)
        )

    async def __aenter__(self) -> VibePiperClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self._http.send(call.request(self._http))
            except httpx.TransportError as exc:
                outcome = exc
            delay = _layer.retry_delay(outcome, attempt, self.retry, self.api_url)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return call.parse(_layer.check(outcome))
            attempt += 1
            await asyncio.sleep(delay)

    async def _run(self, plan: Plan[T]) -> T:
        """Send each call of `plan` in turn, giving it each answer (or error)."""
        try:
            call = next(plan)
            while True:
                try:
                    answer = await self._send(call)
                except Exception as exc:
                    call = plan.throw(exc)
                else:
                    call = plan.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    async def hello(self) -> httpx.Response:
        """The answer of the API's health check (`GET /health`), as Prefect's `hello()`."""
        return await self._send(_layer.hello())

    async def api_healthcheck(self) -> Exception | None:
        """None when the API answers, else the error it failed with (returned, not raised)."""
        return await self._run(_compat.healthcheck())

    async def health(self) -> bool:
        return await self._send(_layer.health())

    async def version(self) -> api.VersionInfo:
        return await self._send(_layer.version())

    async def read_metrics(self) -> str:
        """The server's Prometheus metrics, as text (`GET /api/metrics`)."""
        return await self._send(_layer.read_metrics())

    async def create_flow(self, name: str) -> objects.Flow:
        """The flow named `name` (created if new)."""
        return await self._send(_layer.create_flow(name))

    async def read_flow(self, flow_id: uuid.UUID | str) -> objects.Flow:
        return await self._send(_layer.read_flow(_compat.object_id(flow_id)))

    async def read_flow_by_name(self, flow_name: str) -> objects.Flow:
        return await self._send(_layer.read_flow_by_name(flow_name))

    async def create_flow_run(self, body: api.FlowRunCreate) -> objects.FlowRun:
        return await self._send(_layer.create_flow_run(body))

    async def read_flow_run(self, flow_run_id: uuid.UUID | str) -> objects.FlowRun:
        return await self._send(_layer.read_flow_run(_compat.object_id(flow_run_id)))

    async def update_flow_run(
        self,
        flow_run_id: uuid.UUID | str,
        flow_version: str | None = None,
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
        tags: Iterable[str] | None = None,
        empirical_policy: Any = None,
        infrastructure_pid: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> objects.FlowRun:
        """Rename the run or replace its tags, parameters or flow version (the arguments
        given); the run as it is now. Its state changes through `set_flow_run_state`."""
        body = _compat.flow_run_update(
            flow_version=flow_version,
            parameters=parameters,
            name=name,
            tags=tags,
            empirical_policy=empirical_policy,
            infrastructure_pid=infrastructure_pid,
            job_variables=job_variables,
        )
        return await self._send(_layer.update_flow_run(_compat.object_id(flow_run_id), body))

    async def read_flow_runs(
        self,
        query: FlowRunFilter | filters.FlowRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
        sort: sorting.FlowRunSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[objects.FlowRun]:
        """Flow runs matching every filter given (newest first unless `sort` says);
        `limit` defaults to 200. A criterion the API cannot express raises
        `UnsupportedFilter`."""
        body = _compat.flow_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return await self._send(_layer.read_flow_runs(body))

    async def count_flow_runs(
        self,
        query: FlowRunFilter | filters.FlowRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
    ) -> int:
        """How many flow runs match every filter given."""
        body = _compat.flow_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
        )
        return await self._send(_layer.count_flow_runs(body))

    async def set_flow_run_state(
        self, flow_run_id: uuid.UUID | str, state: State[Any] | api.SetState, force: bool = False
    ) -> OrchestrationResult:
        """Propose `state` for the run; the orchestration rules accept or reject it
        (`force=True` skips them). The result's `state` is the run's state after."""
        body = _compat.set_state(state, force)
        return await self._send(_layer.set_flow_run_state(_compat.object_id(flow_run_id), body))

    async def read_flow_run_states(self, flow_run_id: uuid.UUID | str) -> list[api.StateRead]:
        """The run's state history, oldest first (as stored)."""
        return await self._send(_layer.read_flow_run_states(_compat.object_id(flow_run_id)))

    async def read_flow_run_graph(self, flow_run_id: uuid.UUID | str) -> api.FlowRunGraph:
        return await self._send(_layer.read_flow_run_graph(_compat.object_id(flow_run_id)))

    async def read_flow_run_job_variables(self, flow_run_id: uuid.UUID | str) -> dict[str, Any]:
        """The run's own job variables (`{}` when it was created without any); the
        deployment's are on `read_deployment`."""
        call = _layer.read_flow_run_job_variables(_compat.object_id(flow_run_id))
        return await self._send(call)

    async def delete_flow_run(self, flow_run_id: uuid.UUID | str) -> None:
        return await self._send(_layer.delete_flow_run(_compat.object_id(flow_run_id)))

    async def create_task_run(self, body: api.TaskRunCreate) -> objects.TaskRun:
        return await self._send(_layer.create_task_run(body))

    async def read_task_run(self, task_run_id: uuid.UUID | str) -> objects.TaskRun:
        return await self._send(_layer.read_task_run(_compat.object_id(task_run_id)))

    async def read_task_runs(
        self,
        query: TaskRunFilter | filters.TaskRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        sort: sorting.TaskRunSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[objects.TaskRun]:
        """Task runs matching every filter given (oldest first unless `sort` says);
        `limit` defaults to 200."""
        body = _compat.task_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return await self._send(_layer.read_task_runs(body))

    async def count_task_runs(
        self,
        query: TaskRunFilter | filters.TaskRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
    ) -> int:
        """How many task runs match every filter given."""
        body = _compat.task_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
        )
        return await self._send(_layer.count_task_runs(body))

    async def set_task_run_state(
        self, task_run_id: uuid.UUID | str, state: State[Any] | api.SetState, force: bool = False
    ) -> OrchestrationResult:
        """Propose `state` for the task run (`force=True` skips the orchestration rules)."""
        body = _compat.set_state(state, force)
        return await self._send(_layer.set_task_run_state(_compat.object_id(task_run_id), body))

    async def read_task_run_states(self, task_run_id: uuid.UUID | str) -> list[api.StateRead]:
        """The task run's state history, oldest first (as stored)."""
        return await self._send(_layer.read_task_run_states(_compat.object_id(task_run_id)))

    async def create_logs(self, logs: list[api.LogCreate]) -> api.LogsCreated:
        return await self._send(_layer.create_logs(logs))

    async def read_logs(
        self,
        log_filter: filters.LogFilter | LogFilter | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort: sorting.LogSort = sorting.LogSort.TIMESTAMP_ASC,
    ) -> list[objects.Log]:
        """Log lines matching `log_filter` (Prefect's, or the API's own), oldest first
        unless `sort` says; `limit` defaults to 200."""
        body = _compat.log_query(log_filter, limit, offset, sort)
        return await self._send(_layer.read_logs(body))

    async def batch(self, operations: list[dict[str, Any]]) -> api_batch.BatchResult:
        """Apply `operations` (JSON-ready batch operations) in order, in one request."""
        return await self._send(_layer.batch(operations))

    async def cancel_flow_run(self, flow_run_id: uuid.UUID) -> dep.CancelResult:
        """Cancel a run: at once when not started, else Cancelling until its holder stops it."""
        return await self._send(_layer.cancel_flow_run(flow_run_id))


class SyncVibePiperClient(
    SyncBlocksAndVariables,
    SyncEvents,
    SyncWebhooks,
    SyncAutomations,
    SyncArtifacts,
    SyncFlowRunInputs,
    SyncBackgroundTasks,
    SyncAssets,
    SyncDeployments,
    SyncWorkPools,
    SyncConcurrencyLimits,
):
    """Blocking client of the REST API; the same calls as `VibePiperClient`."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        httpx_settings: dict[str, Any] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            **_http_settings(self.api_url, api_key, timeout, transport, httpx_settings)
        )

    def __enter__(self) -> SyncVibePiperClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self._http.send(call.request(self._http))
            except httpx.TransportError as exc:
                outcome = exc
            delay = _layer.retry_delay(outcome, attempt, self.retry, self.api_url)
            if delay is None:
                assert isinstance(outcome, httpx.Response)
                return call.parse(_layer.check(outcome))
            attempt += 1
            time.sleep(delay)

    def _run(self, plan: Plan[T]) -> T:
        """Send each call of `plan` in turn, giving it each answer (or error)."""
        try:
            call = next(plan)
            while True:
                try:
                    answer = self._send(call)
                except Exception as exc:
                    call = plan.throw(exc)
                else:
                    call = plan.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result

    def hello(self) -> httpx.Response:
        """The answer of the API's health check (`GET /health`), as Prefect's `hello()`."""
        return self._send(_layer.hello())

    def api_healthcheck(self) -> Exception | None:
        """None when the API answers, else the error it failed with (returned, not raised)."""
        return self._run(_compat.healthcheck())

    def health(self) -> bool:
        return self._send(_layer.health())

    def version(self) -> api.VersionInfo:
        return self._send(_layer.version())

    def read_metrics(self) -> str:
        """The server's Prometheus metrics, as text (`GET /api/metrics`)."""
        return self._send(_layer.read_metrics())

    def create_flow(self, name: str) -> objects.Flow:
        """The flow named `name` (created if new)."""
        return self._send(_layer.create_flow(name))

    def read_flow(self, flow_id: uuid.UUID | str) -> objects.Flow:
        return self._send(_layer.read_flow(_compat.object_id(flow_id)))

    def read_flow_by_name(self, flow_name: str) -> objects.Flow:
        return self._send(_layer.read_flow_by_name(flow_name))

    def create_flow_run(self, body: api.FlowRunCreate) -> objects.FlowRun:
        return self._send(_layer.create_flow_run(body))

    def read_flow_run(self, flow_run_id: uuid.UUID | str) -> objects.FlowRun:
        return self._send(_layer.read_flow_run(_compat.object_id(flow_run_id)))

    def update_flow_run(
        self,
        flow_run_id: uuid.UUID | str,
        flow_version: str | None = None,
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
        tags: Iterable[str] | None = None,
        empirical_policy: Any = None,
        infrastructure_pid: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> objects.FlowRun:
        """Rename the run or replace its tags, parameters or flow version (the arguments
        given); the run as it is now. Its state changes through `set_flow_run_state`."""
        body = _compat.flow_run_update(
            flow_version=flow_version,
            parameters=parameters,
            name=name,
            tags=tags,
            empirical_policy=empirical_policy,
            infrastructure_pid=infrastructure_pid,
            job_variables=job_variables,
        )
        return self._send(_layer.update_flow_run(_compat.object_id(flow_run_id), body))

    def read_flow_runs(
        self,
        query: FlowRunFilter | filters.FlowRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
        sort: sorting.FlowRunSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[objects.FlowRun]:
        """Flow runs matching every filter given (newest first unless `sort` says);
        `limit` defaults to 200. A criterion the API cannot express raises
        `UnsupportedFilter`."""
        body = _compat.flow_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return self._send(_layer.read_flow_runs(body))

    def count_flow_runs(
        self,
        query: FlowRunFilter | filters.FlowRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
    ) -> int:
        """How many flow runs match every filter given."""
        body = _compat.flow_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
        )
        return self._send(_layer.count_flow_runs(body))

    def set_flow_run_state(
        self, flow_run_id: uuid.UUID | str, state: State[Any] | api.SetState, force: bool = False
    ) -> OrchestrationResult:
        """Propose `state` for the run; the orchestration rules accept or reject it
        (`force=True` skips them). The result's `state` is the run's state after."""
        body = _compat.set_state(state, force)
        return self._send(_layer.set_flow_run_state(_compat.object_id(flow_run_id), body))

    def read_flow_run_states(self, flow_run_id: uuid.UUID | str) -> list[api.StateRead]:
        """The run's state history, oldest first (as stored)."""
        return self._send(_layer.read_flow_run_states(_compat.object_id(flow_run_id)))

    def read_flow_run_graph(self, flow_run_id: uuid.UUID | str) -> api.FlowRunGraph:
        return self._send(_layer.read_flow_run_graph(_compat.object_id(flow_run_id)))

    def read_flow_run_job_variables(self, flow_run_id: uuid.UUID | str) -> dict[str, Any]:
        """The run's own job variables (`{}` when it was created without any); the
        deployment's are on `read_deployment`."""
        return self._send(_layer.read_flow_run_job_variables(_compat.object_id(flow_run_id)))

    def delete_flow_run(self, flow_run_id: uuid.UUID | str) -> None:
        return self._send(_layer.delete_flow_run(_compat.object_id(flow_run_id)))

    def create_task_run(self, body: api.TaskRunCreate) -> objects.TaskRun:
        return self._send(_layer.create_task_run(body))

    def read_task_run(self, task_run_id: uuid.UUID | str) -> objects.TaskRun:
        return self._send(_layer.read_task_run(_compat.object_id(task_run_id)))

    def read_task_runs(
        self,
        query: TaskRunFilter | filters.TaskRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        sort: sorting.TaskRunSort | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[objects.TaskRun]:
        """Task runs matching every filter given (oldest first unless `sort` says);
        `limit` defaults to 200."""
        body = _compat.task_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        return self._send(_layer.read_task_runs(body))

    def count_task_runs(
        self,
        query: TaskRunFilter | filters.TaskRunFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
    ) -> int:
        """How many task runs match every filter given."""
        body = _compat.task_run_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
        )
        return self._send(_layer.count_task_runs(body))

    def set_task_run_state(
        self, task_run_id: uuid.UUID | str, state: State[Any] | api.SetState, force: bool = False
    ) -> OrchestrationResult:
        """Propose `state` for the task run (`force=True` skips the orchestration rules)."""
        body = _compat.set_state(state, force)
        return self._send(_layer.set_task_run_state(_compat.object_id(task_run_id), body))

    def read_task_run_states(self, task_run_id: uuid.UUID | str) -> list[api.StateRead]:
        """The task run's state history, oldest first (as stored)."""
        return self._send(_layer.read_task_run_states(_compat.object_id(task_run_id)))

    def create_logs(self, logs: list[api.LogCreate]) -> api.LogsCreated:
        return self._send(_layer.create_logs(logs))

    def read_logs(
        self,
        log_filter: filters.LogFilter | LogFilter | None = None,
        limit: int | None = None,
        offset: int | None = None,
        sort: sorting.LogSort = sorting.LogSort.TIMESTAMP_ASC,
    ) -> list[objects.Log]:
        """Log lines matching `log_filter` (Prefect's, or the API's own), oldest first
        unless `sort` says; `limit` defaults to 200."""
        body = _compat.log_query(log_filter, limit, offset, sort)
        return self._send(_layer.read_logs(body))

    def batch(self, operations: list[dict[str, Any]]) -> api_batch.BatchResult:
        """Apply `operations` (JSON-ready batch operations) in order, in one request."""
        return self._send(_layer.batch(operations))

    def cancel_flow_run(self, flow_run_id: uuid.UUID) -> dep.CancelResult:
        """Cancel a run: at once when not started, else Cancelling until its holder stops it."""
        return self._send(_layer.cancel_flow_run(flow_run_id))


def _http_settings(
    api_url: str,
    api_key: str | None,
    timeout: float,
    transport: Any,
    httpx_settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """The httpx client's arguments; `httpx_settings` (Prefect's) override them, and
    their `headers` are added to the client's own."""
    extra = dict(httpx_settings or {})
    headers = {**_layer.headers(api_key), **extra.pop("headers", {})}
    settings: dict[str, Any] = {
        "base_url": api_url + "/",
        "timeout": timeout,
        "transport": transport,
    }
    if transport is None and "verify" not in extra and "cert" not in extra:
        settings["verify"] = _shared_ssl_context()
    return {**settings, **extra, "headers": headers}


_SSL_CONTEXTS: dict[tuple[str | None, str | None], Any] = {}


def _shared_ssl_context() -> Any:
    """One verifying SSL context per process (and SSL_CERT_FILE / SSL_CERT_DIR): httpx
    builds one for every client, loading the CA bundle (~20 ms), and the SDK opens a
    client per call (`Variable.get`, `Block.load`, ...)."""
    import os

    key = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _SSL_CONTEXTS.get(key)
    if context is None:
        context = _SSL_CONTEXTS.setdefault(key, httpx.create_ssl_context())
    return context

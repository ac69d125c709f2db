"""`VibePiperClient` (async) and `SyncVibePiperClient`: thin senders over `_layer`.

Every endpoint is described once in `vibepiper.client._layer` (request, parser, error
and retry rules); each method here is one line handing that `Call` to `_send`, which
only sends, sleeps between retries and returns the parsed answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from types import TracebackType
from typing import Any, TypeVar

import httpx

from vibepiper.client import _layer
from vibepiper.client._layer import Call, RetryPolicy
from vibepiper.schemas import api, api_batch
from vibepiper.schemas import api_concurrency as conc
from vibepiper.schemas import deployments as dep
from vibepiper.schemas import schedules as sched
from vibepiper.schemas.api_filters import FlowRunFilter, LogFilter, TaskRunFilter

T = TypeVar("T")
DEFAULT_TIMEOUT = 10.0


class VibePiperClient:
    """Async client of the REST API at `api_url` (e.g. `http://127.0.0.1:4200/api`)."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=self.api_url + "/",
            headers=_layer.headers(api_key),
            timeout=timeout,
            transport=transport,
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

    async def health(self) -> bool:
        return await self._send(_layer.health())

    async def version(self) -> api.VersionInfo:
        return await self._send(_layer.version())

    async def create_flow(self, name: str) -> api.FlowRead:
        return await self._send(_layer.create_flow(name))

    async def read_flow(self, flow_id: uuid.UUID) -> api.FlowRead:
        return await self._send(_layer.read_flow(flow_id))

    async def read_flow_by_name(self, name: str) -> api.FlowRead:
        return await self._send(_layer.read_flow_by_name(name))

    async def create_flow_run(self, body: api.FlowRunCreate) -> api.FlowRunRead:
        return await self._send(_layer.create_flow_run(body))

    async def read_flow_run(self, flow_run_id: uuid.UUID) -> api.FlowRunRead:
        return await self._send(_layer.read_flow_run(flow_run_id))

    async def read_flow_runs(self, query: FlowRunFilter | None = None) -> list[api.FlowRunRead]:
        return await self._send(_layer.read_flow_runs(query))

    async def count_flow_runs(self, query: FlowRunFilter | None = None) -> int:
        return await self._send(_layer.count_flow_runs(query))

    async def set_flow_run_state(
        self, flow_run_id: uuid.UUID, body: api.SetState
    ) -> api.OrchestrationResult:
        return await self._send(_layer.set_flow_run_state(flow_run_id, body))

    async def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[api.StateRead]:
        return await self._send(_layer.read_flow_run_states(flow_run_id))

    async def read_flow_run_graph(self, flow_run_id: uuid.UUID) -> api.FlowRunGraph:
        return await self._send(_layer.read_flow_run_graph(flow_run_id))

    async def delete_flow_run(self, flow_run_id: uuid.UUID) -> None:
        return await self._send(_layer.delete_flow_run(flow_run_id))

    async def create_task_run(self, body: api.TaskRunCreate) -> api.TaskRunRead:
        return await self._send(_layer.create_task_run(body))

    async def read_task_run(self, task_run_id: uuid.UUID) -> api.TaskRunRead:
        return await self._send(_layer.read_task_run(task_run_id))

    async def read_task_runs(self, query: TaskRunFilter | None = None) -> list[api.TaskRunRead]:
        return await self._send(_layer.read_task_runs(query))

    async def count_task_runs(self, query: TaskRunFilter | None = None) -> int:
        return await self._send(_layer.count_task_runs(query))

    async def set_task_run_state(
        self, task_run_id: uuid.UUID, body: api.SetState
    ) -> api.OrchestrationResult:
        return await self._send(_layer.set_task_run_state(task_run_id, body))

    async def read_task_run_states(self, task_run_id: uuid.UUID) -> list[api.StateRead]:
        return await self._send(_layer.read_task_run_states(task_run_id))

    async def create_logs(self, logs: list[api.LogCreate]) -> api.LogsCreated:
        return await self._send(_layer.create_logs(logs))

    async def read_logs(self, query: LogFilter | None = None) -> list[api.LogRead]:
        return await self._send(_layer.read_logs(query))

    async def batch(self, operations: list[dict[str, Any]]) -> api_batch.BatchResult:
        """Apply `operations` (JSON-ready batch operations) in order, in one request."""
        return await self._send(_layer.batch(operations))

    async def create_deployment(self, body: dep.DeploymentCreate) -> dep.DeploymentRead:
        """Create or replace (by flow and deployment name) a deployment."""
        return await self._send(_layer.create_deployment(body))

    async def read_deployment(self, deployment_id: uuid.UUID) -> dep.DeploymentRead:
        return await self._send(_layer.read_deployment(deployment_id))

    async def read_deployment_by_name(self, name: str) -> dep.DeploymentRead:
        """The deployment named `"flow-name/deployment-name"`."""
        return await self._send(_layer.read_deployment_by_name(name))

    async def read_deployments(
        self, query: dep.DeploymentFilter | None = None
    ) -> list[dep.DeploymentRead]:
        return await self._send(_layer.read_deployments(query))

    async def count_deployments(self, query: dep.DeploymentFilter | None = None) -> int:
        return await self._send(_layer.count_deployments(query))

    async def update_deployment(
        self, deployment_id: uuid.UUID, body: dep.DeploymentUpdate
    ) -> dep.DeploymentRead:
        return await self._send(_layer.update_deployment(deployment_id, body))

    async def delete_deployment(self, deployment_id: uuid.UUID) -> None:
        return await self._send(_layer.delete_deployment(deployment_id))

    async def pause_deployment(self, deployment_id: uuid.UUID) -> dep.DeploymentRead:
        return await self._send(_layer.pause_deployment(deployment_id))

    async def resume_deployment(self, deployment_id: uuid.UUID) -> dep.DeploymentRead:
        return await self._send(_layer.resume_deployment(deployment_id))

    async def create_flow_run_from_deployment(
        self, deployment_id: uuid.UUID, body: dep.DeploymentFlowRunCreate | None = None
    ) -> api.FlowRunRead:
        """A run of the deployment; the server validates its parameters (422 names one)."""
        return await self._send(_layer.create_flow_run_from_deployment(deployment_id, body))

    async def backfill_deployment(
        self, deployment_id: uuid.UUID, body: dep.BackfillRequest
    ) -> dep.BackfillResult:
        return await self._send(_layer.backfill_deployment(deployment_id, body))

    async def read_deployment_schedules(
        self, deployment_id: uuid.UUID
    ) -> list[sched.DeploymentScheduleRead]:
        return await self._send(_layer.read_deployment_schedules(deployment_id))

    async def create_deployment_schedule(
        self, deployment_id: uuid.UUID, body: sched.DeploymentScheduleCreate
    ) -> sched.DeploymentScheduleRead:
        return await self._send(_layer.create_deployment_schedule(deployment_id, body))

    async def update_deployment_schedule(
        self, deployment_id: uuid.UUID, schedule_id: uuid.UUID, body: sched.DeploymentScheduleUpdate
    ) -> sched.DeploymentScheduleRead:
        return await self._send(_layer.update_deployment_schedule(deployment_id, schedule_id, body))

    async def delete_deployment_schedule(
        self, deployment_id: uuid.UUID, schedule_id: uuid.UUID
    ) -> None:
        return await self._send(_layer.delete_deployment_schedule(deployment_id, schedule_id))

    async def create_work_pool(self, body: dep.WorkPoolCreate) -> dep.WorkPoolRead:
        return await self._send(_layer.create_work_pool(body))

    async def read_work_pools(self) -> list[dep.WorkPoolRead]:
        return await self._send(_layer.read_work_pools())

    async def read_work_pool(self, name: str) -> dep.WorkPoolRead:
        return await self._send(_layer.read_work_pool(name))

    async def update_work_pool(self, name: str, body: dep.WorkPoolUpdate) -> dep.WorkPoolRead:
        return await self._send(_layer.update_work_pool(name, body))

    async def delete_work_pool(self, name: str) -> None:
        return await self._send(_layer.delete_work_pool(name))

    async def pause_work_pool(self, name: str) -> dep.WorkPoolRead:
        return await self._send(_layer.pause_work_pool(name))

    async def resume_work_pool(self, name: str) -> dep.WorkPoolRead:
        return await self._send(_layer.resume_work_pool(name))

    async def read_work_queues(self, work_pool_name: str) -> list[dep.WorkQueueRead]:
        return await self._send(_layer.read_work_queues(work_pool_name))

    async def create_work_queue(
        self, work_pool_name: str, body: dep.WorkQueueCreate
    ) -> dep.WorkQueueRead:
        return await self._send(_layer.create_work_queue(work_pool_name, body))

    async def read_work_queue(self, work_pool_name: str, name: str) -> dep.WorkQueueRead:
        return await self._send(_layer.read_work_queue(work_pool_name, name))

    async def update_work_queue(
        self, work_pool_name: str, name: str, body: dep.WorkQueueUpdate
    ) -> dep.WorkQueueRead:
        return await self._send(_layer.update_work_queue(work_pool_name, name, body))

    async def delete_work_queue(self, work_pool_name: str, name: str) -> None:
        return await self._send(_layer.delete_work_queue(work_pool_name, name))

    async def pause_work_queue(self, work_pool_name: str, name: str) -> dep.WorkQueueRead:
        return await self._send(_layer.pause_work_queue(work_pool_name, name))

    async def resume_work_queue(self, work_pool_name: str, name: str) -> dep.WorkQueueRead:
        return await self._send(_layer.resume_work_queue(work_pool_name, name))

    async def read_workers(self, work_pool_name: str | None = None) -> list[dep.WorkerRead]:
        """Every worker, or the workers of one pool."""
        return await self._send(_layer.read_workers(work_pool_name))

    async def claim_runs(self, body: dep.ClaimRequest) -> list[dep.ClaimedRun]:
        """Claim due runs (Scheduled -> Pending, held by `body.worker_name`); may long-poll."""
        return await self._send(_layer.claim_runs(body))

    async def heartbeat(self, body: dep.HeartbeatRequest) -> dep.HeartbeatResponse:
        """Report the worker alive with the runs it holds; the answer says which to cancel."""
        return await self._send(_layer.heartbeat(body))

    async def cancel_flow_run(self, flow_run_id: uuid.UUID) -> dep.CancelResult:
        """Cancel a run: at once when not started, else Cancelling until its holder stops it."""
        return await self._send(_layer.cancel_flow_run(flow_run_id))

    async def create_concurrency_limit(
        self, body: conc.ConcurrencyLimitCreate
    ) -> conc.ConcurrencyLimitRead:
        """Create a limit (409 when the name is taken)."""
        return await self._send(_layer.create_concurrency_limit(body))

    async def read_concurrency_limits(
        self, kind: str | None = None
    ) -> list[conc.ConcurrencyLimitRead]:
        """Every limit, or those of one kind ("tag" or "global"), by name."""
        return await self._send(_layer.read_concurrency_limits(kind))

    async def read_concurrency_limit(self, name: str) -> conc.ConcurrencyLimitRead:
        return await self._send(_layer.read_concurrency_limit(name))

    async def update_concurrency_limit(
        self, name: str, body: conc.ConcurrencyLimitUpdate
    ) -> conc.ConcurrencyLimitRead:
        return await self._send(_layer.update_concurrency_limit(name, body))

    async def delete_concurrency_limit(self, name: str) -> None:
        return await self._send(_layer.delete_concurrency_limit(name))

    async def reset_concurrency_limit(self, name: str) -> conc.LimitReset:
        """Free every slot of the limit at once."""
        return await self._send(_layer.reset_concurrency_limit(name))

    async def read_slot_leases(self, name: str) -> list[conc.SlotLeaseRead]:
        """The live leases on the limit, oldest first."""
        return await self._send(_layer.read_slot_leases(name))

    async def acquire_slots(self, body: conc.SlotRequest) -> conc.SlotGrantRead:
        """Try once for slots on every limit named (all or nothing); never waits."""
        return await self._send(_layer.acquire_slots(body))

    async def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> conc.LeaseRenewed:
        """Extend a live lease; `renewed` is False once it is gone or expired."""
        return await self._send(_layer.renew_lease(lease_id, lease_seconds))

    async def release_lease(self, lease_id: uuid.UUID) -> None:
        """Give the lease's slots back."""
        return await self._send(_layer.release_lease(lease_id))


class SyncVibePiperClient:
    """Blocking client of the REST API; the same calls as `VibePiperClient`."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=self.api_url + "/",
            headers=_layer.headers(api_key),
            timeout=timeout,
            transport=transport,
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

    def health(self) -> bool:
        return self._send(_layer.health())

    def version(self) -> api.VersionInfo:
        return self._send(_layer.version())

    def create_flow(self, name: str) -> api.FlowRead:
        return self._send(_layer.create_flow(name))

    def read_flow(self, flow_id: uuid.UUID) -> api.FlowRead:
        return self._send(_layer.read_flow(flow_id))

    def read_flow_by_name(self, name: str) -> api.FlowRead:
        return self._send(_layer.read_flow_by_name(name))

    def create_flow_run(self, body: api.FlowRunCreate) -> api.FlowRunRead:
        return self._send(_layer.create_flow_run(body))

    def read_flow_run(self, flow_run_id: uuid.UUID) -> api.FlowRunRead:
        return self._send(_layer.read_flow_run(flow_run_id))

    def read_flow_runs(self, query: FlowRunFilter | None = None) -> list[api.FlowRunRead]:
        return self._send(_layer.read_flow_runs(query))

    def count_flow_runs(self, query: FlowRunFilter | None = None) -> int:
        return self._send(_layer.count_flow_runs(query))

    def set_flow_run_state(
        self, flow_run_id: uuid.UUID, body: api.SetState
    ) -> api.OrchestrationResult:
        return self._send(_layer.set_flow_run_state(flow_run_id, body))

    def read_flow_run_states(self, flow_run_id: uuid.UUID) -> list[api.StateRead]:
        return self._send(_layer.read_flow_run_states(flow_run_id))

    def read_flow_run_graph(self, flow_run_id: uuid.UUID) -> api.FlowRunGraph:
        return self._send(_layer.read_flow_run_graph(flow_run_id))

    def delete_flow_run(self, flow_run_id: uuid.UUID) -> None:
        return self._send(_layer.delete_flow_run(flow_run_id))

    def create_task_run(self, body: api.TaskRunCreate) -> api.TaskRunRead:
        return self._send(_layer.create_task_run(body))

    def read_task_run(self, task_run_id: uuid.UUID) -> api.TaskRunRead:
        return self._send(_layer.read_task_run(task_run_id))

    def read_task_runs(self, query: TaskRunFilter | None = None) -> list[api.TaskRunRead]:
        return self._send(_layer.read_task_runs(query))

    def count_task_runs(self, query: TaskRunFilter | None = None) -> int:
        return self._send(_layer.count_task_runs(query))

    def set_task_run_state(
        self, task_run_id: uuid.UUID, body: api.SetState
    ) -> api.OrchestrationResult:
        return self._send(_layer.set_task_run_state(task_run_id, body))

    def read_task_run_states(self, task_run_id: uuid.UUID) -> list[api.StateRead]:
        return self._send(_layer.read_task_run_states(task_run_id))

    def create_logs(self, logs: list[api.LogCreate]) -> api.LogsCreated:
        return self._send(_layer.create_logs(logs))

    def read_logs(self, query: LogFilter | None = None) -> list[api.LogRead]:
        return self._send(_layer.read_logs(query))

    def batch(self, operations: list[dict[str, Any]]) -> api_batch.BatchResult:
        """Apply `operations` (JSON-ready batch operations) in order, in one request."""
        return self._send(_layer.batch(operations))

    def create_deployment(self, body: dep.DeploymentCreate) -> dep.DeploymentRead:
        """Create or replace (by flow and deployment name) a deployment."""
        return self._send(_layer.create_deployment(body))

    def read_deployment(self, deployment_id: uuid.UUID) -> dep.DeploymentRead:
        return self._send(_layer.read_deployment(deployment_id))

    def read_deployment_by_name(self, name: str) -> dep.DeploymentRead:
        """The deployment named `"flow-name/deployment-name"`."""
        return self._send(_layer.read_deployment_by_name(name))

    def read_deployments(
        self, query: dep.DeploymentFilter | None = None
    ) -> list[dep.DeploymentRead]:
        return self._send(_layer.read_deployments(query))

    def count_deployments(self, query: dep.DeploymentFilter | None = None) -> int:
        return self._send(_layer.count_deployments(query))

    def update_deployment(
        self, deployment_id: uuid.UUID, body: dep.DeploymentUpdate
    ) -> dep.DeploymentRead:
        return self._send(_layer.update_deployment(deployment_id, body))

    def delete_deployment(self, deployment_id: uuid.UUID) -> None:
        return self._send(_layer.delete_deployment(deployment_id))

    def pause_deployment(self, deployment_id: uuid.UUID) -> dep.DeploymentRead:
        return self._send(_layer.pause_deployment(deployment_id))

    def resume_deployment(self, deployment_id: uuid.UUID) -> dep.DeploymentRead:
        return self._send(_layer.resume_deployment(deployment_id))

    def create_flow_run_from_deployment(
        self, deployment_id: uuid.UUID, body: dep.DeploymentFlowRunCreate | None = None
    ) -> api.FlowRunRead:
        """A run of the deployment; the server validates its parameters (422 names one)."""
        return self._send(_layer.create_flow_run_from_deployment(deployment_id, body))

    def backfill_deployment(
        self, deployment_id: uuid.UUID, body: dep.BackfillRequest
    ) -> dep.BackfillResult:
        return self._send(_layer.backfill_deployment(deployment_id, body))

    def read_deployment_schedules(
        self, deployment_id: uuid.UUID
    ) -> list[sched.DeploymentScheduleRead]:
        return self._send(_layer.read_deployment_schedules(deployment_id))

    def create_deployment_schedule(
        self, deployment_id: uuid.UUID, body: sched.DeploymentScheduleCreate
    ) -> sched.DeploymentScheduleRead:
        return self._send(_layer.create_deployment_schedule(deployment_id, body))

    def update_deployment_schedule(
        self, deployment_id: uuid.UUID, schedule_id: uuid.UUID, body: sched.DeploymentScheduleUpdate
    ) -> sched.DeploymentScheduleRead:
        return self._send(_layer.update_deployment_schedule(deployment_id, schedule_id, body))

    def delete_deployment_schedule(self, deployment_id: uuid.UUID, schedule_id: uuid.UUID) -> None:
        return self._send(_layer.delete_deployment_schedule(deployment_id, schedule_id))

    def create_work_pool(self, body: dep.WorkPoolCreate) -> dep.WorkPoolRead:
        return self._send(_layer.create_work_pool(body))

    def read_work_pools(self) -> list[dep.WorkPoolRead]:
        return self._send(_layer.read_work_pools())

    def read_work_pool(self, name: str) -> dep.WorkPoolRead:
        return self._send(_layer.read_work_pool(name))

    def update_work_pool(self, name: str, body: dep.WorkPoolUpdate) -> dep.WorkPoolRead:
        return self._send(_layer.update_work_pool(name, body))

    def delete_work_pool(self, name: str) -> None:
        return self._send(_layer.delete_work_pool(name))

    def pause_work_pool(self, name: str) -> dep.WorkPoolRead:
        return self._send(_layer.pause_work_pool(name))

    def resume_work_pool(self, name: str) -> dep.WorkPoolRead:
        return self._send(_layer.resume_work_pool(name))

    def read_work_queues(self, work_pool_name: str) -> list[dep.WorkQueueRead]:
        return self._send(_layer.read_work_queues(work_pool_name))

    def create_work_queue(
        self, work_pool_name: str, body: dep.WorkQueueCreate
    ) -> dep.WorkQueueRead:
        return self._send(_layer.create_work_queue(work_pool_name, body))

    def read_work_queue(self, work_pool_name: str, name: str) -> dep.WorkQueueRead:
        return self._send(_layer.read_work_queue(work_pool_name, name))

    def update_work_queue(
        self, work_pool_name: str, name: str, body: dep.WorkQueueUpdate
    ) -> dep.WorkQueueRead:
        return self._send(_layer.update_work_queue(work_pool_name, name, body))

    def delete_work_queue(self, work_pool_name: str, name: str) -> None:
        return self._send(_layer.delete_work_queue(work_pool_name, name))

    def pause_work_queue(self, work_pool_name: str, name: str) -> dep.WorkQueueRead:
        return self._send(_layer.pause_work_queue(work_pool_name, name))

    def resume_work_queue(self, work_pool_name: str, name: str) -> dep.WorkQueueRead:
        return self._send(_layer.resume_work_queue(work_pool_name, name))

    def read_workers(self, work_pool_name: str | None = None) -> list[dep.WorkerRead]:
        """Every worker, or the workers of one pool."""
        return self._send(_layer.read_workers(work_pool_name))

    def claim_runs(self, body: dep.ClaimRequest) -> list[dep.ClaimedRun]:
        """Claim due runs (Scheduled -> Pending, held by `body.worker_name`); may long-poll."""
        return self._send(_layer.claim_runs(body))

    def heartbeat(self, body: dep.HeartbeatRequest) -> dep.HeartbeatResponse:
        """Report the worker alive with the runs it holds; the answer says which to cancel."""
        return self._send(_layer.heartbeat(body))

    def cancel_flow_run(self, flow_run_id: uuid.UUID) -> dep.CancelResult:
        """Cancel a run: at once when not started, else Cancelling until its holder stops it."""
        return self._send(_layer.cancel_flow_run(flow_run_id))

    def create_concurrency_limit(
        self, body: conc.ConcurrencyLimitCreate
    ) -> conc.ConcurrencyLimitRead:
        """Create a limit (409 when the name is taken)."""
        return self._send(_layer.create_concurrency_limit(body))

    def read_concurrency_limits(self, kind: str | None = None) -> list[conc.ConcurrencyLimitRead]:
        """Every limit, or those of one kind ("tag" or "global"), by name."""
        return self._send(_layer.read_concurrency_limits(kind))

    def read_concurrency_limit(self, name: str) -> conc.ConcurrencyLimitRead:
        return self._send(_layer.read_concurrency_limit(name))

    def update_concurrency_limit(
        self, name: str, body: conc.ConcurrencyLimitUpdate
    ) -> conc.ConcurrencyLimitRead:
        return self._send(_layer.update_concurrency_limit(name, body))

    def delete_concurrency_limit(self, name: str) -> None:
        return self._send(_layer.delete_concurrency_limit(name))

    def reset_concurrency_limit(self, name: str) -> conc.LimitReset:
        """Free every slot of the limit at once."""
        return self._send(_layer.reset_concurrency_limit(name))

    def read_slot_leases(self, name: str) -> list[conc.SlotLeaseRead]:
        """The live leases on the limit, oldest first."""
        return self._send(_layer.read_slot_leases(name))

    def acquire_slots(self, body: conc.SlotRequest) -> conc.SlotGrantRead:
        """Try once for slots on every limit named (all or nothing); never waits."""
        return self._send(_layer.acquire_slots(body))

    def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> conc.LeaseRenewed:
        """Extend a live lease; `renewed` is False once it is gone or expired."""
        return self._send(_layer.renew_lease(lease_id, lease_seconds))

    def release_lease(self, lease_id: uuid.UUID) -> None:
        """Give the lease's slots back."""
        return self._send(_layer.release_lease(lease_id))

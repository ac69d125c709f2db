"""Deployments and their schedules in the client (`/api/deployments`), async and blocking:
create, read, list, count, update, delete, pause, resume, runs, backfills, schedules.
The requests are described in `_layer`; Prefect's arguments are mapped in `_compat`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from vibepiper.client import _compat, _layer
from vibepiper.client.schemas import filters, objects, sorting
from vibepiper.schemas import deployments as dep
from vibepiper.schemas import schedules as sched
from vibepiper.states import State

if TYPE_CHECKING:
    from vibepiper.client._layer import Call, Plan

T = TypeVar("T")


class Deployments:
    """The async methods of deployments (mixed into `VibePiperClient`)."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_deployment(self, body: dep.DeploymentCreate) -> objects.Deployment:
        """Create or replace (by flow and deployment name) a deployment."""
        return await self._send(_layer.create_deployment(body))

    async def read_deployment(self, deployment_id: uuid.UUID | str) -> objects.Deployment:
        return await self._send(_layer.read_deployment(_compat.object_id(deployment_id)))

    async def read_deployment_by_name(self, name: str) -> objects.Deployment:
        """The deployment named `"flow-name/deployment-name"`."""
        return await self._send(_layer.read_deployment_by_name(name))

    async def read_deployments(
        self,
        query: dep.DeploymentFilter | filters.DeploymentFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
        limit: int | None = None,
        sort: sorting.DeploymentSort | None = None,
        offset: int = 0,
    ) -> list[objects.Deployment]:
        """Deployments matching every filter given, by flow name then name; `limit`
        defaults to 200."""
        body = _compat.deployment_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
            limit=limit,
            sort=sort,
            offset=offset,
        )
        return await self._send(_layer.read_deployments(body))

    async def count_deployments(
        self,
        query: dep.DeploymentFilter | filters.DeploymentFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
    ) -> int:
        """How many deployments match every filter given."""
        body = _compat.deployment_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
        )
        return await self._send(_layer.count_deployments(body))

    async def update_deployment(
        self, deployment_id: uuid.UUID, body: dep.DeploymentUpdate
    ) -> objects.Deployment:
        return await self._send(_layer.update_deployment(deployment_id, body))

    async def delete_deployment(self, deployment_id: uuid.UUID) -> None:
        return await self._send(_layer.delete_deployment(deployment_id))

    async def pause_deployment(self, deployment_id: uuid.UUID) -> objects.Deployment:
        return await self._send(_layer.pause_deployment(deployment_id))

    async def resume_deployment(self, deployment_id: uuid.UUID) -> objects.Deployment:
        return await self._send(_layer.resume_deployment(deployment_id))

    async def create_flow_run_from_deployment(
        self,
        deployment_id: uuid.UUID | str,
        body: dep.DeploymentFlowRunCreate | None = None,
        *,
        parameters: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        state: State[Any] | None = None,
        name: str | None = None,
        tags: Iterable[str] | None = None,
        idempotency_key: str | None = None,
        parent_task_run_id: uuid.UUID | None = None,
        work_queue_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> objects.FlowRun:
        """A run of the deployment (Scheduled for now unless `state` says); the server
        validates its parameters (a 422 names the field). Prefect's keywords or the
        API's `body`, not both."""
        request = _compat.deployment_run(
            body,
            parameters=parameters,
            context=context,
            state=state,
            name=name,
            tags=tags,
            idempotency_key=idempotency_key,
            parent_task_run_id=parent_task_run_id,
            work_queue_name=work_queue_name,
            job_variables=job_variables,
        )
        deployment = _compat.object_id(deployment_id)
        return await self._send(_layer.create_flow_run_from_deployment(deployment, request))

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


class SyncDeployments:
    """The blocking twins of `Deployments` (mixed into `SyncVibePiperClient`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_deployment(self, body: dep.DeploymentCreate) -> objects.Deployment:
        """Create or replace (by flow and deployment name) a deployment."""
        return self._send(_layer.create_deployment(body))

    def read_deployment(self, deployment_id: uuid.UUID | str) -> objects.Deployment:
        return self._send(_layer.read_deployment(_compat.object_id(deployment_id)))

    def read_deployment_by_name(self, name: str) -> objects.Deployment:
        """The deployment named `"flow-name/deployment-name"`."""
        return self._send(_layer.read_deployment_by_name(name))

    def read_deployments(
        self,
        query: dep.DeploymentFilter | filters.DeploymentFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
        limit: int | None = None,
        sort: sorting.DeploymentSort | None = None,
        offset: int = 0,
    ) -> list[objects.Deployment]:
        """Deployments matching every filter given, by flow name then name; `limit`
        defaults to 200."""
        body = _compat.deployment_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
            limit=limit,
            sort=sort,
            offset=offset,
        )
        return self._send(_layer.read_deployments(body))

    def count_deployments(
        self,
        query: dep.DeploymentFilter | filters.DeploymentFilter | None = None,
        *,
        flow_filter: filters.FlowFilter | None = None,
        flow_run_filter: filters.FlowRunFilter | None = None,
        task_run_filter: filters.TaskRunFilter | None = None,
        deployment_filter: filters.DeploymentFilter | None = None,
        work_pool_filter: filters.WorkPoolFilter | None = None,
        work_queue_filter: filters.WorkQueueFilter | None = None,
    ) -> int:
        """How many deployments match every filter given."""
        body = _compat.deployment_query(
            query,
            flow_filter=flow_filter,
            flow_run_filter=flow_run_filter,
            task_run_filter=task_run_filter,
            deployment_filter=deployment_filter,
            work_pool_filter=work_pool_filter,
            work_queue_filter=work_queue_filter,
        )
        return self._send(_layer.count_deployments(body))

    def update_deployment(
        self, deployment_id: uuid.UUID, body: dep.DeploymentUpdate
    ) -> objects.Deployment:
        return self._send(_layer.update_deployment(deployment_id, body))

    def delete_deployment(self, deployment_id: uuid.UUID) -> None:
        return self._send(_layer.delete_deployment(deployment_id))

    def pause_deployment(self, deployment_id: uuid.UUID) -> objects.Deployment:
        return self._send(_layer.pause_deployment(deployment_id))

    def resume_deployment(self, deployment_id: uuid.UUID) -> objects.Deployment:
        return self._send(_layer.resume_deployment(deployment_id))

    def create_flow_run_from_deployment(
        self,
        deployment_id: uuid.UUID | str,
        body: dep.DeploymentFlowRunCreate | None = None,
        *,
        parameters: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        state: State[Any] | None = None,
        name: str | None = None,
        tags: Iterable[str] | None = None,
        idempotency_key: str | None = None,
        parent_task_run_id: uuid.UUID | None = None,
        work_queue_name: str | None = None,
        job_variables: dict[str, Any] | None = None,
    ) -> objects.FlowRun:
        """A run of the deployment (Scheduled for now unless `state` says); the server
        validates its parameters (a 422 names the field). Prefect's keywords or the
        API's `body`, not both."""
        request = _compat.deployment_run(
            body,
            parameters=parameters,
            context=context,
            state=state,
            name=name,
            tags=tags,
            idempotency_key=idempotency_key,
            parent_task_run_id=parent_task_run_id,
            work_queue_name=work_queue_name,
            job_variables=job_variables,
        )
        deployment = _compat.object_id(deployment_id)
        return self._send(_layer.create_flow_run_from_deployment(deployment, request))

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

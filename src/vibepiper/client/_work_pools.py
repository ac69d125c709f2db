"""Work pools, work queues and workers in the client (`/api/work_pools`), async and
blocking, with the worker protocol (claim, heartbeat, cancellation watch). The requests
are described in `_layer`."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from vibepiper.client import _layer
from vibepiper.client.schemas import objects
from vibepiper.schemas import deployments as dep

if TYPE_CHECKING:
    from vibepiper.client._layer import Call, Plan

T = TypeVar("T")


class WorkPools:
    """The async methods of work pools, queues and workers (mixed into `VibePiperClient`)."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_work_pool(self, body: dep.WorkPoolCreate) -> objects.WorkPool:
        return await self._send(_layer.create_work_pool(body))

    async def read_work_pools(self) -> list[objects.WorkPool]:
        return await self._send(_layer.read_work_pools())

    async def read_work_pool(self, work_pool_name: str) -> objects.WorkPool:
        return await self._send(_layer.read_work_pool(work_pool_name))

    async def update_work_pool(self, name: str, body: dep.WorkPoolUpdate) -> objects.WorkPool:
        return await self._send(_layer.update_work_pool(name, body))

    async def delete_work_pool(self, name: str) -> None:
        return await self._send(_layer.delete_work_pool(name))

    async def pause_work_pool(self, name: str) -> objects.WorkPool:
        return await self._send(_layer.pause_work_pool(name))

    async def resume_work_pool(self, name: str) -> objects.WorkPool:
        return await self._send(_layer.resume_work_pool(name))

    async def read_work_queues(self, work_pool_name: str) -> list[objects.WorkQueue]:
        return await self._send(_layer.read_work_queues(work_pool_name))

    async def create_work_queue(
        self, work_pool_name: str, body: dep.WorkQueueCreate
    ) -> objects.WorkQueue:
        return await self._send(_layer.create_work_queue(work_pool_name, body))

    async def read_work_queue(self, work_pool_name: str, name: str) -> objects.WorkQueue:
        return await self._send(_layer.read_work_queue(work_pool_name, name))

    async def update_work_queue(
        self, work_pool_name: str, name: str, body: dep.WorkQueueUpdate
    ) -> objects.WorkQueue:
        return await self._send(_layer.update_work_queue(work_pool_name, name, body))

    async def delete_work_queue(self, work_pool_name: str, name: str) -> None:
        return await self._send(_layer.delete_work_queue(work_pool_name, name))

    async def pause_work_queue(self, work_pool_name: str, name: str) -> objects.WorkQueue:
        return await self._send(_layer.pause_work_queue(work_pool_name, name))

    async def resume_work_queue(self, work_pool_name: str, name: str) -> objects.WorkQueue:
        return await self._send(_layer.resume_work_queue(work_pool_name, name))

    async def read_workers(self, work_pool_name: str | None = None) -> list[objects.Worker]:
        """Every worker, or the workers of one pool."""
        return await self._send(_layer.read_workers(work_pool_name))

    async def claim_runs(self, body: dep.ClaimRequest) -> list[dep.ClaimedRun]:
        """Claim due runs (Scheduled -> Pending, held by `body.worker_name`); may long-poll."""
        return await self._send(_layer.claim_runs(body))

    async def heartbeat(self, body: dep.HeartbeatRequest) -> dep.HeartbeatResponse:
        """Report the worker alive with the runs it holds; the answer says which to cancel."""
        return await self._send(_layer.heartbeat(body))

    async def watch_cancellations(self, body: dep.CancellationWatch) -> dep.HeartbeatResponse:
        """Wait (a long poll) until one of the held runs is asked to cancel, or is gone."""
        return await self._send(_layer.watch_cancellations(body))


class SyncWorkPools:
    """The blocking twins of `WorkPools` (mixed into `SyncVibePiperClient`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_work_pool(self, body: dep.WorkPoolCreate) -> objects.WorkPool:
        return self._send(_layer.create_work_pool(body))

    def read_work_pools(self) -> list[objects.WorkPool]:
        return self._send(_layer.read_work_pools())

    def read_work_pool(self, work_pool_name: str) -> objects.WorkPool:
        return self._send(_layer.read_work_pool(work_pool_name))

    def update_work_pool(self, name: str, body: dep.WorkPoolUpdate) -> objects.WorkPool:
        return self._send(_layer.update_work_pool(name, body))

    def delete_work_pool(self, name: str) -> None:
        return self._send(_layer.delete_work_pool(name))

    def pause_work_pool(self, name: str) -> objects.WorkPool:
        return self._send(_layer.pause_work_pool(name))

    def resume_work_pool(self, name: str) -> objects.WorkPool:
        return self._send(_layer.resume_work_pool(name))

    def read_work_queues(self, work_pool_name: str) -> list[objects.WorkQueue]:
        return self._send(_layer.read_work_queues(work_pool_name))

    def create_work_queue(
        self, work_pool_name: str, body: dep.WorkQueueCreate
    ) -> objects.WorkQueue:
        return self._send(_layer.create_work_queue(work_pool_name, body))

    def read_work_queue(self, work_pool_name: str, name: str) -> objects.WorkQueue:
        return self._send(_layer.read_work_queue(work_pool_name, name))

    def update_work_queue(
        self, work_pool_name: str, name: str, body: dep.WorkQueueUpdate
    ) -> objects.WorkQueue:
        return self._send(_layer.update_work_queue(work_pool_name, name, body))

    def delete_work_queue(self, work_pool_name: str, name: str) -> None:
        return self._send(_layer.delete_work_queue(work_pool_name, name))

    def pause_work_queue(self, work_pool_name: str, name: str) -> objects.WorkQueue:
        return self._send(_layer.pause_work_queue(work_pool_name, name))

    def resume_work_queue(self, work_pool_name: str, name: str) -> objects.WorkQueue:
        return self._send(_layer.resume_work_queue(work_pool_name, name))

    def read_workers(self, work_pool_name: str | None = None) -> list[objects.Worker]:
        """Every worker, or the workers of one pool."""
        return self._send(_layer.read_workers(work_pool_name))

    def claim_runs(self, body: dep.ClaimRequest) -> list[dep.ClaimedRun]:
        """Claim due runs (Scheduled -> Pending, held by `body.worker_name`); may long-poll."""
        return self._send(_layer.claim_runs(body))

    def heartbeat(self, body: dep.HeartbeatRequest) -> dep.HeartbeatResponse:
        """Report the worker alive with the runs it holds; the answer says which to cancel."""
        return self._send(_layer.heartbeat(body))

    def watch_cancellations(self, body: dep.CancellationWatch) -> dep.HeartbeatResponse:
        """Wait (a long poll) until one of the held runs is asked to cancel, or is gone."""
        return self._send(_layer.watch_cancellations(body))

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

"""The background-task queue in the client (`/api/background_tasks`), async and blocking,
over one set of call descriptions: what `task.delay()` sends, what task workers call
(claim, renew, ack, release) and the long poll a `PrefectDistributedFuture` waits on."""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from vibepiper.client._layer import Call, _dump, _int, _list, _model
from vibepiper.schemas import api
from vibepiper.schemas import background_tasks as wire
from vibepiper.states import TERMINAL_STATE_TYPES, State

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient

T = TypeVar("T")


def create_background_task(body: wire.BackgroundTaskCreate) -> Call[api.TaskRunRead]:
    return Call("POST", "background_tasks/", _model(api.TaskRunRead), _dump(body))


def claim_background_tasks(body: wire.ClaimRequest) -> Call[list[wire.ClaimedTaskRun]]:
    return Call("POST", "background_tasks/claim", _list(wire.ClaimedTaskRun), _dump(body))


def renew_background_task_leases(body: wire.HeldRuns) -> Call[wire.RenewResult]:
    return Call("POST", "background_tasks/renew", _model(wire.RenewResult), _dump(body))


def ack_background_tasks(body: wire.HeldRuns) -> Call[wire.AckResult]:
    return Call("POST", "background_tasks/ack", _model(wire.AckResult), _dump(body))


def release_background_tasks(body: wire.HeldRuns) -> Call[int]:
    return Call("POST", "background_tasks/release", _int, _dump(body))


def count_background_tasks(task_key: str | None = None) -> Call[int]:
    path = "background_tasks/count"
    return Call(
        "GET", path if task_key is None else f"{path}?task_key={quote(task_key, safe='')}", _int
    )


def wait_for_task_run(task_run_id: uuid.UUID, timeout: float) -> Call[api.TaskRunRead]:
    path = f"task_runs/{task_run_id}/wait?timeout={max(0.0, timeout):.3f}"
    return Call("GET", path, _model(api.TaskRunRead))


class BackgroundTasks:
    """The async background-task methods of `VibePiperClient`."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_background_task(self, body: wire.BackgroundTaskCreate) -> api.TaskRunRead:
        """Record a task run Scheduled and queue it for the task workers of its key."""
        return await self._send(create_background_task(body))

    async def claim_background_tasks(self, body: wire.ClaimRequest) -> list[wire.ClaimedTaskRun]:
        return await self._send(claim_background_tasks(body))

    async def renew_background_task_leases(self, body: wire.HeldRuns) -> wire.RenewResult:
        return await self._send(renew_background_task_leases(body))

    async def ack_background_tasks(self, body: wire.HeldRuns) -> wire.AckResult:
        return await self._send(ack_background_tasks(body))

    async def release_background_tasks(self, body: wire.HeldRuns) -> int:
        return await self._send(release_background_tasks(body))

    async def count_background_tasks(self, task_key: str | None = None) -> int:
        """How many runs are queued (waiting or held), of one queue key or in all."""
        return await self._send(count_background_tasks(task_key))

    async def wait_for_task_run(
        self, task_run_id: uuid.UUID, timeout: float = 10.0
    ) -> api.TaskRunRead:
        """The task run once final, or as it is after `timeout` seconds (at most 30)."""
        return await self._send(wait_for_task_run(task_run_id, timeout))


class SyncBackgroundTasks:
    """The blocking background-task methods (the same as `BackgroundTasks`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def create_background_task(self, body: wire.BackgroundTaskCreate) -> api.TaskRunRead:
        return self._send(create_background_task(body))

    def claim_background_tasks(self, body: wire.ClaimRequest) -> list[wire.ClaimedTaskRun]:
        return self._send(claim_background_tasks(body))

    def renew_background_task_leases(self, body: wire.HeldRuns) -> wire.RenewResult:
        return self._send(renew_background_task_leases(body))

    def ack_background_tasks(self, body: wire.HeldRuns) -> wire.AckResult:
        return self._send(ack_background_tasks(body))

    def release_background_tasks(self, body: wire.HeldRuns) -> int:
        return self._send(release_background_tasks(body))

    def count_background_tasks(self, task_key: str | None = None) -> int:
        return self._send(count_background_tasks(task_key))

    def wait_for_task_run(self, task_run_id: uuid.UUID, timeout: float = 10.0) -> api.TaskRunRead:
        return self._send(wait_for_task_run(task_run_id, timeout))


_shared: dict[tuple[object, ...], object] = {}
_shared_lock = threading.Lock()


def shared_sync_client() -> SyncVibePiperClient:
    """One blocking client per process and target (the server of `VIBEPIPER_API_URL`, or
    the in-process API over `VIBEPIPER_HOME`), kept open: `delay()` and the futures'
    waits make one request each, and opening a client per request would cost more than
    the request."""
    import os

    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.client.orchestration import get_client
    from vibepiper.settings import get_settings

    settings = get_settings()
    key = (os.getpid(), settings.api_url, settings.api_key, settings.home)
    client = _shared.get(key)
    if client is None:
        with _shared_lock:
            client = _shared.get(key)
            if client is None:
                for old in list(_shared):  # settings changed (or this is a forked child)
                    stale = _shared.pop(old)
                    if old[0] == key[0] and isinstance(stale, SyncVibePiperClient):
                        stale.close()
                client = _shared[key] = get_client(sync_client=True)
    assert isinstance(client, SyncVibePiperClient)
    return client


WAIT_SLICE = 5.0
"""Seconds one long poll of a run may be held open (well under the client's timeout)."""


def wait_until_final(task_run_id: uuid.UUID, timeout: float | None) -> State[Any] | None:
    """The run's final state, long-polling the API until it is final or `timeout`
    seconds passed (None then). A server that is away, or a run not recorded yet, is
    asked again after a short pause: waiting never depends on one connection."""
    import time

    from vibepiper.client.errors import ServerBusy, ServerUnreachable
    from vibepiper.client.schemas.objects import state_from_read
    from vibepiper.exceptions import ObjectNotFound

    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.05
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        window = WAIT_SLICE if left is None else max(0.0, min(WAIT_SLICE, left))
        read: api.TaskRunRead | None
        try:
            read = shared_sync_client().wait_for_task_run(task_run_id, window)
        except (ServerUnreachable, ServerBusy, ObjectNotFound):
            read = None
        else:
            pause = 0.05
            state = read.state
            if state is not None and state.type in TERMINAL_STATE_TYPES:
                return state_from_read(state)
        if deadline is not None and deadline - time.monotonic() <= 0:
            return None
        if read is None:
            nap = pause if deadline is None else min(pause, deadline - time.monotonic())
            time.sleep(max(0.0, nap))
            pause = min(pause * 2, 1.0)


def close_shared_clients() -> None:
    """Close the clients `shared_sync_client` kept (tests; a process changing targets)."""
    from vibepiper.client._client import SyncVibePiperClient

    with _shared_lock:
        clients = list(_shared.values())
        _shared.clear()
    for client in clients:
        if isinstance(client, SyncVibePiperClient):
            client.close()

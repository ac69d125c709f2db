"""Task workers: processes that run the background runs of tasks (`task.delay()`).

    from vibepiper.task_worker import serve

    serve(send_email, resize_image, limit=10)     # or: vibepiper task serve tasks.py:send_email

A task worker claims the queued runs of the tasks it serves from the server (or, with
no `VIBEPIPER_API_URL`, from the embedded database through the in-process API), and
runs each through the task engine: retries, timeouts, hooks, caching and concurrency
limits apply as for any task run, and results are always persisted, so the caller's
future reads them back. States are recorded through the run store and flushed when a
run finishes, so a waiting caller learns of it at once.

Leases. Each claimed run is held under a lease (`lease_seconds`, 30 by default); one
renew call every third of it extends the leases of every run the worker holds. A
worker that dies (SIGKILL, a lost machine) stops renewing: once its leases run out, its
runs are handed to another worker, which runs them again from the start. A worker
still alive that cannot reach the server for longer than the lease (a partition) may
find its runs taken meanwhile: they then run twice (at-least-once in that case only).
When a run ends, the worker acknowledges it and the run leaves the queue; a run whose
worker died after finishing but before acknowledging is not run again.

Stopping. Ctrl-C or SIGTERM stops claiming and lets the running runs finish (for at
most `grace_seconds`); what is still running then, or at once on a second signal, is
released: claimable by another worker at once, and this process records nothing more
of it. Sync tasks run in threads (at most `limit` at once); async tasks on the worker's
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vibepiper.engine.background import BackgroundTaskRunEngine, queue_key, unpack_call
from vibepiper.exceptions import ConfigurationError
from vibepiper.tasks import Task
from vibepiper.utilities.waits import wait_within

if TYPE_CHECKING:
    from vibepiper.client._client import VibePiperClient
    from vibepiper.schemas.background_tasks import ClaimedTaskRun

__all__ = ["TaskWorker", "aserve", "serve"]

CLAIM_WAIT = 1.0
"""Seconds one claim request waits for work (also how soon a stop is noticed)."""
CLAIM_GATHER = 0.05
"""Seconds a busy worker (under half its slots free) waits for more slots to free up
before claiming for them together."""
UNLIMITED = 1000
"""How many runs at once a worker with `limit=None` takes."""
FLUSH_WAIT = 30.0
"""Seconds a finished run waits for its states to reach the store before it is
acknowledged (unacknowledged runs are acknowledged again at the next renewal)."""
ACK_DELAY = 1.0
"""Seconds the acknowledgements of finished runs wait to go together (on a server, a
run's final state takes it off the queue already; acknowledging is what does it with no
server, and what confirms it)."""
ACK_PATIENCE = 600.0
"""Seconds a finished run whose final state has not reached the server is kept (and its
lease renewed) before the worker lets its lease run out."""


def _logger() -> Any:
    from vibepiper.logging import get_logger

    return get_logger("task_worker")


@dataclass(eq=False)
class _Held:
    """A run this worker holds: what was claimed, its engine once built, its job."""

    claimed: ClaimedTaskRun
    engine: BackgroundTaskRunEngine | None = None
    job: asyncio.Task[None] | None = None
    finished_at: float = 0.0
    let_go: bool = False  # released, or its lease lost: another worker runs it

    def let_go_of(self) -> None:
        """Record nothing more of this run (set before or after its engine is built:
        `adopt_engine` checks it too)."""
        self.let_go = True
        if self.engine is not None:
            self.engine.abandon()

    def adopt_engine(self, engine: BackgroundTaskRunEngine) -> None:
        self.engine = engine
        if self.let_go:
            engine.abandon()


class TaskWorker:
    """Runs the background runs of `tasks` (see the module docstring).

    Args:
        tasks: the tasks whose `.delay()` runs this worker takes.
        limit: most runs at once (None: no limit of its own).
        lease_seconds: how long a claimed run stays this worker's without a renewal.
        grace_seconds: how long a stopping worker waits for its running runs.
        name: the worker's name in the queue (default `task-worker-HOST-PID-XXXX`).
    """

    def __init__(
        self,
        *tasks: Task[..., Any],
        limit: int | None = 10,
        lease_seconds: float = 30.0,
        grace_seconds: float = 30.0,
        name: str | None = None,
    ) -> None:
        if not tasks:
            raise ValueError("a task worker needs at least one task to serve")
        for task in tasks:
            if not isinstance(task, Task):
                raise TypeError(f"a task worker serves tasks (@task), got {type(task).__name__}")
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1 (or None), got {limit}")
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        # results are always persisted: the caller reads them from another process
        self.tasks: dict[str, Task[..., Any]] = {
            queue_key(task): _persisting(task) for task in tasks
        }
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.grace_seconds = grace_seconds
        self.name = (
            name or f"task-worker-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        )
        self.finished_count = 0
        self._stop = threading.Event()
        self._hurry = threading.Event()
        self._running: dict[uuid.UUID, _Held] = {}
        self._unacked: dict[uuid.UUID, _Held] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None  # the claim loop: a slot freed, a stop
        self._acks: asyncio.Event | None = None  # the upkeep: a run finished
        self._client: VibePiperClient | None = None
        # imported here, in the thread that makes the worker: a worker started on a thread
        # of its own would otherwise import the client while the caller's `.delay()` does,
        # and two threads importing the client's modules at once can deadlock on them
        import vibepiper.client.orchestration  # noqa: F401

    # --- what it is doing ------------------------------------------------------------
    @property
    def task_keys(self) -> set[str]:
        """The queue keys of the tasks served."""
        return set(self.tasks)

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def current_tasks(self) -> int:
        """How many runs are running now."""
        return len(self._running)

    @property
    def available_tasks(self) -> int | None:
        """How many more runs it would take now (None: no limit)."""
        return None if self.limit is None else max(0, self.limit - len(self._running))

    # --- starting and stopping -------------------------------------------------------
    def start(self, timeout: float | None = None) -> None:
        """Serve until stopped (Ctrl-C, SIGTERM, `stop()`) or for `timeout` seconds."""
        from vibepiper.workers.serve import stop_on_signals

        # the first signal stops gracefully, a second releases the running runs at once
        with stop_on_signals(self._stop, act=self.stop, first=_first_stop_signal):
            asyncio.run(self.astart(timeout))

    def stop(self) -> None:
        """Stop claiming; let the running runs finish (at most `grace_seconds`).
        Safe from a signal handler or another thread; a second call releases at once."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()
        self._poke()

    def _poke(self) -> None:
        loop, wake, acks = self._loop, self._wake, self._acks
        if loop is not None and wake is not None and acks is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)
                loop.call_soon_threadsafe(acks.set)

    async def astart(self, timeout: float | None = None) -> None:
        """`start` on the running event loop (no signal handling of its own)."""
        from vibepiper.client.orchestration import get_client
        from vibepiper.settings import get_settings

        settings = get_settings()
        if not settings.api_url and settings.home_is_memory:
            raise ConfigurationError(
                "a task worker takes its runs from a server (VIBEPIPER_API_URL) or from the "
                "embedded database its callers share (VIBEPIPER_HOME, not ':memory:')"
            )
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._acks = asyncio.Event()
        names = ", ".join(sorted(task.name for task in self.tasks.values()))
        _logger().info(
            "Task worker %s serving %s (limit %s); Ctrl-C to stop", self.name, names, self.limit
        )
        async with get_client() as client:
            self._client = client
            upkeep = asyncio.create_task(self._upkeep(), name="vibepiper-task-worker-upkeep")
            try:
                await self._claim_loop(None if timeout is None else time.monotonic() + timeout)
            finally:
                try:
                    await self._drain()
                finally:
                    upkeep.cancel()
                    await asyncio.gather(upkeep, return_exceptions=True)
                    self._loop = None
        _logger().info("Task worker %s stopped", self.name)

    # --- claiming and running --------------------------------------------------------
    async def _claim_loop(self, deadline: float | None) -> None:
        from vibepiper.schemas.background_tasks import ClaimRequest

        assert self._client is not None
        capacity = self.limit or UNLIMITED
        failures = 0
        gathering_since: float | None = None
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            free = capacity - len(self._running)
            if free <= 0:
                await _nap(self._wake, 1.0)
                continue
            if self._running and free < (capacity + 1) // 2:
                # busy: let a few slots free up and claim for them together (one request,
                # one transaction) rather than one run per finished run
                now = time.monotonic()
                gathering_since = gathering_since or now
                if now - gathering_since < CLAIM_GATHER:
                    await _nap(self._wake, CLAIM_GATHER - (now - gathering_since))
                    continue
            gathering_since = None
            request = ClaimRequest(
                worker=self.name,
                task_keys=sorted(self.tasks),
                limit=min(free, 1000),
                lease_seconds=self.lease_seconds,
                wait_seconds=CLAIM_WAIT,
            )
            try:
                claimed = await self._client.claim_background_tasks(request)
            except Exception as exc:
                if not _transient(exc):
                    raise
                failures += 1
                if failures == 1:
                    _logger().warning("Cannot claim runs (%s); retrying", exc)
                await _nap(self._wake, min(5.0, 0.2 * 2**failures))
                continue
            if failures:
                _logger().info("Claiming again")
                failures = 0
            if self._stop.is_set():  # claimed while stopping: another worker takes them
                await self._release([run.task_run.id for run in claimed])
                return
            for run in claimed:
                self._begin(run)

    def _begin(self, claimed: ClaimedTaskRun) -> None:
        held = _Held(claimed)
        run_id = claimed.task_run.id
        self._running[run_id] = held
        if claimed.deliveries > 1:
            _logger().warning(
                "Task run %r is delivered again (delivery %d): its earlier holder's lease ran out",
                claimed.task_run.name,
                claimed.deliveries,
            )
        held.job = asyncio.create_task(self._run(held), name=f"vibepiper-task-run-{run_id}")

    async def _run(self, held: _Held) -> None:
        run_id = held.claimed.task_run.id
        task = self.tasks.get(held.claimed.queue_key)
        try:
            if task is None:  # not ours after all: give it back
                await self._release([run_id])
                return
            if task.isasync and not task.isgenerator:
                engine = self._engine(held, task)
                if engine is not None:
                    from vibepiper.engine.task_engine import run_task_async

                    await run_task_async(engine)
                await asyncio.to_thread(_flush)
            else:
                await _in_daemon_thread(self._run_sync, held, task)
        except Exception:
            _logger().exception("Task run %s failed in the task worker", run_id)
        finally:
            self._running.pop(run_id, None)
            if task is not None and not held.let_go:
                held.finished_at = time.monotonic()
                self._unacked[run_id] = held
                self.finished_count += 1
            self._poke()

    def _run_sync(self, held: _Held, task: Task[..., Any]) -> None:
        try:
            engine = self._engine(held, task)
            if engine is not None:
                from vibepiper.engine.task_engine import run_task_sync

                run_task_sync(engine)
        finally:
            _flush()

    def _engine(self, held: _Held, task: Task[..., Any]) -> BackgroundTaskRunEngine | None:
        """The engine adopting the claimed run; None when it cannot run (then Failed)."""
        from vibepiper.store import get_store

        store = get_store()
        claimed = held.claimed
        read = claimed.task_run
        try:
            if task.isgenerator:
                raise TypeError("generator tasks cannot run in the background")
            parameters, wait_for = unpack_call(held.claimed.parameters)
        except Exception as exc:
            engine = BackgroundTaskRunEngine(task, {}, None, store)
            held.adopt_engine(engine)
            engine.adopt(read, self.name, claimed.deliveries)
            engine.fail(f"The background run could not start: {type(exc).__name__}: {exc}", exc)
            return None
        engine = BackgroundTaskRunEngine(task, parameters, wait_for, store)
        held.adopt_engine(engine)
        engine.adopt(read, self.name, claimed.deliveries)
        return engine

    # --- leases and acknowledgements -------------------------------------------------
    async def _upkeep(self) -> None:
        """Acknowledge finished runs (together, `ACK_DELAY` after the first of them
        finished); renew every lease a third of the way through it."""
        interval = self.lease_seconds / 3
        next_renewal = time.monotonic() + interval
        next_ack: float | None = None
        while True:
            due = next_renewal if next_ack is None else min(next_renewal, next_ack)
            await _nap(self._acks, max(0.0, due - time.monotonic()))
            now = time.monotonic()
            if self._unacked and next_ack is None:
                next_ack = now + ACK_DELAY
            if next_ack is not None and now >= next_ack:
                next_ack = None
                await self._guarded(self._ack)
            if now >= next_renewal:
                await self._guarded(self._renew)
                next_renewal = time.monotonic() + interval

    async def _guarded(self, step: Callable[[], Any]) -> None:
        try:
            await step()
        except Exception as exc:
            if not _transient(exc):
                raise
            _logger().warning("Task worker %s cannot reach the server: %s", self.name, exc)
            await asyncio.sleep(0.5)

    async def _ack(self) -> None:
        from vibepiper.schemas.background_tasks import HeldRuns

        assert self._client is not None
        ids = list(self._unacked)
        answer = await self._client.ack_background_tasks(
            HeldRuns(worker=self.name, task_run_ids=ids)
        )
        waiting = set(answer.not_final)
        now = time.monotonic()
        for run_id in ids:
            held = self._unacked[run_id]
            if run_id not in waiting:
                del self._unacked[run_id]
            elif now - held.finished_at > ACK_PATIENCE:
                del self._unacked[run_id]
                _logger().warning(
                    "Task run %s finished here, but its final state never reached the server; "
                    "its lease will run out and another worker will run it",
                    run_id,
                )

    async def _renew(self) -> None:
        from vibepiper.schemas.background_tasks import HeldRuns

        assert self._client is not None
        ids = [*self._running, *self._unacked]
        if not ids:
            return
        body = HeldRuns(worker=self.name, task_run_ids=ids, lease_seconds=self.lease_seconds)
        answer = await self._client.renew_background_task_leases(body)
        for run_id in answer.lost:
            self._unacked.pop(run_id, None)
            held = self._running.get(run_id)
            if held is not None:
                held.let_go_of()
                _logger().warning(
                    "Task run %s was handed to another worker (this worker's lease ran out); "
                    "it may run twice, and this worker records nothing more of it",
                    run_id,
                )

    async def _release(self, run_ids: list[uuid.UUID]) -> None:
        from vibepiper.schemas.background_tasks import HeldRuns

        assert self._client is not None
        for run_id in run_ids:
            held = self._running.get(run_id)
            if held is not None:
                held.let_go_of()
        with contextlib.suppress(Exception):
            await self._client.release_background_tasks(
                HeldRuns(worker=self.name, task_run_ids=run_ids)
            )

    async def _drain(self) -> None:
        """Let the running runs finish (at most `grace_seconds`, not after a second
        signal), release the rest, acknowledge what finished."""
        deadline = time.monotonic() + self.grace_seconds
        if self._running:
            _logger().info("Waiting for %d running task run(s)", len(self._running))
        while self._running and not self._hurry.is_set() and time.monotonic() < deadline:
            await _nap(self._wake, 0.2)
        left = list(self._running)
        if left:
            _logger().warning("Releasing %d task run(s) to other workers", len(left))
            await self._release(left)
            for run_id in left:
                held = self._running.pop(run_id, None)
                # an async run is cancelled; a sync one's thread is left to end
                if held is not None and held.job is not None and _is_async(held):
                    held.job.cancel()
        if self._unacked:
            with contextlib.suppress(Exception):
                await self._ack()


def _persisting(task: Task[..., Any]) -> Task[..., Any]:
    """`task` with its results always persisted (a copy: hooks registered with its
    decorators, `@task.on_completion`, are kept, which `with_options` would drop)."""
    served = copy.copy(task)
    served.persist_result = True
    return served


def _is_async(held: _Held) -> bool:
    return held.engine is not None and held.engine.task.isasync


async def _nap(event: asyncio.Event | None, seconds: float) -> None:
    """Sleep `seconds`, or less when `event` is set (then clear it)."""
    assert event is not None
    await wait_within(event.wait(), seconds)
    event.clear()


def _transient(exc: BaseException) -> bool:
    """A server away or briefly failing (retry), not a refusal (auth, bad request)."""
    from vibepiper.client.errors import ApiError, ServerBusy, ServerUnreachable

    return isinstance(exc, ServerUnreachable | ServerBusy) or type(exc) is ApiError


def _flush() -> None:
    """Send a finished run's records: on a server at once and without holding the slot
    (the store's sender delivers them within a round trip); into the embedded store, wait
    until they are written."""
    from vibepiper.store import get_store

    store = get_store()
    send_soon = getattr(store, "send_soon", None)
    with contextlib.suppress(Exception):
        if send_soon is not None:
            send_soon()
        else:
            store.flush_runs(timeout=FLUSH_WAIT)


def _in_daemon_thread(fn: Callable[..., None], *args: Any) -> asyncio.Future[None]:
    """Run `fn(*args)` in a new daemon thread: a stopping worker does not wait at exit for
    runs it released (they record nothing more)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def target() -> None:
        error: BaseException | None = None
        try:
            fn(*args)
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=target, name="vibepiper-task-run", daemon=True).start()
    return done


def _first_stop_signal() -> None:
    from vibepiper.store.registry import mark_signal_exit
    from vibepiper.workers.serve import print_stopping

    print_stopping()
    mark_signal_exit()  # at exit, wait for an unreachable server only briefly


def serve(
    *tasks: Task[..., Any],
    limit: int | None = 10,
    timeout: float | None = None,
    lease_seconds: float = 30.0,
    grace_seconds: float = 30.0,
) -> None:
    """Run the background runs (`.delay()`) of `tasks` here until Ctrl-C or SIGTERM (or
    for `timeout` seconds), at most `limit` at once.

    Example:
        >>> @task
        ... def send_email(to: str) -> None: ...
        >>> serve(send_email)          # another process calls send_email.delay("ada@...")
    """
    worker = TaskWorker(
        *tasks, limit=limit, lease_seconds=lease_seconds, grace_seconds=grace_seconds
    )
    worker.start(timeout)


async def aserve(
    *tasks: Task[..., Any],
    limit: int | None = 10,
    timeout: float | None = None,
    lease_seconds: float = 30.0,
    grace_seconds: float = 30.0,
) -> None:
    """`serve` on the running event loop (stop it by cancelling, or `TaskWorker.stop`)."""
    worker = TaskWorker(
        *tasks, limit=limit, lease_seconds=lease_seconds, grace_seconds=grace_seconds
    )
    await worker.astart(timeout)

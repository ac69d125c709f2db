"""`Worker`: the worker of a work pool (`vibepiper worker start`).

It makes sure its pool (and the queues it was told to poll) exist, as Prefect's
worker does, then runs the shared claim/run/heartbeat loop (`base.RunLoop`) over the
pool until stopped, on the pool type's infrastructure: a subprocess per run for
`process` pools, a container per run for `docker` pools (`workers.docker`).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vibepiper.workers.base import MAX_BACKOFF_SECONDS, RunLoop, print_line

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient


def default_worker_name() -> str:
    return f"worker-{socket.gethostname()}-{os.getpid()}"


class Worker:
    """Runs the flow runs of one work pool, each in a subprocess or a container.

    `worker_type` None takes the pool's type (a pool created here is a process pool);
    given, it must match the pool's.
    """

    def __init__(
        self,
        client: SyncVibePiperClient,
        work_pool_name: str,
        *,
        worker_type: str | None = None,
        api_key: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        work_queue_names: Sequence[str] | None = None,
        run_once: bool = False,
        stop: threading.Event | None = None,
        echo: Callable[[str], None] = print_line,
    ) -> None:
        self.client = client
        self.type = worker_type or "process"
        self._asked_type = worker_type
        self.work_pool_name = work_pool_name
        self.work_queue_names = list(work_queue_names or [])
        self.name = name or default_worker_name()
        self.echo = echo
        self.loop = RunLoop(
            client,
            name=self.name,
            api_url=client.api_url,
            api_key=api_key,
            work_pool_name=work_pool_name,
            work_queue_names=self.work_queue_names,
            limit=limit,
            stop=stop,
            run_once=run_once,
            echo=echo,
        )

    def ensure_pool(self) -> None:
        """Create the pool (of this worker's type) and the named queues if they do not
        exist; an existing pool sets the worker's type."""
        from vibepiper.client.errors import ApiError
        from vibepiper.exceptions import ObjectNotFound
        from vibepiper.schemas.deployments import WorkPoolCreate, WorkQueueCreate

        try:
            pool = self.client.read_work_pool(self.work_pool_name)
        except ObjectNotFound:
            try:
                self.client.create_work_pool(
                    WorkPoolCreate(name=self.work_pool_name, type=self.type)  # type: ignore[arg-type]
                )
                self.echo(f"Created work pool {self.work_pool_name!r} (type {self.type})")
            except ApiError:
                pass  # another worker created it first
        else:
            if self._asked_type is not None and pool.type != self._asked_type:
                raise ValueError(
                    f"work pool {self.work_pool_name!r} is of type {pool.type!r}, "
                    f"not {self._asked_type!r}"
                )
            self.type = pool.type
        existing = {q.name for q in self.client.read_work_queues(self.work_pool_name)}
        for queue_name in self.work_queue_names:
            if queue_name not in existing:
                try:
                    self.client.create_work_queue(
                        self.work_pool_name, WorkQueueCreate(name=queue_name)
                    )
                    self.echo(f"Created work queue {queue_name!r} in pool {self.work_pool_name!r}")
                except ApiError:
                    pass

    def start(self) -> None:
        """Ensure the pool, then claim and run until stopped."""
        if not self._ensure_pool_patiently():
            return
        if self.type == "docker":
            from vibepiper.workers.docker.infrastructure import DockerInfrastructure

            infrastructure = DockerInfrastructure(
                self.client,
                echo=self.echo,
                pool=self.work_pool_name,
                held=self.loop.held_run_ids,
                grace=self.loop.cancel_grace,
            )
            infrastructure.open()  # InfrastructureUnavailable: no engine answers
            self.loop.infrastructure = infrastructure
        limit = self.loop.limit
        parts = [f"type {self.type}"] + ([f"limit {limit}"] if limit else [])
        self.echo(
            f"Worker {self.name!r} started with work pool {self.work_pool_name!r}"
            f" ({', '.join(parts)})"
        )
        started = self._emit("started")
        try:
            self.loop.run()
        finally:
            self._emit("stopped", started)
        self.echo(f"Worker {self.name!r} stopped")

    def _emit(self, what: str, follows: Any = None) -> Any:
        """`vibepiper.worker.started` / `.stopped` on the server (Prefect's worker events);
        a server that does not take it is no reason to stop (None then)."""
        from vibepiper.schemas.events import Event

        try:
            pool = self.client.read_work_pool(self.work_pool_name)
            event = Event.model_validate(
                {
                    "event": f"vibepiper.worker.{what}",
                    "resource": {
                        "vibepiper.resource.id": f"vibepiper.worker.{self.type}.{self.name}",
                        "vibepiper.resource.name": self.name,
                        "vibepiper.worker-type": self.type,
                    },
                    "related": [
                        {
                            "vibepiper.resource.id": f"vibepiper.work-pool.{pool.id}",
                            "vibepiper.resource.name": self.work_pool_name,
                            "vibepiper.resource.role": "work-pool",
                        }
                    ],
                    "follows": None if follows is None else follows.id,
                }
            )
            self.client.emit_events([event])
        except Exception:
            return None
        return event

    def _ensure_pool_patiently(self) -> bool:
        """`ensure_pool`, retried with backoff while the server is unreachable; False
        if the worker was stopped meanwhile."""
        from vibepiper.client.errors import ServerBusy, ServerUnreachable

        failures = 0
        while not self.loop.stop.is_set():
            try:
                self.ensure_pool()
            except (ServerUnreachable, ServerBusy) as exc:
                if failures == 0:
                    self.echo(f"Server unreachable ({exc}); retrying with backoff")
                failures += 1
                self.loop.stop.wait(min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 5)))
                continue
            if failures:
                self.echo("Server reachable again")
            return True
        return False


ProcessWorker = Worker
"""The name this class had while process pools were the only kind."""

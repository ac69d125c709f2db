"""`DaskTaskRunner`: task functions run on a Dask cluster's workers.

    from vibepiper.integrations.dask import DaskTaskRunner
    # or: from vibepiper.task_runners import DaskTaskRunner

Orchestration stays in the flow's process: each task run's engine loop (states,
retries, caching, hooks) runs on a local thread, and only the call of the task
function travels to the cluster, as one Dask task per attempt. A worker that dies
can therefore never lose a state change. Log records of `get_run_logger()` inside
the task are sent back with the result and stored for the right task run.

Timeouts: the task run ends TimedOut at its limit, and the Dask future is cancelled.
Dask cannot kill a running thread: the worker abandons the call (its thread slot is
free again at the limit) but the call's thread keeps running until it next executes
Python bytecode, where it is interrupted; a call stuck in C code (`time.sleep`, a
socket read) finishes that first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Self

from vibepiper.engine.remote_call import deliver, pack_call, run_packed_call
from vibepiper.engine.threads import DaemonThreadPool
from vibepiper.exceptions import TaskRunTimeoutError
from vibepiper.task_runners import TaskRunner
from vibepiper.telemetry import tracing

if TYPE_CHECKING:
    from vibepiper.context import TaskRunContext
    from vibepiper.engine.task_engine import Invoker

DEFAULT_CLUSTER_KWARGS: dict[str, Any] = {
    "n_workers": 2,
    "threads_per_worker": 1,
    "processes": True,
}


def _local_cluster_kwargs(overrides: dict[str, Any]) -> dict[str, Any]:
    """The default LocalCluster's keyword arguments, with the user's on top."""
    kwargs = {**DEFAULT_CLUSTER_KWARGS, **overrides}
    if "dashboard_address" not in overrides:
        # `dashboard_address=None` still binds the scheduler's HTTP server to port 8787
        # (and warns when a second cluster finds it taken): use any free port and no
        # dashboard instead.
        kwargs["dashboard_address"] = ":0"
        kwargs["scheduler_kwargs"] = {"dashboard": False, **overrides.get("scheduler_kwargs", {})}
    return kwargs


class DaskTaskRunner(TaskRunner):
    """Runs submitted task functions on a Dask cluster (Prefect-dask's parameters).

    Args:
        cluster_class: the cluster to start (a class, or its import path such as
            `"dask_jobqueue.SLURMCluster"`); default `distributed.LocalCluster`.
        cluster_kwargs: keyword arguments for `cluster_class`. The default local
            cluster has 2 worker processes with one thread each and no dashboard
            (pass `dashboard_address=":8787"` to get one).
        address: the address of a running scheduler to connect to instead of
            starting a cluster (e.g. `"tcp://10.0.0.5:8786"`).
        client_kwargs: extra keyword arguments for `distributed.Client`.
        adapt_kwargs: if given, `cluster.adapt(**adapt_kwargs)` makes a started
            cluster scale between `minimum` and `maximum` workers.

    The cluster is started (or the scheduler connected to) when the first task
    function is called, and closed at `shutdown()` (the end of the flow run) if this
    runner started it. Each flow run gets a copy of the runner, so a flow run with
    the default settings starts its own local cluster; pass `address=` to share one.
    """

    _transient = ("_threads", "_client", "_cluster")

    def __init__(
        self,
        cluster_class: type[Any] | str | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        address: str | None = None,
        client_kwargs: dict[str, Any] | None = None,
        adapt_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if address is not None and (cluster_class or cluster_kwargs or adapt_kwargs):
            raise ValueError(
                "Pass either address= (connect to a running scheduler) or "
                "cluster_class/cluster_kwargs/adapt_kwargs (start a cluster), not both."
            )
        self.cluster_class = cluster_class
        self.cluster_kwargs = dict(cluster_kwargs or {})
        self.address = address
        self.client_kwargs = dict(client_kwargs or {})
        self.adapt_kwargs = dict(adapt_kwargs or {})
        self._lock = threading.Lock()
        self._client_lock = threading.Lock()  # held while a cluster starts
        self._threads: DaemonThreadPool | None = None
        self._client: Any = None
        self._cluster: Any = None

    def duplicate(self) -> Self:
        return type(self)(
            cluster_class=self.cluster_class,
            cluster_kwargs=self.cluster_kwargs or None,
            address=self.address,
            client_kwargs=self.client_kwargs or None,
            adapt_kwargs=self.adapt_kwargs or None,
        )

    # --- the cluster ---------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The `distributed.Client` (connecting or starting the cluster if needed)."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._connect()
                client = self._client
        return client

    def _connect(self) -> Any:
        try:
            from distributed import Client
        except ImportError as exc:
            raise ImportError(
                "DaskTaskRunner needs dask.distributed: pip install 'vibepiper[dask]'"
            ) from exc

        client_kwargs = {"set_as_default": False, **self.client_kwargs}
        if self.address is not None:
            return Client(self.address, **client_kwargs)  # type: ignore[no-untyped-call]
        cluster = _cluster_class(self.cluster_class)(
            **_local_cluster_kwargs(self.cluster_kwargs)
            if self.cluster_class is None
            else self.cluster_kwargs
        )
        try:
            if self.adapt_kwargs:
                cluster.adapt(**self.adapt_kwargs)
            client = Client(cluster, **client_kwargs)  # type: ignore[no-untyped-call]
        except BaseException:
            cluster.close()
            raise
        self._cluster = cluster
        return client

    # --- the runner ----------------------------------------------------------------------
    @property
    def invoke(self) -> Invoker:  # type: ignore[override]
        return self._call

    def _call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        ctx: TaskRunContext,
    ) -> Any:
        payload = pack_call(fn, args, kwargs, ctx, deadline=timeout)
        # under the task run's span over there too, while tracing is on
        call, call_args = tracing.carry(run_packed_call, payload)
        future = self.client.submit(
            call, *call_args, pure=False, key=f"{ctx.task_run.name}-{uuid.uuid4().hex}"
        )
        try:
            answer = future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise TaskRunTimeoutError(
                f"Task run exceeded timeout of {timeout} second(s); its Dask task was"
                " cancelled (the worker thread may run on until the call returns)"
            ) from None
        finally:
            future.release()  # the answer is here: the cluster need not keep it
        return deliver(answer)

    def _execute(self, work: Callable[[], None]) -> None:
        threads = self._threads
        if threads is None:
            size = self._loops()  # connects first, outside `_lock` (shutdown's lock order)
            with self._lock:
                if self._threads is None:
                    self._threads = DaemonThreadPool(size, name="vibepiper-dask-task")
                threads = self._threads
        threads.submit(work)

    def _loops(self) -> int | None:
        """How many task runs may be in flight: twice the cluster's worker threads.

        Bounded so that task runs wait here, Pending, rather than in Dask's queue,
        Running: a task's timeout then times its call, not its wait for a worker.
        Unbounded for an adaptive or empty cluster, whose size is not known yet.
        """
        if self.adapt_kwargs:
            return None
        threads = sum(self.client.nthreads().values())
        return 2 * threads if threads > 0 else None

    def shutdown(self) -> None:
        with self._client_lock, self._lock:
            threads, client, cluster = self._threads, self._client, self._cluster
            self._threads = self._client = self._cluster = None
        if threads is not None:
            threads.shutdown()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __repr__(self) -> str:
        if self.address is not None:
            return f"DaskTaskRunner(address={self.address!r})"
        name = getattr(self.cluster_class, "__name__", self.cluster_class) or "LocalCluster"
        return f"DaskTaskRunner(cluster_class={name}, cluster_kwargs={self.cluster_kwargs})"


def _cluster_class(spec: type[Any] | str | None) -> Callable[..., Any]:
    if spec is None:
        from distributed import LocalCluster

        return LocalCluster  # type: ignore[no-any-return]
    if isinstance(spec, str):
        module, _, name = spec.rpartition(".")
        if not module:
            raise ValueError(f"cluster_class must be an import path like 'pkg.Class', got {spec!r}")
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    return spec


# --- a Dask client inside tasks and flows (prefect-dask's helpers) ---------------------------


def _client_kwargs(
    asynchronous: bool, timeout: float | str | dt.timedelta | None, user: dict[str, Any]
) -> dict[str, Any]:
    """Where `get_dask_client` connects: inside a task running on a Dask worker, that
    worker's scheduler; in a flow run on a `DaskTaskRunner`, the runner's cluster;
    anywhere else, a new local cluster (handy in tests)."""
    from distributed import get_worker

    from vibepiper.context import FlowRunContext

    kwargs: dict[str, Any] = {}
    address = None
    try:
        address = get_worker().scheduler.address
    except ValueError:  # not on a Dask worker
        flow_ctx = FlowRunContext.get()
        runner = flow_ctx.task_runner if flow_ctx is not None else None
        if isinstance(runner, DaskTaskRunner):
            kwargs.update(runner.client_kwargs)
            kwargs.pop("set_as_default", None)
            address = runner.client.scheduler.address
    kwargs["address"] = address
    kwargs["asynchronous"] = asynchronous
    if isinstance(timeout, dt.timedelta):
        timeout = timeout.total_seconds()
    if timeout is not None:
        kwargs["timeout"] = timeout
    kwargs.update(user)
    return kwargs


@contextlib.contextmanager
def get_dask_client(
    timeout: float | str | dt.timedelta | None = None, **client_kwargs: Any
) -> Iterator[Any]:
    """A `distributed.Client` on the cluster running the current task or flow, for the
    block (prefect-dask's `get_dask_client`): use it to compute Dask collections, or
    `client.submit` more work, from inside a task.

    Example:
        >>> @task
        ... def total(n: int) -> int:
        ...     with get_dask_client() as client:
        ...         return client.submit(sum, range(n)).result()
    """
    from distributed import Client

    with Client(**_client_kwargs(False, timeout, client_kwargs)) as client:  # type: ignore[no-untyped-call]
        yield client


@contextlib.asynccontextmanager
async def get_async_dask_client(
    timeout: float | str | dt.timedelta | None = None, **client_kwargs: Any
) -> AsyncIterator[Any]:
    """`get_dask_client` for async code: an asynchronous `distributed.Client`."""
    from distributed import Client

    async with Client(**_client_kwargs(True, timeout, client_kwargs)) as client:  # type: ignore[no-untyped-call]
        yield client


__all__ = ["DaskTaskRunner", "get_async_dask_client", "get_dask_client"]

"""`RayTaskRunner`: task functions run as Ray tasks.

    from vibepiper.integrations.ray import RayTaskRunner
    # or: from vibepiper.task_runners import RayTaskRunner

As with `DaskTaskRunner`, each task run's orchestration (states, retries, caching,
hooks) stays in the flow's process, on a local thread; each attempt's call of the
task function is one Ray task, and the log records it emits come back with its
result. A call past its `timeout_seconds` is cancelled with `ray.cancel(force=True)`,
which kills the Ray worker process running it (Ray starts a new one).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Self

from vibepiper.engine.remote_call import deliver, pack_call, run_packed_call
from vibepiper.engine.threads import DaemonThreadPool
from vibepiper.exceptions import TaskRunTimeoutError
from vibepiper.task_runners import TaskRunner
from vibepiper.telemetry import tracing

if TYPE_CHECKING:
    from vibepiper.context import TaskRunContext
    from vibepiper.engine.task_engine import Invoker

# A light local runtime: two CPUs, no dashboard, worker output not echoed here.
DEFAULT_INIT_KWARGS: dict[str, Any] = {
    "num_cpus": 2,
    "include_dashboard": False,
    "log_to_driver": False,
}


class RayTaskRunner(TaskRunner):
    """Runs submitted task functions as Ray tasks.

    Args:
        address: the Ray cluster to connect to (`"auto"`, `"ray://host:10001"`, ...).
            Without it, an already initialised Ray runtime is used, or a local one
            is started (2 CPUs, no dashboard).
        init_kwargs: extra keyword arguments for `ray.init` (they override the
            defaults above; e.g. `{"runtime_env": {...}}`).

    Ray is initialised when the first task function is called and shut down at
    `shutdown()` (the end of the flow run) only if this runner initialised it.
    """

    _transient = ("_threads", "_remote", "_traced", "_keeper")

    def __init__(self, address: str | None = None, init_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self._lock = threading.Lock()
        self._ray_lock = threading.Lock()  # held while Ray starts
        self._threads: DaemonThreadPool | None = None
        self._remote: Any = None
        self._traced: Any = None
        self._keeper: _RuntimeKeeper | None = None

    def duplicate(self) -> Self:
        return type(self)(address=self.address, init_kwargs=self.init_kwargs or None)

    def _ensure_ray(self) -> Any:
        remote = self._remote
        if remote is not None:
            return remote
        with self._ray_lock:
            if self._remote is None:
                try:
                    import ray
                except ImportError as exc:
                    raise ImportError(
                        "RayTaskRunner needs ray: pip install 'vibepiper[ray]'"
                    ) from exc
                if not ray.is_initialized():
                    self._keeper = _RuntimeKeeper(self._init_kwargs())
                # retries are the engine's: a failed call is never re-run by Ray
                self._remote = ray.remote(max_retries=0)(run_packed_call)
                # the same call under the task run's span (tracing on: `tracing.carry`)
                self._traced = ray.remote(max_retries=0)(tracing.in_trace)
            return self._remote

    def _init_kwargs(self) -> dict[str, Any]:
        if self.address is not None:
            return {"address": self.address, **self.init_kwargs}
        return {**DEFAULT_INIT_KWARGS, **self.init_kwargs}

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
        import ray
        from ray.exceptions import GetTimeoutError

        remote = self._ensure_ray()
        payload = pack_call(fn, args, kwargs, ctx)
        options = {**(_remote_options.get() or {}), "name": ctx.task_run.name}
        call, call_args = tracing.carry(run_packed_call, payload)
        if call is not run_packed_call:
            remote = self._traced
        ref = remote.options(**options).remote(*call_args)
        try:
            answer = ray.get(ref, timeout=timeout)
        except GetTimeoutError:
            ray.cancel(ref, force=True)
            raise TaskRunTimeoutError(
                f"Task run exceeded timeout of {timeout} second(s); its Ray worker was killed"
            ) from None
        return deliver(answer)

    def _execute(self, work: Callable[[], None]) -> None:
        with self._lock:
            if self._threads is None:
                self._threads = DaemonThreadPool(name="vibepiper-ray-task")
            threads = self._threads
        threads.submit(work)

    def shutdown(self) -> None:
        with self._ray_lock, self._lock:
            threads, keeper = self._threads, self._keeper
            self._threads, self._remote, self._traced, self._keeper = None, None, None, None
        if threads is not None:
            threads.shutdown()
        if keeper is not None:
            keeper.stop()

    def __repr__(self) -> str:
        return f"RayTaskRunner(address={self.address!r}, init_kwargs={self.init_kwargs})"


class _RuntimeKeeper:
    """Starts Ray on a thread of its own that lives until `stop()` shuts Ray down.

    Ray's local processes (GCS, raylet) die with the *thread* that started them (they
    are started with a parent-death signal), so Ray must not be started on a task
    thread that may exit while the runtime is still in use.
    """

    def __init__(self, init_kwargs: dict[str, Any]) -> None:
        self._stop = threading.Event()
        started = threading.Event()
        error: list[BaseException] = []

        def keep() -> None:
            import ray

            try:
                ray.init(**init_kwargs)
            except BaseException as exc:
                error.append(exc)
                return
            finally:
                started.set()
            self._stop.wait()
            ray.shutdown()

        self._thread = threading.Thread(target=keep, name="vibepiper-ray-runtime", daemon=True)
        self._thread.start()
        started.wait()
        if error:
            raise error[0]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


_remote_options: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "vibepiper_ray_remote_options", default=None
)


@contextlib.contextmanager
def remote_options(**options: Any) -> Iterator[dict[str, Any]]:
    """Ray options (`num_cpus`, `num_gpus`, `memory`, `resources`, ...) for the tasks
    submitted inside the block (prefect-ray's `remote_options`); blocks nest, inner
    options winning.

    Example:
        >>> with remote_options(num_cpus=2):
        ...     heavy.submit(data)
    """
    merged = {**(_remote_options.get() or {}), **options}
    token = _remote_options.set(merged)
    try:
        yield merged
    finally:
        _remote_options.reset(token)


def current_remote_options() -> dict[str, Any]:
    """The options of the enclosing `remote_options` blocks."""
    return dict(_remote_options.get() or {})


__all__ = ["RayTaskRunner", "current_remote_options", "remote_options"]

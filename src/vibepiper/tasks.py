"""Tasks: functions whose every call is a recorded, retriable, cacheable task run.

    @task(retries=3, retry_delay_seconds=[1, 2, 4])
    def extract(source: str) -> list[int]: ...

Calling a task runs it now and returns its value; `.submit()` runs it on the flow's
task runner and returns a future; `.map()` submits one run per item; `.delay()` queues
a run for a task worker (`.serve()`, `vibepiper task serve`) and returns a future.
"""

from __future__ import annotations

import copy
import datetime as dt
import inspect
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from vibepiper.cache_policies import CachePolicy, policy_for
from vibepiper.exceptions import (
    MappingLengthMismatch,
    MappingMissingIterable,
    ParameterBindError,
)
from vibepiper.futures import PrefectDistributedFuture, PrefectFuture, PrefectFutureList
from vibepiper.utilities import decorator_options
from vibepiper.utilities.annotations import quote, unmapped
from vibepiper.utilities.hashing import hash_objects

if TYPE_CHECKING:
    from vibepiper.context import TaskRunContext
    from vibepiper.states import State
    from vibepiper.task_runners import TaskRunner

P = ParamSpec("P")
R = TypeVar("R")
H = TypeVar("H", bound=Callable[..., Any])

_UNSET: Any = object()
_UNBOUND = decorator_options.UNBOUND


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Retry delays that double each time: `backoff_factor * 2**n` for retry n.

    Example:
        >>> @task(retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=10))
        ... def flaky(): ...   # waits 10, 20, 40 seconds
    """

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**n for n in range(retries)]

    return delays


def task_input_hash(context: TaskRunContext, arguments: dict[str, Any]) -> str | None:
    """A `cache_key_fn` keying on the task and its inputs (Prefect 2 style)."""
    fn = context.task.fn
    code = fn.__code__.co_code.hex() if hasattr(fn, "__code__") else repr(fn)
    return hash_objects(context.task.task_key, code, arguments)


def _signature_kinds(sig: inspect.Signature) -> bool:
    """True when every parameter may be passed by keyword (the fast call path)."""
    return all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in sig.parameters.values())


def _final_state(future: PrefectFuture[Any]) -> State[Any]:
    future.wait()
    return future.state


def bind_parameters(
    fn_name: str,
    sig: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    apply_defaults: bool = True,
) -> dict[str, Any]:
    """Map call arguments to parameter names (`*args` as a tuple, `**kwargs` as a dict)."""
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise ParameterBindError.from_bind_failure(
            fn_name, exc, args, kwargs, signature=sig
        ) from None
    if apply_defaults:
        bound.apply_defaults()
    return bound.arguments


def parameters_to_call(
    sig: inspect.Signature, parameters: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Turn a parameter dict back into positional and keyword arguments."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional = True
    for name, param in sig.parameters.items():
        kind = param.kind
        if kind is param.VAR_POSITIONAL:
            values = parameters.get(name, ())
            if values and not positional:
                raise ParameterBindError(f"Cannot pass *{name} after a skipped positional argument")
            args.extend(values)
        elif kind is param.VAR_KEYWORD:
            kwargs.update(parameters.get(name, {}))
        elif name not in parameters:
            positional = False
        elif kind is param.KEYWORD_ONLY or (kind is param.POSITIONAL_OR_KEYWORD and not positional):
            kwargs[name] = parameters[name]
        else:
            args.append(parameters[name])
    return tuple(args), kwargs


def _is_mappable(value: Any) -> bool:
    if isinstance(value, str | bytes | dict | unmapped | quote):
        return False
    return hasattr(value, "__iter__")


class Task(Generic[P, R]):
    """A function whose calls are task runs. Built by the `@task` decorator."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        cache_policy: CachePolicy | None = _UNSET,
        cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str | None] | None = None,
        cache_expiration: dt.timedelta | None = None,
        task_run_name: str | Callable[..., str] | None = None,
        retries: int | None = None,
        retry_delay_seconds: float | list[float] | Callable[[int], list[float]] | None = None,
        retry_jitter_factor: float | None = None,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
        result_storage_key: str | None = None,
        cache_result_in_memory: bool = True,
        timeout_seconds: float | None = None,
        log_prints: bool | None = None,
        refresh_cache: bool | None = None,
        on_completion: Iterable[Callable[..., Any]] | None = None,
        on_failure: Iterable[Callable[..., Any]] | None = None,
        on_running: Iterable[Callable[..., Any]] | None = None,
        on_crashed: Iterable[Callable[..., Any]] | None = None,
        on_cancellation: Iterable[Callable[..., Any]] | None = None,
        on_commit: Iterable[Callable[..., Any]] | None = None,
        on_rollback: Iterable[Callable[..., Any]] | None = None,
        retry_condition_fn: Callable[..., bool] | None = None,
        viz_return_value: Any = None,
        isolation_level: Any = None,
        asset_deps: Iterable[Any] | None = None,
    ) -> None:
        checks = decorator_options
        decorated = fn
        fn, self._method_kind = checks.unwrap_method(fn)
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {type(fn).__name__}")
        checks.check_name("task", name)
        checks.check_run_name("task_run_name", task_run_name)
        checks.check_retry_delay_seconds(retry_delay_seconds, allow_list=True)
        checks.check_retry_condition_fn(retry_condition_fn)
        hooks = checks.check_hooks(
            "task",
            {
                "on_completion": on_completion,
                "on_failure": on_failure,
                "on_running": on_running,
                "on_crashed": on_crashed,
                "on_cancellation": on_cancellation,
                "on_commit": on_commit,
                "on_rollback": on_rollback,
            },
        )
        # what a method's task is bound to (its instance or class); see __get__
        self._bound_to: Any = checks.UNBOUND
        self._decorated = decorated
        if retries is not None and retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        if retry_jitter_factor is not None and retry_jitter_factor < 0:
            raise ValueError(f"retry_jitter_factor must be 0 or more, got {retry_jitter_factor}")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", type(fn).__name__))
        self.description = description or inspect.getdoc(fn)
        self.tags: frozenset[str] = frozenset(tags or ())
        self.version = version
        self.isasync = inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        # calling a generator task gives its items (see vibepiper.engine.generators)
        self.isgenerator = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
        from vibepiper.engine.entrypoints import function_key

        # the same whether the script runs directly or is loaded again for a retry
        self.task_key = function_key(fn)
        self.cache_policy = None if cache_policy is _UNSET else cache_policy
        self.cache_key_fn = cache_key_fn
        self.cache_expiration = cache_expiration
        self.refresh_cache = bool(refresh_cache)
        # Caching is on when asked for: an explicit policy or key function.
        self.cache_policy_in_use = policy_for(self.cache_policy, cache_key_fn)
        self.task_run_name = task_run_name
        self.retries = retries or 0
        if callable(retry_delay_seconds):
            retry_delay_seconds = retry_delay_seconds(self.retries)
        self.retry_delay_seconds = retry_delay_seconds
        self.retry_jitter_factor = retry_jitter_factor
        # as in Prefect, asking for a storage, serializer, key or cache persists results
        # unless persist_result=False
        asks_to_store = (result_storage, result_serializer, result_storage_key)
        if persist_result is None and (
            any(option is not None for option in asks_to_store)
            or self.cache_policy_in_use is not None
        ):
            persist_result = True
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.result_storage_key = result_storage_key
        self.cache_result_in_memory = cache_result_in_memory
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        self.on_completion_hooks = hooks["on_completion"]
        self.on_failure_hooks = hooks["on_failure"]
        self.on_running_hooks = hooks["on_running"]
        self.on_crashed_hooks = hooks["on_crashed"]
        self.on_cancellation_hooks = hooks["on_cancellation"]
        # transaction hooks: fn(transaction) when the task's transaction commits or rolls back
        self.on_commit_hooks = hooks["on_commit"]
        self.on_rollback_hooks = hooks["on_rollback"]
        self.retry_condition_fn = retry_condition_fn
        self.viz_return_value = viz_return_value
        self.isolation_level = isolation_level
        # assets this task reads (`vibepiper.assets`); None: the engine skips its asset hook
        self.asset_deps: list[Any] | None = None
        if asset_deps is not None:
            from vibepiper.assets.core import as_assets

            self.asset_deps = as_assets(asset_deps, "asset_deps") or None
        self._signature = inspect.signature(fn)
        self._keyword_call = _signature_kinds(self._signature)
        self._options = {
            "name": name,
            "description": description,
            "tags": tags,
            "version": version,
            "cache_policy": cache_policy,
            "cache_key_fn": cache_key_fn,
            "cache_expiration": cache_expiration,
            "task_run_name": task_run_name,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
            "retry_jitter_factor": retry_jitter_factor,
            "persist_result": persist_result,
            "result_storage": result_storage,
            "result_serializer": result_serializer,
            "result_storage_key": result_storage_key,
            "cache_result_in_memory": cache_result_in_memory,
            "timeout_seconds": timeout_seconds,
            "log_prints": log_prints,
            "refresh_cache": refresh_cache,
            "on_completion": on_completion,
            "on_failure": on_failure,
            "on_running": on_running,
            "on_crashed": on_crashed,
            "on_cancellation": on_cancellation,
            "on_commit": on_commit,
            "on_rollback": on_rollback,
            "retry_condition_fn": retry_condition_fn,
            "viz_return_value": viz_return_value,
            "isolation_level": isolation_level,
            "asset_deps": asset_deps,
        }
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = self.name
        self.__wrapped__ = fn

    # --- configuration ---------------------------------------------------------------
    def with_options(self, **options: Any) -> Task[P, R]:
        """A copy of this task with some options changed (same function)."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise TypeError(f"with_options() got unknown option(s): {', '.join(sorted(unknown))}")
        changed = Task(
            self._decorated, **decorator_options.with_options(self, self._options, options)
        )
        changed._bound_to = self._bound_to
        return changed

    # --- hooks as decorators: `@my_task.on_failure` -------------------------------------
    def on_completion(self, fn: H) -> H:
        """Register `fn(task, task_run, state)` to run when a run completes."""
        self.on_completion_hooks.append(fn)
        return fn

    def on_failure(self, fn: H) -> H:
        """Register `fn(task, task_run, state)` to run when a run fails."""
        self.on_failure_hooks.append(fn)
        return fn

    def on_running(self, fn: H) -> H:
        """Register `fn(task, task_run, state)` to run when a run starts running."""
        self.on_running_hooks.append(fn)
        return fn

    def on_crashed(self, fn: H) -> H:
        """Register `fn(task, task_run, state)` to run when a run crashes."""
        self.on_crashed_hooks.append(fn)
        return fn

    def on_cancellation(self, fn: H) -> H:
        """Register `fn(task, task_run, state)` to run when a run is cancelled."""
        self.on_cancellation_hooks.append(fn)
        return fn

    def on_commit(self, fn: H) -> H:
        """Register `fn(transaction)` to run when the transaction of a run commits."""
        self.on_commit_hooks.append(fn)
        return fn

    def on_rollback(self, fn: H) -> H:
        """Register `fn(transaction)` to run when the transaction of a completed run rolls
        back (a later task of the same `transaction()` block failed)."""
        self.on_rollback_hooks.append(fn)
        return fn

    on_completion_hook = on_completion  # the spelling before Prefect's names
    on_failure_hook = on_failure

    # --- binding ----------------------------------------------------------------------
    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Map call arguments to this task's parameter names (a method's `self` or
        `cls` included)."""
        if self._bound_to is not _UNBOUND:
            args = (self._bound_to, *args)
        return bind_parameters(
            getattr(self.fn, "__name__", self.name), self._signature, args, kwargs
        )

    def call_arguments(self, parameters: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments to call the function with `parameters`."""
        if self._keyword_call:
            return (), parameters
        return parameters_to_call(self._signature, parameters)

    def _check_wait_for(self, wait_for: Any) -> None:
        """A task cannot wait for itself: it would never start."""
        items = wait_for if isinstance(wait_for, list | tuple | set) else [wait_for]
        if any(item is self or (isinstance(item, Task) and item.fn is self.fn) for item in items):
            raise ValueError(
                f"wait_for of task {self.name!r} contains the task itself; a task run cannot "
                "wait for itself (pass the futures of other task runs)"
            )

    def render_run_name(self, parameters: dict[str, Any]) -> str:
        """The run name from `task_run_name` (a template over the parameters, or a callable)."""
        from vibepiper.engine.names import render_run_name

        template = self.task_run_name
        assert template is not None
        return render_run_name(template, parameters, "task_run_name", f"task {self.name!r}")

    # --- running ----------------------------------------------------------------------
    @overload
    def __call__(
        self: Task[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, R]: ...
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task now and return its value (its final State with `return_state=True`)."""
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        if wait_for is not None:
            self._check_wait_for(wait_for)
        parameters = self.bind(args, kwargs)
        if self.isgenerator:
            if self.isasync:
                return self._run_async_generator(parameters, wait_for, return_state)
            return self._run_generator(parameters, wait_for, return_state)
        if self.isasync:
            # like the function itself: calling it gives a coroutine to await
            return self._run_async(parameters, wait_for, return_state)
        from vibepiper.engine.task_engine import run_task_sync

        engine = self._engine(parameters, wait_for)
        engine.create()
        state = run_task_sync(engine)
        return state if return_state else state.result(_sync=True)

    def _engine(self, parameters: dict[str, Any], wait_for: Any) -> Any:
        from vibepiper.context import FlowRunContext
        from vibepiper.engine.task_engine import TaskRunEngine
        from vibepiper.store import get_store

        flow_ctx = FlowRunContext.get()
        store = flow_ctx.store if flow_ctx is not None else get_store()
        return TaskRunEngine(self, parameters, wait_for, flow_ctx, store)

    async def _run_async(
        self, parameters: dict[str, Any], wait_for: Any, return_state: bool
    ) -> Any:
        from vibepiper.engine.task_engine import run_task_async

        engine = self._engine(parameters, wait_for)
        engine.create()
        state = await run_task_async(engine)
        return state if return_state else state.result(_sync=True)

    def _run_generator(self, parameters: dict[str, Any], wait_for: Any, return_state: bool) -> Any:
        from vibepiper.engine.generators import RETURN_STATE_REFUSED, drive_generator_sync

        if return_state:  # raised when read, as Prefect does
            raise ValueError(RETURN_STATE_REFUSED)
        engine = self._engine(parameters, wait_for)
        engine.create()
        return (yield from drive_generator_sync(engine))

    async def _run_async_generator(
        self, parameters: dict[str, Any], wait_for: Any, return_state: bool
    ) -> Any:
        from vibepiper.engine.generators import RETURN_STATE_REFUSED, drive_generator_async

        if return_state:
            raise ValueError(RETURN_STATE_REFUSED)
        engine = self._engine(parameters, wait_for)
        engine.create()
        async for item in drive_generator_async(engine):
            yield item

    def submit(self, *args: Any, **kwargs: Any) -> PrefectFuture[R]:
        """Run the task on the flow's task runner; returns a future at once."""
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        if wait_for is not None:
            self._check_wait_for(wait_for)
        parameters = self.bind(args, kwargs)
        future = _current_runner().submit(self, parameters, wait_for)
        if return_state:
            future.wait()
            return future.state  # type: ignore[return-value]
        return future

    def map(self, *args: Any, **kwargs: Any) -> PrefectFutureList[R]:
        """Submit one task run per item of the iterable arguments.

        Iterables are zipped (they must have equal lengths); wrap an iterable in
        `unmapped(...)` to pass it whole to every run.
        """
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        if wait_for is not None:
            self._check_wait_for(wait_for)
        kwargs.pop("deferred", None)
        bound = self._bound_to is not _UNBOUND
        if bound:
            args = (self._bound_to, *args)
        parameters = bind_parameters(
            getattr(self.fn, "__name__", self.name),
            self._signature,
            args,
            kwargs,
            apply_defaults=False,
        )
        iterables: dict[str, list[Any]] = {}
        static: dict[str, Any] = {}
        for name, value in parameters.items():
            if bound:  # the method's `self` or `cls` goes to every run as it is
                static[name] = value
                bound = False
                continue
            if isinstance(value, PrefectFuture):
                value = value.result()
            if isinstance(value, unmapped):
                static[name] = value.value
            elif _is_mappable(value):
                iterables[name] = list(value)
            else:
                static[name] = value
        if not iterables:
            raise MappingMissingIterable(
                f"Task {self.name!r}.map() got no iterable argument to map over: "
                f"pass a list (or another iterable) for at least one of {sorted(parameters)}"
            )
        lengths = {name: len(values) for name, values in iterables.items()}
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
            raise MappingLengthMismatch(
                f"Task {self.name!r}.map() got iterables of different lengths: {detail}"
            )
        count = next(iter(lengths.values()))
        calls = [
            {**static, **{name: values[i] for name, values in iterables.items()}}
            for i in range(count)
        ]
        futures = _current_runner().map(self, calls, wait_for)
        if return_state:  # as in Prefect: each run's final state, in order
            return [_final_state(future) for future in futures]  # type: ignore[return-value]
        return futures

    # --- background runs (a task worker runs them) --------------------------------------
    def delay(self, *args: P.args, **kwargs: P.kwargs) -> PrefectDistributedFuture[R]:
        """Queue a run of this task for a task worker (`task.serve()`, `vibepiper task
        serve`) and return at once; the same as `apply_async(args, kwargs)`.

        Example:
            >>> future = send_email.delay("ada@example.com")
            >>> future.result(timeout=60)
        """
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        wait_for: Iterable[PrefectFuture[Any]] | None = None,
    ) -> PrefectDistributedFuture[R]:
        """Queue a run of this task (recorded Scheduled) for a task worker.

        The run waits for the runs of `wait_for` first. Its arguments must be picklable
        (the error names one that is not); its result is always persisted, so the
        returned future reads it back from any process. Works with a server
        (`VIBEPIPER_API_URL`) or without one (the queue is then in the embedded
        database, shared with task workers using the same `VIBEPIPER_HOME`).
        """
        from vibepiper.engine.background import submit_background_run

        if wait_for is not None:
            self._check_wait_for(wait_for)
        parameters = self.bind(tuple(args or ()), dict(kwargs or {}))
        return submit_background_run(self, parameters, wait_for)

    def serve(self, *, limit: int | None = 10, timeout: float | None = None) -> None:
        """Run this task's background runs (`.delay()`) here until stopped (Ctrl-C,
        SIGTERM): the same as `vibepiper.task_worker.serve(self)`."""
        from vibepiper.task_worker import serve

        serve(self, limit=limit, timeout=timeout)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """A task on a class is a method: read from an instance (or, for a classmethod,
        from the class) it is a copy bound to it, whose calls, `.submit` and `.map`
        pass it as the first argument (as in Prefect)."""
        target = decorator_options.binding_target(self._method_kind, instance, owner)
        if target is _UNBOUND:
            return self
        bound = copy.copy(self)
        bound._bound_to = target
        return bound


_fallback_runner: TaskRunner | None = None


def _current_runner() -> TaskRunner:
    """The task runner of the current flow run, or a shared one outside flows."""
    from vibepiper.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None:
        return ctx.task_runner
    global _fallback_runner
    if _fallback_runner is None:
        from vibepiper.task_runners import ThreadPoolTaskRunner

        _fallback_runner = ThreadPoolTaskRunner()
    return _fallback_runner


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...
@overload
def task(__fn: None = None, **kwargs: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(__fn: Callable[P, R] | None = None, **kwargs: Any) -> Any:
    """Turn a function into a task.

    Example:
        >>> @task(retries=2, retry_delay_seconds=1)
        ... def fetch(url: str) -> bytes: ...
    """
    if __fn is not None:
        return Task(__fn, **kwargs)

    def decorator(fn: Callable[P, R]) -> Task[P, R]:
        return Task(fn, **kwargs)

    return decorator


__all__ = ["Task", "exponential_backoff", "task", "task_input_hash"]

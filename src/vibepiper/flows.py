"""Flows: functions whose every call is a recorded flow run.

    @flow(retries=1, log_prints=True)
    def etl(sources: list[str]) -> int: ...

Calling a flow runs it and returns its value (a coroutine for an async flow). A
flow called inside another flow is a subflow: a child run linked to its parent.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os
import uuid
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from vibepiper.engine.parameters import Validator, build_validator
from vibepiper.task_runners import TaskRunner, ThreadPoolTaskRunner
from vibepiper.tasks import bind_parameters, parameters_to_call
from vibepiper.utilities import decorator_options

if TYPE_CHECKING:
    from vibepiper.deployments import aserve as aserve
    from vibepiper.deployments import serve as serve
    from vibepiper.deployments.runner import RunnerDeployment
    from vibepiper.docker import DockerImage
    from vibepiper.runner.storage import RunnerStorage

P = ParamSpec("P")
R = TypeVar("R")
H = TypeVar("H", bound=Callable[..., Any])


class Flow(Generic[P, R]):
    """A function whose calls are flow runs. Built by the `@flow` decorator."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        version: str | None = None,
        flow_run_name: str | Callable[..., str] | None = None,
        retries: int | None = None,
        retry_delay_seconds: float | None = None,
        task_runner: TaskRunner | type[TaskRunner] | None = None,
        description: str | None = None,
        timeout_seconds: float | None = None,
        validate_parameters: bool = True,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
        cache_result_in_memory: bool = True,
        log_prints: bool | None = None,
        on_completion: Iterable[Callable[..., Any]] | None = None,
        on_failure: Iterable[Callable[..., Any]] | None = None,
        on_cancellation: Iterable[Callable[..., Any]] | None = None,
        on_crashed: Iterable[Callable[..., Any]] | None = None,
        on_running: Iterable[Callable[..., Any]] | None = None,
    ) -> None:
        checks = decorator_options
        decorated = fn
        fn, self._method_kind = checks.unwrap_method(fn)
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {type(fn).__name__}")
        checks.check_name("flow", name)
        checks.check_run_name("flow_run_name", flow_run_name)
        checks.check_retry_delay_seconds(retry_delay_seconds, allow_list=False)
        hooks = checks.check_hooks(
            "flow",
            {
                "on_completion": on_completion,
                "on_failure": on_failure,
                "on_cancellation": on_cancellation,
                "on_crashed": on_crashed,
                "on_running": on_running,
            },
        )
        # what a method's flow is bound to (its instance or class); see __get__
        self._bound_to: Any = checks.UNBOUND
        self._decorated = decorated
        if retries is not None and retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be positive, got {timeout_seconds}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "flow").replace("_", "-")
        self.version = version
        self.flow_run_name = flow_run_name
        self.retries = retries or 0
        self.retry_delay_seconds = retry_delay_seconds or 0
        if isinstance(task_runner, type):
            task_runner = task_runner()
        self.task_runner: TaskRunner = task_runner or ThreadPoolTaskRunner()
        self.description = description or inspect.getdoc(fn)
        self.timeout_seconds = timeout_seconds
        self.should_validate_parameters = validate_parameters
        if persist_result is None and (result_storage is not None or result_serializer is not None):
            persist_result = True  # as in Prefect: a storage or serializer asks to persist
        self.persist_result = persist_result
        self.result_storage = result_storage
        self.result_serializer = result_serializer
        self.cache_result_in_memory = cache_result_in_memory
        self.log_prints = log_prints
        self.on_completion_hooks = hooks["on_completion"]
        self.on_failure_hooks = hooks["on_failure"]
        self.on_cancellation_hooks = hooks["on_cancellation"]
        self.on_crashed_hooks = hooks["on_crashed"]
        self.on_running_hooks = hooks["on_running"]
        self.isasync = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        self._validator: Validator | bool | None = False  # False: not built yet
        self._options: dict[str, Any] = {
            "name": name,
            "version": version,
            "flow_run_name": flow_run_name,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
            "task_runner": task_runner,
            "description": description,
            "timeout_seconds": timeout_seconds,
            "validate_parameters": validate_parameters,
            "persist_result": persist_result,
            "result_storage": result_storage,
            "result_serializer": result_serializer,
            "cache_result_in_memory": cache_result_in_memory,
            "log_prints": log_prints,
            "on_completion": on_completion,
            "on_failure": on_failure,
            "on_cancellation": on_cancellation,
            "on_crashed": on_crashed,
            "on_running": on_running,
        }
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__name__ = getattr(fn, "__name__", self.name)
        self.__wrapped__ = fn
        # where `from_source` loaded it from (a deployments.source.SourceOrigin)
        self._deployment_origin: Any = None

    @functools.cached_property
    def entrypoint(self) -> str | None:
        """`path/file.py:function` or `module:function`: how to load this flow again."""
        from vibepiper.engine.entrypoints import entrypoint_of

        return entrypoint_of(self.fn)

    def with_options(self, **options: Any) -> Flow[P, R]:
        """A copy of this flow with some options changed (same function)."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise TypeError(f"with_options() got unknown option(s): {', '.join(sorted(unknown))}")
        changed = Flow(
            self._decorated, **decorator_options.with_options(self, self._options, options)
        )
        changed._deployment_origin = self._deployment_origin
        changed._bound_to = self._bound_to
        return changed

    # --- hooks as decorators: `@my_flow.on_failure` -------------------------------------
    def on_completion(self, fn: H) -> H:
        """Register `fn(flow, flow_run, state)` to run when a run completes."""
        self.on_completion_hooks.append(fn)
        return fn

    def on_failure(self, fn: H) -> H:
        """Register `fn(flow, flow_run, state)` to run when a run fails."""
        self.on_failure_hooks.append(fn)
        return fn

    def on_cancellation(self, fn: H) -> H:
        """Register `fn(flow, flow_run, state)` to run when a run is cancelled."""
        self.on_cancellation_hooks.append(fn)
        return fn

    def on_crashed(self, fn: H) -> H:
        """Register `fn(flow, flow_run, state)` to run when a run crashes."""
        self.on_crashed_hooks.append(fn)
        return fn

    def on_running(self, fn: H) -> H:
        """Register `fn(flow, flow_run, state)` to run when a run starts running."""
        self.on_running_hooks.append(fn)
        return fn

    # --- methods --------------------------------------------------------------------------
    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """A flow on a class is a method: read from an instance (or, for a classmethod,
        from the class) it is a copy bound to it, which passes it as the first argument
        (as in Prefect). That argument is not recorded among the run's parameters."""
        target = decorator_options.binding_target(self._method_kind, instance, owner)
        if target is decorator_options.UNBOUND:
            return self
        bound = copy.copy(self)
        bound._bound_to = target
        return bound

    def recorded_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """The parameters a run records: without a bound method's `self` or `cls`."""
        if self._bound_to is decorator_options.UNBOUND:
            return dict(parameters)
        name = decorator_options.first_parameter(self.fn)
        return {key: value for key, value in parameters.items() if key != name}

    # --- parameters --------------------------------------------------------------------
    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Map call arguments to parameter names (ParameterBindError if they don't fit);
        a bound method's `self` or `cls` comes first."""
        if self._bound_to is not decorator_options.UNBOUND:
            args = (self._bound_to, *args)
        # errors name the function, as Prefect's do
        return bind_parameters(
            getattr(self.fn, "__name__", self.name), self._signature, args, kwargs
        )

    def validate_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Coerce `parameters` to the type hints (ParameterTypeError naming bad fields)."""
        if not self.should_validate_parameters:
            return parameters
        if self._validator is False:
            self._validator = build_validator(self.fn, self.name)
        validator = self._validator
        return validator(parameters) if callable(validator) else parameters

    def call_arguments(self, parameters: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return parameters_to_call(self._signature, parameters)

    def parameter_schema(self) -> dict[str, Any]:
        """The JSON schema of this flow's parameters."""
        from vibepiper.engine.parameters import parameter_schema

        return parameter_schema(self.fn)

    def render_run_name(self, parameters: dict[str, Any]) -> str:
        """The run name from `flow_run_name` (a template over the parameters, or a callable)."""
        from vibepiper.engine.names import render_run_name

        template = self.flow_run_name
        assert template is not None
        return render_run_name(template, parameters, "flow_run_name", f"flow {self.name!r}")

    # --- running -----------------------------------------------------------------------
    @overload
    def __call__(
        self: Flow[P, Coroutine[Any, Any, R]], *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, R]: ...
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the flow and return its value (its final State with `return_state=True`)."""
        return_state = kwargs.pop("return_state", False)
        wait_for = kwargs.pop("wait_for", None)
        parameters = self.bind(args, kwargs)
        from vibepiper.engine.flow_engine import FlowRunEngine

        engine = FlowRunEngine(self, parameters, wait_for)
        engine.create()
        if self.isasync:
            return _run_async(engine, return_state)
        from vibepiper.engine.flow_engine import run_flow_sync

        state = run_flow_sync(engine)
        return state if return_state else engine.result()

    # --- deployments (vibepiper.deployments; imported when used) ----------------------
    def to_deployment(
        self, name: str | None = None, *, _sync: bool | None = None, **options: Any
    ) -> RunnerDeployment:
        """A deployment of this flow, for `serve(...)` or `deploy(...)`.

        Options: `cron`, `interval`, `rrule`, `schedule`, `schedules`, `parameters`, `tags`,
        `description`, `version`, `paused`, `concurrency_limit`,
        `enforce_parameter_schema`, `work_pool_name`, `work_queue_name`, `job_variables`,
        `triggers` (`DeploymentEventTrigger(...)`, ...: automations that run the
        deployment, replaced each time it is registered).

        As in Prefect, in async code this returns a coroutine (see `ato_deployment`).
        """
        if not _run_sync(_sync):
            return self.ato_deployment(name, **options)  # type: ignore[return-value]
        from vibepiper.deployments.runner import RunnerDeployment

        return RunnerDeployment.from_flow(self, name, **options)

    async def ato_deployment(self, name: str | None = None, **options: Any) -> RunnerDeployment:
        """`to_deployment` to await (the flow's source is read in a thread)."""
        import asyncio

        return await asyncio.to_thread(lambda: self.to_deployment(name, _sync=True, **options))

    def serve(
        self,
        name: str | None = None,
        *,
        limit: int | None = None,
        pause_on_shutdown: bool = True,
        print_starting_message: bool = True,
        **options: Any,
    ) -> None:
        """Register this flow as deployment `name` (default: the flow's name) and run its
        scheduled and triggered runs in this process until interrupted.

        Example:
            >>> etl.serve(name="nightly", cron="0 6 * * *", parameters={"day": "today"})
        """
        from vibepiper.deployments.serve import serve

        serve(
            self.to_deployment(name, **options),
            limit=limit,
            pause_on_shutdown=pause_on_shutdown,
            print_starting_message=print_starting_message,
        )

    def deploy(
        self,
        name: str,
        work_pool_name: str | None = None,
        *,
        image: str | DockerImage | None = None,
        build: bool = True,
        push: bool = True,
        print_next_steps: bool = True,
        **options: Any,
    ) -> uuid.UUID:
        """Register this flow as deployment `name` in a work pool, for workers to run;
        the deployment's id.

        `image` (a `docker` pool): the image its runs start in; with `build` it is built
        from the project directory first (`vibepiper.docker.DockerImage` says how), with
        `push` pushed to its registry (`localhost/` images are not).
        """
        from vibepiper.deployments.serve import deploy

        deployment = self.to_deployment(name, work_pool_name=work_pool_name, **options)
        return deploy(
            deployment, image=image, build=build, push=push, print_next_steps=print_next_steps
        )[0]

    @classmethod
    def from_source(
        cls,
        source: str | os.PathLike[str] | RunnerStorage,
        entrypoint: str,
        *,
        branch: str | None = None,
        _sync: bool | None = None,
    ) -> Flow[Any, Any]:
        """The flow `entrypoint` (`path/file.py:function`) names in `source`: a directory,
        a git URL (cloned with `git`), or a `GitRepository` / `LocalStorage` from
        `vibepiper.runner.storage`. Its deployments record where the code lives.

        As in Prefect, in async code this returns a coroutine (see `afrom_source`).
        """
        if not _run_sync(_sync):
            return cls.afrom_source(source, entrypoint, branch=branch)  # type: ignore[return-value]
        from vibepiper.deployments.source import load_flow_from_source

        return load_flow_from_source(source, entrypoint, branch=branch)

    @classmethod
    async def afrom_source(
        cls,
        source: str | os.PathLike[str] | RunnerStorage,
        entrypoint: str,
        *,
        branch: str | None = None,
    ) -> Flow[Any, Any]:
        """`from_source` to await (the clone and the import run in a thread)."""
        import asyncio

        from vibepiper.deployments.source import load_flow_from_source

        return await asyncio.to_thread(load_flow_from_source, source, entrypoint, branch=branch)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"


def _run_sync(forced: bool | None) -> bool:
    """Prefect's dispatch of a method with an async twin: sync unless in async code."""
    if forced is not None:
        return forced
    from vibepiper.states import _in_async_context

    return not _in_async_context()


async def _run_async(engine: Any, return_state: bool) -> Any:
    from vibepiper.engine.flow_engine import run_flow_async

    state = await run_flow_async(engine)
    return state if return_state else engine.result()


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...
@overload
def flow(__fn: None = None, **kwargs: Any) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(__fn: Callable[P, R] | None = None, **kwargs: Any) -> Any:
    """Turn a function into a flow.

    Example:
        >>> @flow(log_prints=True)
        ... def hello(name: str = "world"):
        ...     print(f"hello {name}")
        >>> hello()
    """
    if __fn is not None:
        return Flow(__fn, **kwargs)

    def decorator(fn: Callable[P, R]) -> Flow[P, R]:
        return Flow(fn, **kwargs)

    return decorator


# --- loading flows from entrypoints (Prefect's helpers; see vibepiper.deployments.loading) --


def load_flow_from_entrypoint(entrypoint: str, use_placeholder_flow: bool = True) -> Flow[..., Any]:
    """The flow `entrypoint` names (`path/file.py:function`, `path/file.py:Class.method`
    or `package.module.function`), importing its script or module (its `__main__`
    block does not run). Raises ScriptError when the import raised (unless the flow can
    still be read from source and `use_placeholder_flow`), MissingFlowError when it
    names nothing or no flow."""
    from vibepiper.deployments import loading

    return loading.load_flow_from_entrypoint(entrypoint, use_placeholder_flow)


def safe_load_flow_from_entrypoint(entrypoint: str) -> Flow[..., Any] | None:
    """The flow `entrypoint` names, read from source without importing the module as a
    whole (statements that fail, such as missing imports, are skipped); None if it
    cannot be."""
    from vibepiper.deployments import loading

    return loading.safe_load_flow_from_entrypoint(entrypoint)


def load_flow_arguments_from_entrypoint(
    entrypoint: str, arguments: list[str] | set[str] | None = None
) -> dict[str, Any]:
    """The `@flow(...)` options of the entrypoint's function, read from its source (by
    default those of built-in types; `name` falls back to the function's name)."""
    from vibepiper.deployments import loading

    return loading.load_flow_arguments_from_entrypoint(entrypoint, arguments)


def load_function_and_convert_to_flow(entrypoint: str) -> Flow[..., Any]:
    """The flow `entrypoint` names; a plain function is made a flow (`log_prints=True`)."""
    from vibepiper.deployments import loading

    return loading.load_function_and_convert_to_flow(entrypoint)


def __getattr__(name: str) -> Any:
    # Prefect's `prefect.flows.serve` / `aserve`, loaded on first use like the top level's
    if name in ("serve", "aserve"):
        import vibepiper.deployments as deployments

        return getattr(deployments, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Flow",
    "aserve",
    "flow",
    "load_flow_arguments_from_entrypoint",
    "load_flow_from_entrypoint",
    "load_function_and_convert_to_flow",
    "safe_load_flow_from_entrypoint",
    "serve",
]

"""OpenTelemetry spans for flow and task runs.

Off unless asked for. At the first run of a process, the standard OpenTelemetry
variables are read, once: with `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT` set (and neither `OTEL_SDK_DISABLED=true` nor
`OTEL_TRACES_EXPORTER=none`), every flow run and task run becomes a span exported over
OTLP/HTTP; `service.name` is `OTEL_SERVICE_NAME` (default "vibepiper"). The SDK's
`TracerProvider` is installed (with a `BatchSpanProcessor`) for the spans the runs' code
makes; the runs' own spans are `run_spans.RunSpan`s, sent by `otlp_light` with the same
OTLP settings at a fraction of the SDK's cost per span (unless `OTEL_TRACES_SAMPLER`
asks for sampling, which the SDK does). An application that already installed a global
`TracerProvider` keeps it: the runs' spans go to its processors. `configure()` sets
a provider explicitly (tests, or code that builds its own).

Spans nest as runs do, through OpenTelemetry's context (a context variable): a flow
run's span is current while its body runs, so its task runs and subflows start under
it, and a task run's span is current while its function runs. Across processes the
context travels as a W3C `traceparent`:

- a top-level flow run continues the trace of `TRACEPARENT` in its environment when
  no span is current (a worker's run process gets it from the worker);
- `run_deployment` stores the caller's traceparent as the run's job variable
  `env.TRACEPARENT`; a worker with tracing on reads it back and passes it on
  (`run_process_env`);
- a task function shipped to another process (Dask) is wrapped by `carry`, which
  makes the task run's span current again over there.

Cost when off: the engines test `TRACER is None` once per run, and this module
imports nothing from OpenTelemetry.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

    from vibepiper.engine.flow_engine import FlowRunEngine
    from vibepiper.engine.task_engine import TaskRunEngine
    from vibepiper.states import State

E = TypeVar("E")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACEPARENT = "TRACEPARENT"
FLUSH_TIMEOUT_MILLIS = 2_000
INSTRUMENTATION_NAME = "vibepiper"

_log = logging.getLogger("vibepiper.telemetry")
_UNSET: Any = object()

TRACER: Any = _UNSET
"""The tracer while tracing is on, None while it is off; not decided before the first
run. The engines' per-run check is `TRACER is None`."""

# OpenTelemetry's functions the hooks call, bound once tracing is on (saves an import
# statement per run on the hot path)
_attach: Any = None
_detach: Any = None
_set_span_in_context: Any = None
_error: Any = None

_provider: Any = None  # what `flush` flushes: a provider made here or given to `configure`
_light_exporter: Any = None  # the runs' spans' exporter when they are `run_spans`' own
_own_spans = False  # TRACER is a `run_spans.RunTracer` (its cheaper calls apply)
_env_parent: Context | None = None  # the trace of TRACEPARENT, for top-level flow runs
_lock = threading.Lock()


def wanted() -> bool:
    """Whether the environment asks for traces (OpenTelemetry is not imported)."""
    environ = os.environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name) for name in ENDPOINT_VARIABLES)


def tracer() -> Tracer | None:
    """The tracer of runs, deciding from the environment on first use; None when off."""
    if TRACER is _UNSET:
        with _lock:
            if TRACER is _UNSET:
                _configure_from_env()
    result: Tracer | None = TRACER
    return result


def configure(provider: TracerProvider | None) -> None:
    """Trace runs with `provider` from now on (None: stop tracing runs).

    The environment is not read then, but for `TRACEPARENT`. For tests and for code
    that builds its own provider; the usual switch is `OTEL_EXPORTER_OTLP_ENDPOINT`.
    """
    global TRACER, _provider, _env_parent, _own_spans
    with _lock:
        _shut_light()
        _own_spans = False
        if provider is None:
            TRACER, _provider, _env_parent = None, None, None
            return
        _env_parent = _parent_from_env()
        _provider = provider
        _bind_api()
        TRACER = provider.get_tracer(INSTRUMENTATION_NAME, _version())


def reset() -> None:
    """Forget the decision: the next run reads the environment again (for tests)."""
    global TRACER, _provider, _env_parent, _own_spans
    with _lock:
        _shut_light()
        _own_spans = False
        TRACER, _provider, _env_parent = _UNSET, None, None


def _shut_light() -> None:
    global _light_exporter
    exporter, _light_exporter = _light_exporter, None
    if exporter is not None:
        exporter.shutdown()


def _configure_from_env() -> None:
    global TRACER, _provider, _env_parent, _own_spans
    if not wanted():
        TRACER = None
        return
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        _log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed "
            "(pip install 'vibepiper[otel]'): runs are not traced"
        )
        TRACER = None
        return
    installed = trace.get_tracer_provider()
    if isinstance(installed, trace.ProxyTracerProvider):  # nobody installed one yet
        resource = Resource.create()  # reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "vibepiper"}))
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)  # user spans inside tasks export too
        installed = _provider = provider  # ours to flush; an application's is its own
        light = _light_tracer(dict(resource.attributes))
    else:
        light = None
    _env_parent = _parent_from_env()
    _bind_api()
    _own_spans = light is not None
    TRACER = light or installed.get_tracer(INSTRUMENTATION_NAME, _version())


def _light_tracer(resource_attributes: dict[str, Any]) -> Tracer | None:
    """The runs' own tracer, exporting through `otlp_light` (None: the SDK's, when a
    sampler is asked for or this OpenTelemetry release cannot carry encoded spans)."""
    global _light_exporter
    if os.environ.get("OTEL_TRACES_SAMPLER", "").strip() not in ("", "parentbased_always_on"):
        return None
    from vibepiper.telemetry.otlp_light import LightExporter, light_exporter_supported
    from vibepiper.telemetry.run_spans import RunTracer

    if not light_exporter_supported():
        return None
    exporter = LightExporter(resource_attributes, INSTRUMENTATION_NAME, _version())
    _light_exporter = exporter
    import atexit

    atexit.register(exporter.shutdown, FLUSH_TIMEOUT_MILLIS)  # what is queued goes out
    return RunTracer(exporter.add)


def _bind_api() -> None:
    global _attach, _detach, _set_span_in_context, _error
    from opentelemetry import context, trace

    _attach, _detach = context.attach, context.detach
    _set_span_in_context = trace.set_span_in_context
    _error = trace.StatusCode.ERROR


def _parent_from_env() -> Context | None:
    value = os.environ.get(TRACEPARENT)
    if not value:
        return None
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": value}
    state = os.environ.get("TRACESTATE")
    if state:
        carrier["tracestate"] = state
    context = TraceContextTextMapPropagator().extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        _log.warning("Ignoring TRACEPARENT=%r: not a W3C traceparent", value)
        return None
    return context


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vibepiper")
    except PackageNotFoundError:
        return "0"


def flush() -> None:
    """Export the spans ended so far (bounded wait); done after each top-level flow run."""
    for owner in (_light_exporter, _provider):
        force_flush = getattr(owner, "force_flush", None)
        if force_flush is not None:
            try:
                force_flush(FLUSH_TIMEOUT_MILLIS)
            except Exception:  # an exporter's trouble must not fail the run
                _log.debug("Flushing spans failed", exc_info=True)


# --- the engines' hooks ----------------------------------------------------------------------


def trace_flow_sync(
    engine: FlowRunEngine, drive: Callable[[FlowRunEngine], State[Any]]
) -> State[Any]:
    """`drive(engine)` inside a span of the flow run (or plainly, tracing being off)."""
    tracer_ = TRACER if TRACER is not _UNSET else tracer()
    if tracer_ is None:
        return drive(engine)
    span = _start_flow_span(tracer_, engine)
    token = _attach(_set_span_in_context(span))
    try:
        return drive(engine)
    finally:
        _detach(token)
        _end_span(span, engine.state, engine.flow_run.run_count)
        if engine.is_top_level:
            flush()


async def trace_flow_async(
    engine: FlowRunEngine, drive: Callable[[FlowRunEngine], Awaitable[State[Any]]]
) -> State[Any]:
    """`trace_flow_sync` for a flow run driven on an event loop."""
    tracer_ = TRACER if TRACER is not _UNSET else tracer()
    if tracer_ is None:
        return await drive(engine)
    span = _start_flow_span(tracer_, engine)
    token = _attach(_set_span_in_context(span))
    try:
        return await drive(engine)
    finally:
        _detach(token)
        _end_span(span, engine.state, engine.flow_run.run_count)
        if engine.is_top_level:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, flush)


def trace_task_sync(
    engine: TaskRunEngine, drive: Callable[[TaskRunEngine], State[Any]]
) -> State[Any]:
    """`drive(engine)` inside a span of the task run (or plainly, tracing being off)."""
    tracer_ = TRACER if TRACER is not _UNSET else tracer()
    if tracer_ is None:
        return drive(engine)
    span = _start_task_span(tracer_, engine)
    token = _attach(_set_span_in_context(span))
    try:
        return drive(engine)
    finally:
        _detach(token)
        _end_task_span(span, engine)


async def trace_task_async(
    engine: TaskRunEngine, drive: Callable[[TaskRunEngine], Awaitable[State[Any]]]
) -> State[Any]:
    """`trace_task_sync` for a task run driven on an event loop."""
    tracer_ = TRACER if TRACER is not _UNSET else tracer()
    if tracer_ is None:
        return await drive(engine)
    span = _start_task_span(tracer_, engine)
    token = _attach(_set_span_in_context(span))
    try:
        return await drive(engine)
    finally:
        _detach(token)
        _end_task_span(span, engine)


def _start_flow_span(tracer_: Tracer, engine: FlowRunEngine) -> Span:
    from opentelemetry import trace

    run = engine.flow_run
    parent = None
    if (
        _env_parent is not None
        and engine.is_top_level
        and not trace.get_current_span().get_span_context().is_valid
    ):
        parent = _env_parent
    attributes: dict[str, Any] = {
        "vibepiper.flow_run.id": str(run.id),
        "vibepiper.flow_run.name": run.name,
        "vibepiper.flow.name": run.flow_name,
    }
    if engine.flow.retries:
        attributes["vibepiper.flow.retries"] = engine.flow.retries
    if run.tags:
        attributes["vibepiper.tags"] = list(run.tags)
    if run.deployment_id is not None:
        attributes["vibepiper.deployment.id"] = str(run.deployment_id)
    if run.parent_task_run_id is not None:
        attributes["vibepiper.parent_task_run.id"] = str(run.parent_task_run_id)
    return tracer_.start_span(f"flow {run.flow_name}", context=parent, attributes=attributes)


def _start_task_span(tracer_: Tracer, engine: TaskRunEngine) -> Span:
    run = engine.task_run
    # VibePiper's own spans keep the ids as UUIDs: the sender's thread writes them as text
    ident: Callable[[Any], Any] = _same if _own_spans else str
    attributes: dict[str, Any] = {
        "vibepiper.task_run.id": ident(run.id),
        "vibepiper.task_run.name": run.name,
        "vibepiper.task.name": run.task_name,
    }
    # each attribute costs a little per span: only what says something
    if engine.task.retries:
        attributes["vibepiper.task.retries"] = engine.task.retries
    if run.flow_run_id is not None:
        attributes["vibepiper.flow_run.id"] = ident(run.flow_run_id)
    if run.tags:
        attributes["vibepiper.tags"] = list(run.tags)
    name = f"task {run.task_name}"
    if _own_spans:
        return tracer_.start_run_span(name, attributes)  # type: ignore[attr-defined,no-any-return]
    return tracer_.start_span(name, attributes=attributes)


def _same(value: Any) -> Any:
    return value


def _end_task_span(span: Span, engine: TaskRunEngine) -> None:
    run = engine.task_run
    state = getattr(engine, "state", None)
    attributes = _final_attributes(state, run.run_count)
    cache = run.details.get("cache")
    if cache is not None:
        attributes["vibepiper.cache.hit"] = state is not None and state.name == "Cached"
        outcome = cache.get("outcome")
        if outcome:
            attributes["vibepiper.cache.outcome"] = str(outcome)
    _end(span, state, attributes)


def _end_span(span: Span, state: State[Any] | None, run_count: int) -> None:
    _end(span, state, _final_attributes(state, run_count))


def _final_attributes(state: State[Any] | None, run_count: int) -> dict[str, Any]:
    if state is None:
        return {"vibepiper.run_count": run_count}
    return {
        "vibepiper.run_count": run_count,
        "vibepiper.state.type": state.type._value_,
        "vibepiper.state.name": state.name,
    }


def _end(span: Span, state: State[Any] | None, attributes: dict[str, Any]) -> None:
    if _own_spans:
        span.add_run_attributes(attributes)  # type: ignore[attr-defined]
    else:
        span.set_attributes(attributes)  # one call: the SDK takes its lock once per call
    if state is not None and state.type._value_ in ("FAILED", "CRASHED"):
        if isinstance(state.data, BaseException):
            span.record_exception(state.data)
        span.set_status(_error, state.message or state.name)
    span.end()


# --- across processes --------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span while tracing is on, else None."""
    if TRACER is None or TRACER is _UNSET:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def carry(fn: Callable[..., E], *args: Any) -> tuple[Callable[..., E], tuple[Any, ...]]:
    """`fn` and its arguments, to call in another process under the current span.

    Unchanged while tracing is off or no span is current; otherwise a call of
    `in_trace(traceparent, fn, *args)`, which makes the span current over there.
    """
    traceparent = current_traceparent()
    if traceparent is None:
        return fn, args
    return in_trace, (traceparent, fn, *args)


def in_trace(traceparent: str, fn: Callable[..., E], *args: Any) -> E:
    """Call `fn(*args)` with the span of `traceparent` current (a `carry` call)."""
    try:
        from opentelemetry import context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:  # a worker without OpenTelemetry: just the call
        return fn(*args)
    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent})
    token = context.attach(parent)
    try:
        return fn(*args)
    finally:
        context.detach(token)


def run_process_env(read_states: Callable[[], list[Any]]) -> dict[str, str]:
    """For a worker: `{"TRACEPARENT": ...}` for a run process, when tracing is wanted and
    the run carries one (`run_deployment` stores it in the run's job variables, which its
    first state keeps); `read_states` reads the run's state history."""
    if not wanted():
        return {}
    try:
        states = read_states()
    except Exception:  # tracing must never keep a run from starting
        _log.debug("Could not read the run's states for its traceparent", exc_info=True)
        return {}
    for state in states:
        details = getattr(state, "state_details", None) or {}
        env = (details.get("job_variables") or {}).get("env")
        if isinstance(env, dict) and env.get(TRACEPARENT):
            return {TRACEPARENT: str(env[TRACEPARENT])}
    return {}


def with_traceparent(job_variables: dict[str, Any] | None) -> dict[str, Any] | None:
    """`run_deployment`'s job variables, with the caller's traceparent added as
    `env.TRACEPARENT` while a span is current (a TRACEPARENT given stays)."""
    traceparent = current_traceparent()
    if traceparent is None:
        return job_variables
    variables = dict(job_variables or {})
    env = variables.get("env")
    if env is not None and not isinstance(env, dict):
        return job_variables  # the server names the mistake
    variables["env"] = {TRACEPARENT: traceparent, **(env or {})}
    return variables

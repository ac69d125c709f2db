"""The life of one flow run.

`FlowRunEngine` decides: creating the run (and its proxy task run in a parent flow),
validating parameters, each attempt's state, retry or fail, hooks, and the final
flush of the store. `run_flow_sync` and `run_flow_async` only call the body.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from vibepiper.context import (
    FlowRunContext,
    TaskRunContext,
    current_tags,
    use_flow_run_context,
)
from vibepiper.engine import pauses
from vibepiper.engine.drivers import drive_async, drive_sync, lazy_asyncio
from vibepiper.engine.entrypoints import this_process
from vibepiper.engine.hooks import run_hooks, run_hooks_async
from vibepiper.engine.inputs import (
    resolve_parameters,
    task_inputs,
    upstream_futures,
    wait_for_upstream,
)
from vibepiper.engine.names import generate_run_name
from vibepiper.engine.policy import (
    exception_to_state,
    interrupted_message,
    retry_delay,
    return_value_to_state,
)
from vibepiper.engine.threads import call_with_deadline
from vibepiper.exceptions import (
    FlowRunTimeoutError,
    ParameterTypeError,
    Pause,
    PausedRun,
    TerminationSignal,
    UpstreamTaskError,
)
from vibepiper.futures import resolve_futures_to_states, wait
from vibepiper.logging import RunLoggerAdapter, flow_run_logger
from vibepiper.schemas.runs import FlowRun, TaskRun, flow_id_for
from vibepiper.states import (
    AwaitingRetry,
    Cancelled,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    StateType,
    now,
)
from vibepiper.telemetry import tracing
from vibepiper.utilities.ids import new_id

if TYPE_CHECKING:
    from vibepiper.flows import Flow
    from vibepiper.schemas.views import TaskRunView
    from vibepiper.store.base import RunStore

# The ids of the top-level flow runs created in this context while `recording_flow_runs`
# is open (None otherwise).
_NOTHING: Any = object()  # the body has not returned (yet)
_PLAIN = frozenset({int, float, str, bytes, bool})

_recorded_flow_runs: ContextVar[list[uuid.UUID] | None] = ContextVar(
    "vibepiper_recorded_flow_runs", default=None
)


@contextmanager
def recording_flow_runs() -> Iterator[list[uuid.UUID]]:
    """Collect the ids of the top-level flow runs created in this context while open.

    A retry imports its flow's module with this open, to notice calls the module makes
    at import time.
    """
    created: list[uuid.UUID] = []
    token = _recorded_flow_runs.set(created)
    try:
        yield created
    finally:
        _recorded_flow_runs.reset(token)


class FlowRunEngine:
    """Everything one flow run decides, with the store I/O it needs."""

    def __init__(
        self, flow: Flow[..., Any], parameters: dict[str, Any], wait_for: Any = None
    ) -> None:
        self.flow = flow
        self.parameters = parameters
        self.validated = parameters
        self.wait_for = wait_for
        self.parent_flow_ctx = FlowRunContext.get()
        self.parent_task_ctx = TaskRunContext.get()
        self.store: RunStore = self._pick_store()
        self.proxy: TaskRun | None = None
        self.state: State[Any] = Pending()
        self.context: FlowRunContext | None = None
        self._logger: RunLoggerAdapter | None = None
        self._timed_out = False
        self.return_value: Any = _NOTHING  # what the body returned, once it returned
        self.previous_task_runs: dict[tuple[str, str], TaskRunView] | None = None
        # attempts made before a retry resumed this flow run: they stay in its history
        # and `run_count`, but do not use up the retries of the resumed attempt
        self.attempts_before = 0
        # a suspended run started again: its first attempt here is Running, not Retrying
        self.resuming = False

    def _pick_store(self) -> RunStore:
        if self.parent_flow_ctx is not None:
            return self.parent_flow_ctx.store
        if self.parent_task_ctx is not None and self.parent_task_ctx.store is not None:
            return self.parent_task_ctx.store
        from vibepiper.store import get_store

        return get_store()

    @property
    def is_top_level(self) -> bool:
        return self.parent_flow_ctx is None and self.parent_task_ctx is None

    @property
    def logger(self) -> RunLoggerAdapter:
        if self._logger is None:
            self._logger = flow_run_logger(self.flow_run)
        return self._logger

    def _set(self, state: State[Any]) -> State[Any]:
        self.state = self.store.propose_flow_run_state(self.flow_run, state)
        if self.proxy is not None:
            mirrored: State[Any] = State(
                self.state.type,
                name=self.state.name,
                message=self.state.message,
                data=self.state.data,
            )
            self.store.propose_task_run_state(self.proxy, mirrored, force=True)
        return self.state

    # --- creation ----------------------------------------------------------------------
    def create(self) -> FlowRun:
        flow = self.flow
        run_id = new_id()
        parent_task_run_id: uuid.UUID | None = None
        if self.parent_task_ctx is not None:
            parent_task_run_id = self.parent_task_ctx.task_run.id
        elif self.parent_flow_ctx is not None:
            parent_task_run_id = self._create_proxy(run_id).id
        # A template naming a missing parameter raises here, before any run is recorded.
        # A callable may read `runtime.flow_run`, so it is called in the run's context
        # once the run exists (see `_name_from_callable`).
        template = flow.flow_run_name
        name = flow.render_run_name(self.parameters) if isinstance(template, str) else None
        tags = current_tags()
        self.flow_run = FlowRun(
            id=run_id,
            name=name or generate_run_name(),
            flow_id=flow_id_for(flow.name),
            flow_name=flow.name,
            parameters=flow.recorded_parameters(self.parameters),
            tags=sorted(tags),
            parent_task_run_id=parent_task_run_id,
            flow_version=flow.version,
            created=now(),
            entrypoint=flow.entrypoint,
            infrastructure_pid=this_process(),
        )
        self.store.create_flow_run(self.flow_run)
        recorded = _recorded_flow_runs.get()
        if recorded is not None and self.is_top_level:
            recorded.append(run_id)
        self._set(Pending())
        return self.flow_run

    def _create_proxy(self, child_id: uuid.UUID) -> TaskRun:
        parent = self.parent_flow_ctx
        assert parent is not None
        task_key = f"subflow:{self.flow.name}"
        dynamic_key = parent.next_dynamic_key(task_key)
        proxy = TaskRun(
            id=new_id(),
            name=f"{self.flow.name}-{dynamic_key}",
            task_key=task_key,
            task_name=self.flow.name,
            flow_run_id=parent.flow_run.id,
            dynamic_key=str(dynamic_key),
            tags=sorted(current_tags()),
            task_inputs=task_inputs(self.parameters, self.wait_for),
            created=now(),
            subflow_run_id=child_id,
        )
        self.store.create_task_run(proxy)
        self.store.propose_task_run_state(proxy, Pending())
        self.proxy = proxy
        return proxy

    def prepare(self) -> bool:
        """Resolve futures among the parameters and validate them; on failure the run is
        Failed before its body runs."""
        try:
            wait_for_upstream(self.wait_for)
            self.parameters = resolve_parameters(self.parameters)
            self.flow_run.parameters = self.flow.recorded_parameters(self.parameters)
        except UpstreamTaskError as exc:
            self._set(Failed(message=str(exc), data=exc))
            self.logger.error("Flow run did not start: %s", exc)
            return False
        try:
            self.validated = self.flow.validate_parameters(self.parameters)
        except ParameterTypeError as exc:
            self._set(Failed(message=str(exc), data=exc))
            self.logger.error("Parameter validation failed: %s", exc)
            return False
        if callable(self.flow.flow_run_name):
            return self._name_from_callable()
        return True

    def _name_from_callable(self) -> bool:
        try:
            with use_flow_run_context(self.new_context()):
                self.flow_run.name = self.flow.render_run_name(self.validated)
        except Exception as exc:
            self._set(Failed(message=f"Could not name the flow run: {exc}", data=exc))
            self.logger.error("Could not name the flow run: %s", exc)
            return False
        self._logger = None  # log lines carry the new name
        return True

    # --- attempts ------------------------------------------------------------------------
    def start_attempt(self) -> bool:
        run = self.flow_run
        run.run_count += 1
        first = run.run_count == 1 or (self.resuming and run.run_count == self.attempts_before + 1)
        state = self._set(Running() if first else Retrying())
        if state.type is not StateType.RUNNING:
            return False
        if run.run_count == 1:
            self._log_beginning()
        if self.flow.on_running_hooks:
            run_hooks(self.flow.on_running_hooks, (self.flow, run, state), self.logger, state.name)
        return True

    async def start_attempt_async(self) -> bool:
        return self.start_attempt()

    def _log_beginning(self) -> None:
        """As in Prefect: a subflow's first line says so, in its parent's log."""
        run = self.flow_run
        if run.parent_task_run_id is None:
            self.logger.info("Beginning flow run %r for flow %r", run.name, run.flow_name)
            return
        parent = self.parent_flow_ctx
        logger = flow_run_logger(parent.flow_run) if parent is not None else self.logger
        logger.info("Beginning subflow run %r for flow %r", run.name, run.flow_name)

    def new_context(self) -> FlowRunContext:
        flow = self.flow
        self.context = FlowRunContext(
            flow=flow,
            flow_run=self.flow_run,
            store=self.store,
            task_runner=flow.task_runner.duplicate(),
            parameters=self.validated,
            log_prints=bool(flow.log_prints),
            parent_flow_run_id=self._parent_flow_run_id(),
            previous_task_runs=self.previous_task_runs,
        )
        if flow.log_prints:
            from vibepiper.logging import enable_log_prints

            enable_log_prints()
        return self.context

    def _parent_flow_run_id(self) -> uuid.UUID | None:
        if self.parent_flow_ctx is not None:
            return self.parent_flow_ctx.flow_run.id
        if self.parent_task_ctx is not None:
            return self.parent_task_ctx.task_run.flow_run_id
        return None

    def call_sync(self) -> Any:
        flow = self.flow
        self._timed_out = False
        args, kwargs = flow.call_arguments(self.validated)
        ctx = self.new_context()
        with use_flow_run_context(ctx), ctx.task_runner:
            pauses.watch(ctx)
            try:
                if flow.timeout_seconds is None:
                    return flow.fn(*args, **kwargs)
                timeout = flow.timeout_seconds
                return call_with_deadline(
                    lambda: flow.fn(*args, **kwargs),
                    timeout,
                    lambda: self._timeout_error(timeout),
                    FlowRunTimeoutError,
                )
            finally:
                pauses.unwatch(ctx)
                self.wait_for_submitted()

    async def call_async(self) -> Any:
        flow = self.flow
        self._timed_out = False
        args, kwargs = flow.call_arguments(self.validated)
        ctx = self.new_context()
        with use_flow_run_context(ctx), ctx.task_runner:
            pauses.watch(ctx)
            try:
                if flow.timeout_seconds is None:
                    return await flow.fn(*args, **kwargs)
                try:
                    return await lazy_asyncio().wait_for(
                        flow.fn(*args, **kwargs), flow.timeout_seconds
                    )
                except TimeoutError:
                    raise self._timeout_error(flow.timeout_seconds) from None
            finally:
                pauses.unwatch(ctx)
                await (
                    lazy_asyncio().get_running_loop().run_in_executor(None, self.wait_for_submitted)
                )

    def _timeout_error(self, timeout: float) -> FlowRunTimeoutError:
        self._timed_out = True
        return FlowRunTimeoutError(f"Flow run exceeded timeout of {timeout} second(s)")

    def wait_for_submitted(self) -> None:
        """Wait for tasks submitted in this run (not after a timeout: they may be stuck)."""
        ctx = self.context
        if ctx is None or self._timed_out:
            return
        while True:
            with ctx.lock:
                pending = list(ctx.pending_futures)
            if not pending:
                return
            wait(pending)

    def handle_success(self, value: Any) -> float | None:
        """Record what the body returned; seconds to a retry when it is a failure the
        flow's retries cover (a returned Failed state, as a failing body), else None."""
        if value is not None and type(value) not in _PLAIN and upstream_futures(value):
            value = resolve_futures_to_states(value)  # as in Prefect: futures become states
        self.return_value = value
        state = return_value_to_state(value)
        if state.type is StateType.COMPLETED and self._persists():
            try:
                self._persist(state)
            except Exception as exc:
                state = Failed(message=f"The flow's result could not be persisted: {exc}", data=exc)
        if state.type is StateType.FAILED:
            delay = self._retry_delay()
            if delay is not None:
                self._schedule_retry(delay, state.message, "returned a failed state", state)
                return delay
        self._set(state)
        return None

    def result(self) -> Any:
        """What calling the flow returns (Prefect's rule): the value the body returned,
        unless that is a State or the body raised; then the final state's result."""
        value = self.return_value
        if value is not _NOTHING and not isinstance(value, State):
            return value
        try:
            return self.state.result(_sync=True)
        except PausedRun as exc:  # suspended: uncaught, one line instead of a traceback
            if self.is_top_level:
                from vibepiper.engine.interrupts import note_interrupted

                run = self.flow_run
                note_interrupted(exc, run.name, self.state.name, f"Flow run {run.name!r}: {exc}")
            raise

    def _retry_delay(self) -> float | None:
        """Seconds before the next attempt if the flow's retries allow one, else None."""
        flow = self.flow
        attempt = self.flow_run.run_count - self.attempts_before
        if attempt > flow.retries:
            return None
        return retry_delay(flow.retry_delay_seconds, attempt)

    def _schedule_retry(self, delay: float, message: str | None, what: str, detail: Any) -> None:
        flow = self.flow
        attempt = self.flow_run.run_count - self.attempts_before
        self._set(
            AwaitingRetry(scheduled_time=now() + dt.timedelta(seconds=delay), message=message)
        )
        self.logger.warning(
            "Attempt %d of the flow run %s: %s. Retry %d/%d in %s second(s).",
            attempt,
            what,
            detail,
            attempt,
            flow.retries,
            round(delay, 3),
        )

    def _persists(self) -> bool:
        persist = self.flow.persist_result
        if persist is None:
            from vibepiper.settings import get_settings

            persist = get_settings().results_persist_by_default
        return bool(persist)

    def _persist(self, state: State[Any]) -> None:
        from vibepiper.result_storage import resolve_codec, resolve_storage, write_result

        flow = self.flow
        record = write_result(
            resolve_storage(flow.result_storage),
            f"flow-runs/{self.flow_run.id}",
            state.result(_sync=True),
            resolve_codec(flow.result_serializer),
        )
        state.state_details.result = record.to_json()

    def handle_exception(self, exc: BaseException) -> float | None:
        asyncio = sys.modules.get("asyncio")  # not imported: it cannot be a CancelledError
        if asyncio is not None and isinstance(exc, asyncio.CancelledError):
            self._set(Cancelled(message="The flow run's coroutine was cancelled", data=exc))
            return None
        if isinstance(exc, TerminationSignal):
            # only a run process turns SIGTERM into this, when its run is cancelled: every
            # flow run in the process (subflows too) ends Cancelled and runs its
            # on_cancellation hooks, as Prefect's engine does for a cancelled run
            name = signal_name(exc.signal)
            self._set(Cancelled(message=f"The flow run was cancelled: its process received {name}"))
            self.logger.warning("Flow run cancelled: the process received %s", name)
            return None
        if isinstance(exc, Pause) and exc.state is not None:
            self._suspend(exc.state)
            return None
        if not isinstance(exc, Exception):
            self._set(Crashed(message=interrupted_message(exc), data=exc))
            return None
        state = exception_to_state(exc, what="Flow run")
        # as in Prefect, whatever failed the attempt (a timeout too) is retried
        delay = self._retry_delay()
        if delay is not None:
            self._schedule_retry(delay, state.message, f"failed with {type(exc).__name__}", exc)
            return delay
        self.logger.error(
            "Encountered exception during execution: %r",
            exc,
            exc_info=None if isinstance(exc, FlowRunTimeoutError) else exc,
        )
        self._set(state)
        return None

    def _suspend(self, state: State[Any]) -> None:
        """Record the suspension its body asked for, once the tasks it started ended."""
        run = self.flow_run
        if state.message is None:
            if run.deployment_id is not None:
                state.message = "Suspended: a worker starts it again once it is resumed"
            else:
                state.message = (
                    f"Suspended: resume it with `vibepiper flow-run resume {run.id}`, which "
                    "runs it again here"
                )
        self._set(state)
        self.logger.info("%s", state.message)
        context = self.context
        if context is not None and context.previous_task_runs is None:
            self._warn_unpersisted()

    def _warn_unpersisted(self) -> None:
        """Tasks completed without a persisted result run again when the run resumes."""
        try:
            rows = self.store.read_task_runs(self.flow_run.id)
        except Exception:
            return
        again = [
            row.name
            for row in rows
            if row.state_type == StateType.COMPLETED.value and not row.details.get("result")
        ]
        if again:
            self.logger.warning(
                "%d completed task run(s) did not persist their results (%s) and run again "
                "when the flow run resumes; set persist_result=True to keep them",
                len(again),
                ", ".join(again[:5]) + (", ..." if len(again) > 5 else ""),
            )

    # --- the end ----------------------------------------------------------------------------
    def _hooks_for_final_state(self) -> list[Callable[..., Any]]:
        flow = self.flow
        kind = self.state.type
        if kind is StateType.COMPLETED:
            return flow.on_completion_hooks
        if kind is StateType.FAILED:
            return flow.on_failure_hooks
        if kind is StateType.CRASHED:
            return flow.on_crashed_hooks
        if kind is StateType.CANCELLED:
            return flow.on_cancellation_hooks
        return []

    def _log_final(self) -> None:
        quiet = (StateType.COMPLETED, StateType.PAUSED)
        level = logging.INFO if self.state.type in quiet else logging.ERROR
        self.logger.log(level, "Finished in state %s", self.state)

    def finish(self) -> None:
        hooks = self._hooks_for_final_state()
        if hooks:
            run_hooks(hooks, (self.flow, self.flow_run, self.state), self.logger, self.state.name)
        self._log_final()
        if self.is_top_level:
            self.store.flush_runs()

    async def finish_async(self) -> None:
        hooks = self._hooks_for_final_state()
        if hooks:
            await run_hooks_async(
                hooks, (self.flow, self.flow_run, self.state), self.logger, self.state.name
            )
        self._log_final()
        if self.is_top_level:
            await lazy_asyncio().get_running_loop().run_in_executor(None, self.store.flush_runs)


def run_flow_sync(engine: FlowRunEngine) -> State[Any]:
    """Drive a created run to its final state in this thread (see `drivers`)."""
    if tracing.TRACER is not None:  # on, or not decided yet
        return tracing.trace_flow_sync(engine, _run_flow_sync)
    return _run_flow_sync(engine)


def _run_flow_sync(engine: FlowRunEngine) -> State[Any]:
    try:
        return drive_sync(engine)
    except Pause:
        if engine.is_top_level:  # suspended: calling the flow raises PausedRun
            return engine.state
        raise
    except BaseException as exc:
        _note_interrupt(engine, exc)
        raise


async def run_flow_async(engine: FlowRunEngine) -> State[Any]:
    """Drive a created run to its final state on the current event loop (see `drivers`)."""
    if tracing.TRACER is not None:  # on, or not decided yet
        return await tracing.trace_flow_async(engine, _run_flow_async)
    return await _run_flow_async(engine)


async def _run_flow_async(engine: FlowRunEngine) -> State[Any]:
    try:
        return await drive_async(engine)
    except Pause:
        if engine.is_top_level:
            return engine.state
        raise
    except BaseException as exc:
        _note_interrupt(engine, exc)
        raise


def signal_name(number: int) -> str:
    """`SIGTERM` for 15 (`signal N` for a number Python does not name)."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _note_interrupt(engine: FlowRunEngine, exc: BaseException) -> None:
    """An interrupt that ends a top-level run prints one line if nothing catches it."""
    if engine.is_top_level and not isinstance(exc, Exception):
        from vibepiper.engine.interrupts import note_interrupted

        note_interrupted(exc, engine.flow_run.name, engine.state.name)

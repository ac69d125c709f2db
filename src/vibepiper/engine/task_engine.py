"""The life of one task run.

`TaskRunEngine` holds every decision of a task run in one place: creating the run,
resolving its inputs, the cache lookup, each attempt's state, retry or fail, hooks.
`run_task_sync` and `run_task_async` are the two drivers: they only call the task
function (directly or awaited) and sleep between attempts.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import itertools
import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from vibepiper.context import (
    FlowRunContext,
    TaskRunContext,
    current_tags,
    use_task_run_context,
)
from vibepiper.engine import persistence, task_slots, task_transactions
from vibepiper.engine.drivers import drive_async, drive_sync, lazy_asyncio
from vibepiper.engine.hooks import run_hooks, run_hooks_async
from vibepiper.engine.inputs import (
    resolve_parameters,
    task_inputs,
    upstream_futures,
    wait_for_upstream,
)
from vibepiper.engine.policy import (
    exception_to_state,
    interrupted_message,
    retry_delay,
    return_value_to_state,
)
from vibepiper.engine.threads import call_with_deadline
from vibepiper.exceptions import StoreUnavailable, TaskRunTimeoutError, UpstreamTaskError
from vibepiper.logging import RunLoggerAdapter, task_run_logger
from vibepiper.schemas.runs import TaskRun
from vibepiper.states import (
    AwaitingRetry,
    Cached,
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
    from vibepiper.schemas.views import TaskRunView
    from vibepiper.store.base import RunStore
    from vibepiper.tasks import Task
    from vibepiper.transactions import BaseTransaction

# Calls a task function somewhere else (another process, a cluster):
# invoke(fn, args, kwargs, timeout_seconds, task_run_context) -> return value
Invoker = Callable[
    [Callable[..., Any], tuple[Any, ...], dict[str, Any], float | None, TaskRunContext], Any
]

_engine_log = logging.getLogger("vibepiper.task_runs")
_LEAF_TYPES = frozenset({int, float, str, bytes, bool, type(None)})
_outside_flow_counter = itertools.count()


class TaskRunEngine:
    """Everything one task run decides, with the store I/O it needs."""

    __slots__ = (
        "_key_lock",
        "_lease",
        "_logger",
        "_plan",
        "assets",
        "attempts_before",
        "flow_ctx",
        "invoke",
        "parameters",
        "resolved",
        "resumed",
        "state",
        "store",
        "task",
        "task_run",
        "txn",
        "wait_for",
    )

    def __init__(
        self,
        task: Task[..., Any],
        parameters: dict[str, Any],
        wait_for: Any,
        flow_ctx: FlowRunContext | None,
        store: RunStore,
        invoke: Invoker | None = None,
    ) -> None:
        self.task = task
        self.parameters = parameters
        self.wait_for = wait_for
        self.flow_ctx = flow_ctx
        self.store = store
        self.invoke = invoke
        self.resolved: dict[str, Any] = parameters
        self._logger: RunLoggerAdapter | None = None
        self._plan: persistence.ResultPlan | None = None
        self._key_lock: AbstractContextManager[None] | None = None
        self._lease: uuid.UUID | None = None  # concurrency slots held by this attempt
        self.resumed = False
        # the run's own transaction, when it needs one (see task_transactions)
        self.txn: BaseTransaction | None = None
        # attempts made before a flow-run retry resumed this task run: they stay in its
        # history and `run_count`, but do not use up the retries of this flow-run attempt
        self.attempts_before = 0
        # the run's assets (vibepiper.engine.assets), for a task that reads or makes some
        self.assets: Any = None

    # --- bookkeeping -------------------------------------------------------------------
    @property
    def logger(self) -> RunLoggerAdapter:
        if self._logger is None:
            flow_run = self.flow_ctx.flow_run if self.flow_ctx else None
            self._logger = task_run_logger(self.task_run, flow_run=flow_run)
        return self._logger

    def _set(self, state: State[Any], force: bool = False) -> State[Any]:
        self.state = self.store.propose_task_run_state(self.task_run, state, force=force)
        return self.state

    def create(self) -> TaskRun:
        """Record the task run as Pending, with its input edges."""
        task = self.task
        flow_ctx = self.flow_ctx
        if flow_ctx is not None:
            if flow_ctx.pause_request is not None:  # asked from outside to pause
                from vibepiper.engine.pauses import at_task_boundary

                at_task_boundary(flow_ctx)
            dynamic_key = flow_ctx.next_dynamic_key(task.task_key)
            flow_run_id: uuid.UUID | None = flow_ctx.flow_run.id
        else:
            dynamic_key = next(_outside_flow_counter)
            flow_run_id = None
        extra_tags = current_tags()
        if flow_ctx is not None and flow_ctx.previous_task_runs is not None:
            previous = flow_ctx.previous_task_runs.get((task.task_key, str(dynamic_key)))
            if previous is not None:
                return self._resume(previous)
        run = TaskRun(
            id=new_id(),
            name=f"{task.name}-{dynamic_key}",
            task_key=task.task_key,
            task_name=task.name,
            flow_run_id=flow_run_id,
            dynamic_key=str(dynamic_key),
            tags=sorted(task.tags | extra_tags) if extra_tags else sorted(task.tags),
            task_inputs=task_inputs(self.parameters, self.wait_for),
            created=now(),
            task_version=task.version,
        )
        self.task_run = run
        self.store.create_task_run(run)
        self._set(Pending())
        return run

    def _resume(self, previous: TaskRunView) -> TaskRun:
        """Continue a task run of the attempt before a flow-run retry.

        A run that completed with a persisted result is not run again: its state is
        the stored Completed state, whose value loads from storage when asked for.
        Anything else runs again on the same task run, from Pending.
        """
        run = TaskRun(
            id=previous.id,
            name=previous.name,
            task_key=previous.task_key,
            task_name=previous.task_name,
            flow_run_id=previous.flow_run_id,
            dynamic_key=previous.dynamic_key,
            tags=list(previous.tags),
            run_count=previous.run_count,
            task_inputs=task_inputs(self.parameters, self.wait_for),
            cache_key=previous.cache_key,
            created=previous.created,
            start_time=previous.start_time,
            end_time=previous.end_time,
            task_version=self.task.version,
            details=dict(previous.details),
        )
        self.task_run = run
        stored = previous.details.get("result")
        if previous.state_type == StateType.COMPLETED.value and stored:
            from vibepiper.result_storage import StoredResult

            record = StoredResult(stored["storage"], stored["key"])
            run.state = self.state = State(
                StateType.COMPLETED,
                name=previous.state_name,
                message="Result reused from an earlier attempt of the flow run",
                data=record,
            )
            self.resumed = True
            return run
        run.state = State(StateType(previous.state_type or "PENDING"), name=previous.state_name)
        self.attempts_before = previous.run_count
        self.store.create_task_run(run)
        self._set(Pending(message="Runs again in the retried flow run"))
        return run

    @property
    def attempt(self) -> int:
        """The current attempt, counted from 1 within this flow-run attempt."""
        return self.task_run.run_count - self.attempts_before

    # --- before the first attempt --------------------------------------------------------
    def prepare(self) -> bool:
        """Resolve inputs, name the run, consult the cache. False: nothing to run."""
        if self.resumed:
            self.logger.info("Reusing the persisted result of an earlier attempt of the flow run")
            return False
        if self._waits_for_itself():
            return False
        try:
            wait_for_upstream(self.wait_for)
            self.resolved = resolve_parameters(self.parameters)
        except UpstreamTaskError as exc:
            self._set(Pending(name="NotReady", message=str(exc), data=exc), force=True)
            self.logger.warning("Task run did not start: %s", exc)
            return False
        task = self.task
        if task.asset_deps is not None or (
            self.flow_ctx is not None and self.flow_ctx.assets is not None
        ):
            from vibepiper.engine import assets

            if not assets.begin(self):
                return False
        if task.task_run_name is not None:
            try:
                with use_task_run_context(self._context()):
                    self.task_run.name = task.render_run_name(self.resolved)
                self._logger = None  # the next log line carries the new name
            except Exception as exc:
                self._set(Failed(message=f"Could not name the task run: {exc}", data=exc))
                self.logger.error("Could not name the task run: %s", exc)
                return False
        if task.cache_policy_in_use is not None and not self._consult_cache():
            return False
        if task_transactions.wanted(task):
            self.txn = task_transactions.open_for(self)
        return True

    def _waits_for_itself(self) -> bool:
        """Fail a run whose `wait_for` or arguments hold its own future (put there after
        it was submitted): waiting for it would never end."""
        values = [v for v in self.parameters.values() if type(v) not in _LEAF_TYPES]
        if self.wait_for is None and not values:
            return False
        run_id = self.task_run.id
        if not any(f.task_run_id == run_id for f in upstream_futures((self.wait_for, values))):
            return False
        error = ValueError(
            f"Task run {self.task_run.name!r} waits for its own future (in wait_for or its "
            "arguments), so it could never start"
        )
        self._set(Failed(message=str(error), data=error))
        self.logger.error("%s", error)
        return True

    def plan(self) -> persistence.ResultPlan:
        """How this run persists its result (resolved once, only when needed)."""
        if self._plan is None:
            self._plan = persistence.plan_for(self.task, self.flow_ctx)
        return self._plan

    def _consult_cache(self) -> bool:
        task = self.task
        run = self.task_run
        policy = task.cache_policy_in_use
        assert policy is not None
        flow_parameters = self.flow_ctx.parameters if self.flow_ctx else {}
        try:
            key = policy.compute_key(self._context(), self.resolved, flow_parameters)
            plan = self.plan()
        except Exception as exc:
            self._set(Failed(message=str(exc), data=exc))
            self.logger.error("%s", exc)
            return False
        run.cache_key = key
        info: dict[str, Any] = {"policy": policy.name, "key": key}
        run.details["cache"] = info
        if key is None:
            info["outcome"] = "not cached: the policy gave no key"
            return True
        if task.cache_expiration is not None:
            run.cache_expiration = now() + task.cache_expiration
            info["expires"] = run.cache_expiration.isoformat()
        if not plan.persist:
            info["outcome"] = "not cached: persist_result=False, so there is nothing to reuse"
            return True
        # Under SERIALIZABLE isolation, one run per key computes; the rest wait here
        # and then find its result. The lock is released in `finish`.
        self._key_lock = persistence.key_lock(task, key)
        self._key_lock.__enter__()
        if task.refresh_cache:
            info["outcome"] = "refresh: refresh_cache=True, the task runs and replaces the entry"
            return True
        found = persistence.lookup(plan.storage, key)
        info["outcome"] = found.reason
        if not found.hit:
            return True
        state = Cached(data=found.value, message=f"Cache hit on key {key}")
        if found.record is not None:
            state.state_details.result = found.record.to_json()
        self._set(state)
        return False

    def _context(self) -> TaskRunContext:
        task = self.task
        log_prints = task.log_prints
        if log_prints is None:
            log_prints = self.flow_ctx.log_prints if self.flow_ctx else False
        return TaskRunContext(
            task=task,
            task_run=self.task_run,
            parameters=self.resolved,
            log_prints=log_prints,
            store=self.store,
        )

    # --- attempts --------------------------------------------------------------------------
    def start_attempt(self) -> bool:
        """Propose Running (Retrying after the first attempt). False: not allowed to run.

        A run with tag concurrency limits first waits for a slot on each of them; when
        the store cannot be reached to decide (a server that stays away), it fails.
        """
        run = self.task_run
        if run.tags and self._lease is None:
            try:
                self._lease = task_slots.acquire(self.store, run, self._set)
            except StoreUnavailable as exc:
                return self._undecided(exc)
        run.run_count += 1
        state = self._set(Running() if self.attempt == 1 else Retrying())
        if state.type is not StateType.RUNNING:
            self._release_slots()
            self.logger.info("Task run was not allowed to run; it is %s", state.name)
            return False
        if self.task.on_running_hooks:
            run_hooks(self.task.on_running_hooks, (self.task, run, state), self.logger, state.name)
        return True

    async def start_attempt_async(self) -> bool:
        """`start_attempt`, waiting for concurrency slots on the event loop."""
        run = self.task_run
        if run.tags and self._lease is None:
            try:
                self._lease = await task_slots.acquire_async(self.store, run, self._set)
            except StoreUnavailable as exc:
                return self._undecided(exc)
        return self.start_attempt()

    def _undecided(self, exc: StoreUnavailable) -> bool:
        """The run cannot start: its concurrency limits could not be decided."""
        # the store's frames say nothing the message does not: raised from the task
        self._set(Failed(message=str(exc), data=exc.with_traceback(None)))
        self.logger.error("Task run failed: %s", exc)
        return False

    def _release_slots(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            task_slots.release(self.store, lease)

    def call_sync(self) -> Any:
        """Call the task function once, in this thread or through the invoker."""
        task = self.task
        args, kwargs = task.call_arguments(self.resolved)
        ctx = self._context()
        with use_task_run_context(ctx):
            if self.invoke is not None:
                return self.invoke(task.fn, args, kwargs, task.timeout_seconds, ctx)
            if task.timeout_seconds is not None:
                timeout = task.timeout_seconds
                return call_with_deadline(
                    lambda: task.fn(*args, **kwargs),
                    timeout,
                    lambda: _timeout_error(timeout),
                    TaskRunTimeoutError,
                )
            return task.fn(*args, **kwargs)

    async def call_async(self) -> Any:
        """Await the async task function once."""
        task = self.task
        args, kwargs = task.call_arguments(self.resolved)
        with use_task_run_context(self._context()):
            if task.timeout_seconds is None:
                return await task.fn(*args, **kwargs)
            try:
                return await lazy_asyncio().wait_for(task.fn(*args, **kwargs), task.timeout_seconds)
            except TimeoutError:
                raise _timeout_error(task.timeout_seconds) from None

    def handle_success(self, value: Any) -> float | None:
        """Record the returned value; seconds to a retry when the task returned a Failed
        state its retries cover (as in Prefect), else None."""
        try:
            if isinstance(value, State) and value.type is StateType.FAILED:
                delay = self._retry_returned_failure(value)
                if delay is not None:
                    return delay
            if self.assets is not None:
                from vibepiper.engine import assets

                failed_check = assets.after_body(self, value)
                if failed_check is not None:
                    return self._record_failure(failed_check)
            self._record_success(value)
            return None
        finally:
            self._release_slots()

    def _retry_returned_failure(self, state: State[Any]) -> float | None:
        task = self.task
        attempt = self.attempt
        if attempt > task.retries or not self._retry_allowed(state):
            return None
        delay = retry_delay(task.retry_delay_seconds, attempt, task.retry_jitter_factor)
        self._set(
            AwaitingRetry(scheduled_time=now() + dt.timedelta(seconds=delay), message=state.message)
        )
        self.logger.warning(
            "Attempt %d returned a failed state: %s. Retry %d/%d will start %s second(s) from now.",
            attempt,
            state,
            attempt,
            task.retries,
            round(delay, 3),
        )
        return delay

    def _record_success(self, value: Any) -> None:
        state = return_value_to_state(value)
        txn = self.txn
        write_later = None
        if state.type is StateType.COMPLETED and self._persists():
            try:
                defer = txn is not None and task_transactions.defers_writes(txn)
                write_later = self._persist(state, defer)
            except Exception as exc:
                self._set(Failed(message=f"The result could not be persisted: {exc}", data=exc))
                self.logger.error("The result could not be persisted: %s", exc)
                return
        if txn is not None and state.type is StateType.COMPLETED:
            task_transactions.stage(self, txn, state, write_later)
        self._set(state)
        if _engine_log.isEnabledFor(logging.DEBUG):
            self.logger.debug("Finished in state %s", state)

    def _persists(self) -> bool:
        task = self.task
        if task.persist_result is False:
            return False
        if task.persist_result or task.cache_policy_in_use is not None:
            return self.plan().persist
        if self.flow_ctx is not None and self.flow_ctx.flow.persist_result is not None:
            return self.plan().persist
        from vibepiper.settings import get_settings

        return get_settings().results_persist_by_default

    def _persist(self, state: State[Any], defer: bool = False) -> Callable[[], object] | None:
        """Store the result now, or (`defer`) say where it will be and return the write
        to do when the enclosing transaction commits."""
        run = self.task_run
        value = state.result(_sync=True)
        key = persistence.storage_key(self.task, run.cache_key, self.resolved)
        plan = self.plan()
        write = None
        if defer:
            record = persistence.pointer(plan, key, run.cache_expiration)
            write = functools.partial(persistence.persist, plan, key, value, run.cache_expiration)
        else:
            record = persistence.persist(plan, key, value, run.cache_expiration)
        state.state_details.result = record.to_json()
        run.details["result"] = {"storage": record.storage, "key": record.key}
        return write

    def handle_exception(self, exc: BaseException) -> float | None:
        """Record a failed attempt. Returns the delay before a retry, or None if final."""
        try:
            return self._record_failure(exc)
        finally:
            self._release_slots()

    def _record_failure(self, exc: BaseException) -> float | None:
        if not isinstance(exc, Exception):
            self._set(Crashed(message=interrupted_message(exc), data=exc))
            self.logger.error("Crashed: interrupted by %s", type(exc).__name__)
            return None
        state = exception_to_state(exc)
        task = self.task
        attempt = self.attempt
        if attempt <= task.retries and self._retry_allowed(state):
            delay = retry_delay(task.retry_delay_seconds, attempt, task.retry_jitter_factor)
            self._set(
                AwaitingRetry(
                    scheduled_time=now() + dt.timedelta(seconds=delay), message=state.message
                )
            )
            self.logger.warning(
                "Attempt %d failed with %s: %s. Retry %d/%d will start %s second(s) from now.",
                attempt,
                type(exc).__name__,
                exc,
                attempt,
                task.retries,
                round(delay, 3),
            )
            return delay
        self._set(state)
        exhausted = " Retries are exhausted." if task.retries else ""
        # a timeout's traceback only shows where the deadline struck: leave it out
        self.logger.error(
            "Task run failed with exception: %r.%s",
            exc,
            exhausted,
            exc_info=None if isinstance(exc, TaskRunTimeoutError) else exc,
        )
        return None

    def _retry_allowed(self, state: State[Any]) -> bool:
        condition = self.task.retry_condition_fn
        if condition is None:
            return True
        try:
            outcome = condition(self.task, self.task_run, state)
            if inspect.isawaitable(outcome):
                from vibepiper.engine.threads import run_coroutine_sync

                outcome = run_coroutine_sync(_await(outcome))
            return bool(outcome)
        except Exception:
            self.logger.exception("retry_condition_fn raised; the task will not be retried")
            return False

    # --- after the last attempt ------------------------------------------------------------
    def _hooks_for_final_state(self) -> list[Callable[..., Any]]:
        task = self.task
        kind = self.state.type
        if kind is StateType.COMPLETED:
            return task.on_completion_hooks
        if kind is StateType.FAILED:
            return task.on_failure_hooks
        if kind is StateType.CRASHED:
            return task.on_crashed_hooks
        if kind is StateType.CANCELLED:
            return task.on_cancellation_hooks
        return []

    def _release_key(self) -> None:
        lock, self._key_lock = self._key_lock, None
        if lock is not None:
            lock.__exit__(None, None, None)

    def finish(self) -> None:
        self._release_slots()
        self._release_key()
        if self.txn is not None:
            task_transactions.close(self)
        if self.assets is not None:
            from vibepiper.engine import assets

            assets.finish(self)
        if self.resumed:
            return  # its hooks ran in the attempt that produced the result
        hooks = self._hooks_for_final_state()
        if hooks:
            run_hooks(hooks, (self.task, self.task_run, self.state), self.logger, self.state.name)

    async def finish_async(self) -> None:
        self._release_slots()
        self._release_key()
        if self.txn is not None:
            await task_transactions.close_async(self)
        if self.assets is not None:
            from vibepiper.engine import assets

            assets.finish(self)
        if self.resumed:
            return
        hooks = self._hooks_for_final_state()
        if hooks:
            await run_hooks_async(
                hooks, (self.task, self.task_run, self.state), self.logger, self.state.name
            )


def _timeout_error(timeout: float) -> TaskRunTimeoutError:
    return TaskRunTimeoutError(f"Task run exceeded timeout of {timeout} second(s)")


async def _await(awaitable: Any) -> Any:
    return await awaitable


def run_task_sync(engine: TaskRunEngine) -> State[Any]:
    """Drive a created run to its final state in this thread (see `drivers`)."""
    if tracing.TRACER is None:  # off: the one check tracing costs a task run
        return drive_sync(engine)
    return tracing.trace_task_sync(engine, drive_sync)


async def run_task_async(engine: TaskRunEngine) -> State[Any]:
    """Drive a created run to its final state on the current event loop (see `drivers`)."""
    if tracing.TRACER is None:
        return await drive_async(engine)
    return await tracing.trace_task_async(engine, drive_async)

"""Pausing a flow run in its process, suspending it out of its process, and noticing a
pause or suspension asked for from outside.

`pause_here` is what `pause_flow_run` and `suspend_flow_run` do inside a run:

- each call has a key (given, or `pause-N` / `suspend-N` by call order, the same on
  every pass of the run); a key the run's history already paused under was paused and
  resumed before (the run was suspended and starts again from the top), so the call
  returns the input given then, at once;
- with `wait_for_input`, the input's JSON schema (and description) are stored as
  flow-run input first, so a resume can be checked against it;
- a pause proposes Paused and waits in this process, woken by the resume (the store's
  `wait_for_flow_run_states`: a long poll on a server, a 50 ms look at the SQLite file
  otherwise), until its timeout: then the run is Running again and `FlowPauseTimeout`
  raised (uncaught, it fails the run);
- a suspension raises `Pause` carrying the Suspended state: the flow's body unwinds,
  the engine waits for the tasks it started and records Suspended, and the process
  ends. Resumed, the run starts again from the top; completed tasks with persisted
  results are not run again (the machinery of `flow-run retry`).

From outside, a pause or suspension is a request: the run's state becomes `Pausing` or
`Suspending` (still RUNNING). A watcher thread per store (started with the first flow
run that may be paused) long-polls the states of the runs in this process and flags
the run's context; the flow's next task call (`at_task_boundary`, one attribute read
per task otherwise) checks the request still stands, waits for the tasks already
started, and then pauses or suspends, which is the acknowledgement the dashboard shows.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import TYPE_CHECKING, Any

from vibepiper.exceptions import Pause, PrefectException
from vibepiper.states import State, StateType, now

if TYPE_CHECKING:
    from vibepiper.context import FlowRunContext
    from vibepiper.schemas.views import StateRow
    from vibepiper.store.base import RunStore

REQUEST_NAMES = {"Pausing": False, "Suspending": True}
"""States (type RUNNING) of a run asked to pause (False) or suspend (True)."""
WATCH_WAIT_S = 10.0
WATCH_POLL_S = 0.5
"""How often a store that polls (the embedded one) looks for pause requests."""
DEFAULT_TIMEOUT_S = 3600


class FlowPauseTimeout(PrefectException, TimeoutError):
    """A paused flow run was not resumed before its timeout (Prefect's name)."""


def paused_state(
    *,
    reschedule: bool,
    key: str,
    timeout: float,
    keyset: dict[str, str] | None,
    message: str | None = None,
) -> State[Any]:
    """The Paused (process waits) or Suspended (process exits) state of one pause."""
    state: State[Any] = State(
        StateType.PAUSED, name="Suspended" if reschedule else "Paused", message=message
    )
    details = state.state_details
    details.pause_key = key
    details.pause_reschedule = reschedule
    details.pause_timeout = now() + dt.timedelta(seconds=timeout)
    details.run_input_keyset = keyset
    return state


def _used_keys(ctx: FlowRunContext) -> set[str]:
    if ctx.used_pause_keys is None:
        rows = ctx.store.read_flow_run_states(ctx.flow_run.id)
        ctx.used_pause_keys = {
            str(row.details["pause_key"])
            for row in rows
            if row.type == StateType.PAUSED.value and row.details.get("pause_key")
        }
    return ctx.used_pause_keys


def _check_store(store: RunStore) -> None:
    if not getattr(store, "shared", True):
        raise RuntimeError(
            "a paused flow run must be resumable from another process, and this store "
            "(VIBEPIPER_HOME=:memory:) keeps runs in this process only: set VIBEPIPER_HOME "
            "to a directory, or VIBEPIPER_API_URL to a server"
        )


def pause_here(
    ctx: FlowRunContext,
    *,
    reschedule: bool,
    key: str | None,
    timeout: float,
    wait_for_input: Any = None,
    message: str | None = None,
) -> Any:
    """Pause (or suspend) the run of `ctx` from its own thread; see the module docstring."""
    store = ctx.store
    _check_store(store)
    ctx.pause_calls += 1
    key = key or f"{'suspend' if reschedule else 'pause'}-{ctx.pause_calls}"
    input_type = _input_type(wait_for_input)
    keyset = _keyset(key) if input_type is not None else None
    if key in _used_keys(ctx):
        return _load_input(input_type, keyset, ctx.flow_run.id)
    store.flush_runs()  # the run (and what it did so far) is on record before it waits
    if input_type is not None:
        assert keyset is not None
        input_type.save(keyset, flow_run_id=ctx.flow_run.id, _sync=True)
    state = paused_state(
        reschedule=reschedule, key=key, timeout=timeout, keyset=keyset, message=message
    )
    if reschedule:
        ctx.used_pause_keys = None
        raise Pause(f"Flow run {ctx.flow_run.name!r} suspended", state=state)
    accepted = store.propose_flow_run_state(ctx.flow_run, state)
    if accepted.type is not StateType.PAUSED:
        raise RuntimeError(f"flow run {ctx.flow_run.id} could not pause: it is {accepted.name}")
    store.flush_runs()
    _used_keys(ctx).add(key)
    _wait_for_resume(ctx, accepted, timeout)
    return _load_input(input_type, keyset, ctx.flow_run.id)


def _wait_for_resume(ctx: FlowRunContext, paused: State[Any], timeout: float) -> None:
    import time

    store, run = ctx.store, ctx.flow_run
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            store.propose_flow_run_state(
                run, State(StateType.RUNNING, message="The pause timed out")
            )
            raise FlowPauseTimeout(
                f"Flow run {run.name!r} was paused and not resumed within {timeout:g} s"
            )
        current = store.wait_for_flow_run_states({run.id: paused.id}, min(left, WATCH_WAIT_S))
        row = current.get(run.id)
        if row is None or row.id == paused.id:
            continue
        _adopt_state(ctx, row)
        if row.type == StateType.RUNNING.value:
            return
        if row.type == StateType.PAUSED.value:  # paused again by another pause: wait on
            paused = run.state if run.state is not None else paused
            continue
        raise PrefectException(
            f"Flow run {run.name!r} was paused and is now {row.name}: {row.message or ''}".rstrip(
                ": "
            )
        )


def _adopt_state(ctx: FlowRunContext, row: StateRow) -> None:
    """Make the state someone else recorded the run's state in this process."""
    from vibepiper.runs import state_from_row

    ctx.flow_run.state = state_from_row(row, f"flow run {ctx.flow_run.id}")


def _input_type(wait_for_input: Any) -> Any:
    if wait_for_input is None:
        return None
    from vibepiper.input.run_input import run_input_subclass_from_type

    return run_input_subclass_from_type(wait_for_input)


def _keyset(key: str) -> dict[str, str]:
    from vibepiper.input.run_input import keyset_from_base_key

    return dict(keyset_from_base_key(key))


def _load_input(input_type: Any, keyset: dict[str, str] | None, flow_run_id: uuid.UUID) -> Any:
    if input_type is None or keyset is None:
        return None
    return input_type.load(keyset, flow_run_id=flow_run_id, _sync=True)


# --- requests from outside ------------------------------------------------------------
def at_task_boundary(ctx: FlowRunContext) -> None:
    """A task is about to be called in the run of `ctx`, which was asked to pause or
    suspend: do so now, if this is the flow's own thread and the request still stands."""
    if ctx.thread_id != threading.get_ident():
        return
    requested, ctx.pause_request = ctx.pause_request, None
    run = ctx.flow_run
    row = ctx.store.wait_for_flow_run_states({run.id: None}, 0).get(run.id)
    if row is None or row.type != StateType.RUNNING.value or row.name != requested:
        return  # withdrawn, or the run moved on
    reschedule = REQUEST_NAMES[requested]
    timeout = float(row.details.get("pause_timeout_seconds") or DEFAULT_TIMEOUT_S)
    _wait_for_started_tasks(ctx)
    _adopt_state(ctx, row)
    what = "suspension" if reschedule else "pause"
    pause_here(
        ctx,
        reschedule=reschedule,
        key=f"requested-{row.id}",
        timeout=timeout,
        message=f"Acknowledged the {what} requested: {row.message or ''}".rstrip(": "),
    )


def _wait_for_started_tasks(ctx: FlowRunContext) -> None:
    from vibepiper.futures import wait

    while True:
        with ctx.lock:
            pending = list(ctx.pending_futures)
        if not pending:
            return
        wait(pending)


class _Watcher:
    """One thread per store watching its flow runs in this process for pause requests."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.contexts: dict[uuid.UUID, FlowRunContext] = {}
        self.known: dict[uuid.UUID, uuid.UUID | None] = {}
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None

    def add(self, ctx: FlowRunContext) -> None:
        with self.cond:
            self.contexts[ctx.flow_run.id] = ctx
            self.known.setdefault(ctx.flow_run.id, None)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._loop, name="vibepiper-pause-watcher", daemon=True
                )
                self.thread.start()
            else:
                self.cond.notify()

    def remove(self, ctx: FlowRunContext) -> None:
        with self.cond:
            if self.contexts.get(ctx.flow_run.id) is ctx:
                del self.contexts[ctx.flow_run.id]
                self.known.pop(ctx.flow_run.id, None)

    def _loop(self) -> None:
        import time

        while True:
            with self.cond:
                while not self.contexts:
                    if not self.cond.wait(timeout=60.0) and not self.contexts:
                        self.thread = None
                        return
                known = dict(self.known)
            try:
                current = self.store.wait_for_flow_run_states(
                    known, WATCH_WAIT_S, poll_seconds=WATCH_POLL_S
                )
            except Exception:  # the server is away, the store closed: look again later
                time.sleep(1.0)
                continue
            self._note(current)

    def _note(self, current: dict[uuid.UUID, StateRow]) -> None:
        with self.cond:
            for run_id, row in current.items():
                if run_id not in self.known:
                    continue
                self.known[run_id] = row.id
                ctx = self.contexts.get(run_id)
                running = row.type == StateType.RUNNING.value
                if ctx is not None and running and row.name in REQUEST_NAMES:
                    ctx.pause_request = row.name


_watchers: dict[int, _Watcher] = {}
_watchers_lock = threading.Lock()


def watch(ctx: FlowRunContext) -> None:
    """Look out for pause requests for the run of `ctx` while it runs here."""
    store = ctx.store
    if not getattr(store, "shared", True):
        return
    ctx.thread_id = threading.get_ident()
    with _watchers_lock:
        watcher = _watchers.get(id(store))
        if watcher is None or watcher.store is not store:
            watcher = _watchers[id(store)] = _Watcher(store)
    watcher.add(ctx)


def unwatch(ctx: FlowRunContext) -> None:
    watcher = _watchers.get(id(ctx.store))
    if watcher is not None and watcher.store is ctx.store:
        watcher.remove(ctx)

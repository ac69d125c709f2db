"""The loop shared by `vibepiper worker start` and `serve()`: claim, run, heartbeat, supervise.

Where a run runs is the loop's `infrastructure` (`infrastructure.py`): a subprocess of
the worker (process pools, `serve()`) or a container (docker pools); the loop sees each
started run only through its `RunHandle`.

Threads (the loop does blocking HTTP and waits on processes, so threads rather than
asyncio; none of them runs user code, which lives in the run processes):

- the *main* thread (the one calling `RunLoop.run`) starts every run process: a run
  process dies with the thread that started it (`PR_SET_PDEATHSIG`), and this thread
  lives as long as the loop (a container, which may need its image pulled first, is
  started on its run's waiter thread instead);
- a *claimer* long-polls `POST /workers/claim` while a slot is free (`limit`), so a
  run that comes due is claimed at once, and hands claimed runs to the main thread;
- a *heartbeater* reports the held runs every `heartbeat_seconds`; the answer names
  runs to cancel, which get SIGTERM, then SIGKILL after `cancel_grace` seconds;
- a *cancellation watcher* keeps a long poll (`POST /workers/cancellations`) open while
  runs are held, so a cancel reaches its run at once rather than at the next beat;
- one *waiter* per run waits for its process and settles the end: a process that
  exited without a final state is marked Crashed ("flow run process exited with
  signal 9 (SIGKILL)"), or Cancelled if it was being cancelled, and the flow's
  `on_crashed` / `on_cancellation` hooks then run in a fresh process from the same
  code (`execute --hooks`), never in the worker.

Stopping (`stop` set, SIGINT/SIGTERM in the CLI and `serve`): no more claims; held
runs are cancelled (SIGTERM, so they end Cancelled and run their hooks; SIGKILL after
the grace period); runs claimed but not started yet go back to Scheduled. With
`run_once`, the loop claims once and waits for those runs to finish instead.

A server that does not answer is reported once ("server unreachable ... retrying")
and retried with capped backoff; runs keep running meanwhile.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vibepiper.telemetry import tracing
from vibepiper.workers.infrastructure import (
    ExitReport,
    Infrastructure,
    ProcessInfrastructure,
    RunHandle,
    RunRequest,
    StartFailed,
)
from vibepiper.workers.job_configuration import PoolTemplate, job_configuration
from vibepiper.workers.process import SourceError, run_env

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.schemas.deployments import ClaimedRun

LONG_POLL_SECONDS = 0.8
"""How long one claim waits on the server for a run to come due. A stopping loop waits
for the claim in flight (a run it returns is handed back, not lost), so this bounds how
long Ctrl-C takes on an idle worker. The server re-checks for due runs every 100 ms
during the wait anyway, so a shorter poll adds little to its load."""
HEARTBEAT_SECONDS = 2.0
WATCH_SECONDS = 5.0
"""How long one cancellation watch waits on the server. A run started meanwhile joins
the next watch; until then its heartbeat (every `HEARTBEAT_SECONDS`) carries a cancel."""
CANCEL_GRACE_SECONDS = 3.0
MAX_BACKOFF_SECONDS = 10.0
CLAIM_BATCH = 10
"""Most runs one claim asks for when the loop has no `limit`."""


def print_line(message: str) -> None:
    """The default output of a worker: one timestamped line per event."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


@dataclass
class HeldRun:
    """A claimed run the loop is responsible for until its process (or container) ends."""

    claimed: ClaimedRun
    handle: RunHandle | None = None  # None until the run has started
    cancelling: bool = False
    killer: threading.Timer | None = None
    pid_reported: bool = False  # the server has recorded the run's host:pid

    @property
    def id(self) -> uuid.UUID:
        return self.claimed.flow_run.id

    @property
    def label(self) -> str:
        run, deployment = self.claimed.flow_run, self.claimed.deployment
        where = f"{deployment.flow_name}/{deployment.name}"
        return f"flow run {run.name!r} ({run.id}) of deployment {where!r}"


def _beat_wait(interval: float, failures: int) -> float:
    """Seconds until the next heartbeat: the interval, or sooner after failed beats
    (0.2 s doubling), so a server back after a blip hears from the worker at once."""
    if failures == 0:
        return interval
    return min(interval, 0.2 * 2.0 ** min(failures - 1, 10))


class _Connection:
    """Says once that the server is unreachable, and once that it is back."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self._echo = echo
        self._lock = threading.Lock()
        self._down = False

    def failed(self, exc: Exception) -> None:
        with self._lock:
            first, self._down = not self._down, True
        if first:
            self._echo(f"Server unreachable ({exc}); retrying with backoff")

    def ok(self) -> None:
        with self._lock:
            back, self._down = self._down, False
        if back:
            self._echo("Server reachable again")

    @property
    def down(self) -> bool:
        """The last call failed: the server is unreachable (or busy) as far as we know."""
        return self._down


class RunLoop:
    """Claims due runs and runs each in its own process (see the module docstring).

    Pool mode: `work_pool_name` (and optionally `work_queue_names`). Serve mode:
    `deployment_ids` and no pool.
    """

    def __init__(
        self,
        client: SyncVibePiperClient,
        *,
        name: str,
        api_url: str,
        api_key: str | None = None,
        work_pool_name: str | None = None,
        work_queue_names: list[str] | None = None,
        deployment_ids: list[uuid.UUID] | None = None,
        limit: int | None = None,
        stop: threading.Event | None = None,
        run_once: bool = False,
        echo: Callable[[str], None] = print_line,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        wait_seconds: float = LONG_POLL_SECONDS,
        cancel_grace: float = CANCEL_GRACE_SECONDS,
        spares: int = 1,
        infrastructure: Infrastructure | None = None,
    ) -> None:
        from vibepiper.client._client import SyncVibePiperClient
        from vibepiper.client._layer import RetryPolicy

        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1 (got {limit})")
        self.client = client
        self.name = name
        self.work_pool_name = work_pool_name
        self.work_queue_names = work_queue_names or None
        self.deployment_ids = deployment_ids
        self.limit = limit
        self.stop = stop or threading.Event()
        self.run_once = run_once
        self.echo = echo
        self.heartbeat_seconds = heartbeat_seconds
        self.wait_seconds = wait_seconds
        self.cancel_grace = cancel_grace
        self.env = run_env(api_url, api_key)
        # a long poll outlives the default request timeout: its own client and connection
        self._claim_client = SyncVibePiperClient(
            api_url,
            api_key=api_key,
            timeout=wait_seconds + 10,
            retry=RetryPolicy(max_attempts=2),
        )
        # one try per beat: the loop backs off itself, in a wait that stopping cuts short
        # (a client's own retries sleep through it: a worker whose server went away took
        # a second more to stop)
        self._beat_client = SyncVibePiperClient(
            api_url, api_key=api_key, retry=RetryPolicy(max_attempts=1)
        )
        self._watch_client = SyncVibePiperClient(
            api_url, api_key=api_key, timeout=WATCH_SECONDS + 10, retry=RetryPolicy(max_attempts=1)
        )
        self.infrastructure: Infrastructure = infrastructure or ProcessInfrastructure(
            self.env, spares=spares
        )
        self._pool_template = PoolTemplate(
            None if work_pool_name is None else self._read_pool_template
        )
        self._inbox: queue.Queue[ClaimedRun] = queue.Queue()
        self._held: dict[uuid.UUID, HeldRun] = {}
        self._lock = threading.Condition()
        self._busy = 0  # runs claimed and not yet settled (what `limit` caps)
        self._claiming = False
        self._claims_done = False
        self._finished = threading.Event()
        # set to heartbeat at once (a run process started: the server learns its pid)
        self._beat_now = threading.Event()
        self._connection = _Connection(echo)

    # --- the main thread --------------------------------------------------------------
    def run(self) -> None:
        """Claim and run until `stop` is set (or, with `run_once`, one claim has finished)."""
        self.infrastructure.open()
        with contextlib.suppress(Exception):  # read again when the first run starts
            self._pool_template.get()
        claimer = threading.Thread(target=self._claim_loop, name="vibepiper-claimer", daemon=True)
        beater = threading.Thread(
            target=self._heartbeat_loop, name="vibepiper-heartbeat", daemon=True
        )
        watcher = threading.Thread(
            target=self._cancel_watch_loop, name="vibepiper-cancel-watch", daemon=True
        )
        claimer.start()
        beater.start()
        watcher.start()
        stopping = False
        try:
            while True:
                try:
                    claimed: ClaimedRun | None = self._inbox.get(timeout=0.1)
                except queue.Empty:
                    claimed = None
                if claimed is not None:
                    if stopping:
                        self._give_back(claimed)
                    else:
                        self._start(claimed)
                if self.stop.is_set() and not stopping:
                    stopping = True
                    self._cancel_all("the worker is stopping")
                with self._lock:
                    idle = not self._busy and not self._claiming
                    if idle and (stopping or (self.run_once and self._claims_done)):
                        break
        finally:
            self.stop.set()
            self._finished.set()
            self._beat_now.set()
            with self._lock:
                self._lock.notify_all()
            self.infrastructure.close()
            # a heartbeat to a server that went away may be retrying: not worth waiting for
            beater.join(timeout=1.0 if self._connection.down else self.heartbeat_seconds + 5)
            self._claim_client.close()
            self._beat_client.close()
            self._watch_client.close()  # a watch in flight ends with an error, ignored

    def _start(self, claimed: ClaimedRun) -> None:
        held = HeldRun(claimed)
        run = claimed.flow_run
        self.echo(f"Claimed {held.label}")
        from vibepiper.client.errors import ApiError

        try:
            configuration = self._resolved(self._job_configuration(claimed))
        except SourceError as exc:
            message = f"Could not build the run's job configuration: {exc}"
            self._set_state(run.id, "FAILED", message)
            self.echo(f"Failed {held.label}: {message}")
            self._release()
            return
        except (ValueError, ApiError) as exc:  # a missing variable or block, say
            message = f"Could not resolve the run's job variables: {exc}"
            self._set_state(run.id, "FAILED", message)
            self.echo(f"Failed {held.label}: {message}")
            self._release()
            return
        # the trace of the `run_deployment` call that made the run, while tracing is on
        traceparent = tracing.run_process_env(lambda: self.client.read_flow_run_states(run.id))
        request = RunRequest(
            claimed,
            configuration,
            self.env,
            traceparent,
            self.name,
            self.work_pool_name,
        )
        if self.infrastructure.start_on_main_thread:
            try:
                held.handle = self.infrastructure.start(request)
            except StartFailed as failed:
                self._start_failed(held, failed)
                return
            self._hold(held)
            waiter: Callable[..., None] = self._wait_for
            args: tuple[Any, ...] = (held,)
        else:
            self._hold(held)
            waiter, args = self._start_and_wait, (held, request)
        threading.Thread(
            target=waiter, args=args, name=f"vibepiper-run-{run.id}", daemon=True
        ).start()

    def _hold(self, held: HeldRun) -> None:
        with self._lock:
            self._held[held.id] = held
            self._lock.notify_all()  # the cancellation watch takes it in
        self._beat_now.set()

    def _start_failed(self, held: HeldRun, failed: StartFailed) -> None:
        details = None if failed.report is None else failed.report.details()
        self._set_state(held.id, failed.final, failed.message, details=details)
        self.echo(f"{failed.final.title()} {held.label}: {failed.message}")
        self._release()

    def _start_and_wait(self, held: HeldRun, request: RunRequest) -> None:
        """Start a run whose start may take long (an image pull) on its own thread, then
        supervise it as `_wait_for` does."""
        try:
            handle = self.infrastructure.start(request)
        except Exception as exc:  # StartFailed, or an engine answer nobody expected
            with self._lock:
                self._held.pop(held.id, None)
            failed = (
                exc
                if isinstance(exc, StartFailed)
                else StartFailed("CRASHED", f"Could not start the run: {exc}")
            )
            self._start_failed(held, failed)
            return
        with self._lock:
            held.handle = handle
            cancelled_meanwhile = held.cancelling
            self._lock.notify_all()
        self._beat_now.set()
        if cancelled_meanwhile:  # `cancel` came while it started: stop it now
            self._stop(held, handle)
        self._wait_for(held)

    def held_run_ids(self) -> set[uuid.UUID]:
        """The runs this loop holds now (any thread)."""
        with self._lock:
            return set(self._held)

    def _job_configuration(self, claimed: ClaimedRun) -> dict[str, Any]:
        """The run's job configuration: the pool's template filled with the deployment's
        and the run's job variables (see `job_configuration`).

        Raises:
            SourceError: the pool's template could not be read or used.
        """
        try:
            template = self._pool_template.get()
        except Exception as exc:
            raise SourceError(f"could not read work pool {self.work_pool_name!r}: {exc}") from None
        return job_configuration(template, claimed.deployment.job_variables, claimed.job_variables)

    def _read_pool_template(self) -> dict[str, Any]:
        assert self.work_pool_name is not None
        return dict(self.client.read_work_pool(self.work_pool_name).base_job_template or {})

    def _resolved(self, configuration: dict[str, Any]) -> dict[str, Any]:
        """The job configuration with its variable and block placeholders resolved now,
        as the run starts (what is stored keeps the placeholders; secrets reach only the
        run process's environment)."""
        from vibepiper.utilities.templating import contains_template, render_with_client

        if not contains_template(configuration):
            return configuration
        resolved: dict[str, Any] = render_with_client(configuration, self.client)
        return resolved

    def _give_back(self, claimed: ClaimedRun) -> None:
        """A run claimed while stopping goes back to Scheduled for another worker."""
        message = f"Returned by worker {self.name!r}, which stopped before starting it"
        self._set_state(claimed.flow_run.id, "SCHEDULED", message)
        self._release()

    # --- claims -----------------------------------------------------------------------
    def _free_slots(self) -> int:
        if self.limit is None:
            return CLAIM_BATCH
        return max(0, self.limit - self._busy)

    def _claim_loop(self) -> None:
        from vibepiper.client.errors import ApiError, ServerBusy, ServerUnreachable
        from vibepiper.exceptions import ObjectNotFound
        from vibepiper.schemas.deployments import ClaimRequest

        failures = 0
        last_error = ""
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self.stop.is_set() or self._free_slots() > 0)
                if self.stop.is_set():
                    return
                slots = self._free_slots()
                self._claiming = True
            try:
                claimed = self._claim_client.claim_runs(
                    ClaimRequest(
                        worker_name=self.name,
                        work_pool_name=self.work_pool_name,
                        work_queue_names=self.work_queue_names,
                        deployment_ids=self.deployment_ids,
                        limit=slots,
                        wait_seconds=self.wait_seconds,
                        heartbeat_interval_seconds=self.heartbeat_seconds,
                    )
                )
            except (ServerUnreachable, ServerBusy) as exc:
                self._connection.failed(exc)
                claimed, failures = [], failures + 1
            except Exception as exc:  # a refusal (404, 422) or a bad answer: say it once
                known = isinstance(exc, ApiError | ObjectNotFound)
                message = str(exc) if known else f"{type(exc).__name__}: {exc}"
                if message != last_error:
                    self.echo(f"Claiming runs failed: {message}")
                    last_error = message
                claimed, failures = [], failures + 1
            else:
                self._connection.ok()
                failures, last_error = 0, ""
            with self._lock:
                for one in claimed:
                    self._busy += 1
                    self._inbox.put(one)
                self._claiming = False
                if self.run_once and not failures:
                    self._claims_done = True
                    return
            if failures:
                self.stop.wait(min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 5)))

    # --- heartbeats and cancellation --------------------------------------------------
    def _heartbeat_loop(self) -> None:
        from vibepiper.client.errors import ServerBusy, ServerUnreachable
        from vibepiper.schemas.deployments import HeartbeatRequest

        failures = 0
        while not self._finished.is_set():
            with self._lock:
                ids = list(self._held)
                # each run process is reported once (until a heartbeat carrying it is
                # answered), not on every beat
                pids = {
                    run_id: held.handle.infrastructure_pid
                    for run_id, held in self._held.items()
                    if held.handle is not None and not held.pid_reported
                }
            try:
                answer = self._beat_client.heartbeat(
                    HeartbeatRequest(
                        worker_name=self.name,
                        work_pool_name=self.work_pool_name,
                        deployment_ids=self.deployment_ids,
                        flow_run_ids=ids,
                        heartbeat_interval_seconds=self.heartbeat_seconds,
                        infrastructure_pids=pids,
                    )
                )
            except (ServerUnreachable, ServerBusy) as exc:
                self._connection.failed(exc)
                failures += 1
            except Exception as exc:  # the heartbeat must go on
                self.echo(f"Heartbeat failed: {type(exc).__name__}: {exc}")
            else:
                failures = 0
                self._connection.ok()
                with self._lock:
                    for run_id in pids:
                        if run_id in self._held:
                            self._held[run_id].pid_reported = True
                for run_id in answer.cancel:
                    self.cancel(run_id, "cancellation was requested")
            self._beat_now.wait(_beat_wait(self.heartbeat_seconds, failures))
            self._beat_now.clear()

    def _cancel_watch_loop(self) -> None:
        """Keep a cancellation watch open on the server while runs are held, so a cancel
        reaches its run at once; the heartbeat still carries cancels if the watch fails."""
        from vibepiper.schemas.deployments import CancellationWatch

        answered_gone: set[uuid.UUID] = set()  # final on the server, still settling here

        def watched() -> list[uuid.UUID]:
            answered_gone.intersection_update(self._held)
            return [
                run_id
                for run_id, held in self._held.items()
                if held.handle is not None and not held.cancelling and run_id not in answered_gone
            ]

        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._finished.is_set() or bool(watched()))
                if self._finished.is_set():
                    return
                run_ids = watched()
            try:
                answer = self._watch_client.watch_cancellations(
                    CancellationWatch(flow_run_ids=run_ids, wait_seconds=WATCH_SECONDS)
                )
            except Exception:  # the heartbeat reports connection trouble
                self._finished.wait(self.heartbeat_seconds)
                continue
            with self._lock:
                answered_gone.update(answer.gone)
            for run_id in answer.cancel:
                self.cancel(run_id, "cancellation was requested")

    def cancel(self, flow_run_id: uuid.UUID, why: str) -> None:
        """SIGTERM the run's process (it ends Cancelled); SIGKILL it after the grace period.
        A run still starting is stopped as soon as it has started."""
        with self._lock:
            held = self._held.get(flow_run_id)
            if held is None or held.cancelling:
                return
            held.cancelling = True
            handle = held.handle
        self.echo(f"Cancelling {held.label}: {why}")
        if handle is not None:  # else `_start_and_wait` stops it once started
            self._stop(held, handle)

    def _stop(self, held: HeldRun, handle: RunHandle) -> None:
        """SIGTERM now, SIGKILL after the grace period (a no-op if it ended by then)."""
        handle.terminate()
        held.killer = threading.Timer(self.cancel_grace, handle.kill)
        held.killer.daemon = True
        held.killer.start()

    def _cancel_all(self, why: str) -> None:
        with self._lock:
            ids = list(self._held)
            self._lock.notify_all()
        for run_id in ids:
            self.cancel(run_id, why)

    # --- the end of a run -------------------------------------------------------------
    def _wait_for(self, held: HeldRun) -> None:
        assert held.handle is not None
        try:
            returncode: int | None = held.handle.wait()
        except Exception as exc:  # the engine stopped answering about it
            self.echo(f"Lost track of {held.label}: {exc}")
            returncode = None  # no longer held: the server's crash detector ends it
        if held.killer is not None:
            held.killer.cancel()
        try:
            if returncode is not None:
                self._settle(held, returncode)
        except Exception as exc:  # the waiter must always release the slot
            self.echo(f"Could not settle {held.label}: {exc}")
        finally:
            held.handle.release()
            with self._lock:
                if self._held.get(held.id) is held:  # not a later attempt's (a resume)
                    del self._held[held.id]
            self._release()

    def _settle(self, held: HeldRun, returncode: int) -> None:
        """Record how a run whose process ended finished, if its process did not."""
        from vibepiper.states import TERMINAL_STATE_TYPES, StateType

        assert held.handle is not None
        report = held.handle.exit_report(returncode)
        if self.stop.is_set() and self._connection.down:
            # stopping without a server: its run process kept what it recorded (the
            # outbox), and the crash detector ends a run left unfinished
            self.echo(f"Stopped with {held.label} ({report.how}): the server does not answer")
            return
        run = self._read_run(held.id)
        if run is None:
            self.echo(f"Finished {held.label}: the run no longer exists")
            return
        if run.state_type in TERMINAL_STATE_TYPES:
            self.echo(f"Finished {held.label}: {run.state_name}")
            return
        if run.state_type is StateType.PAUSED or self._suspended_by(held):
            # suspended: once resumed, a worker starts it again (maybe already has: the
            # run's state now is the next attempt's, not this process's to settle)
            self.echo(f"Stopped {held.label}: suspended")
            return
        noun, how = held.handle.noun, report.how
        if held.cancelling or run.state_type is StateType.CANCELLING:
            message = f"Cancelled: the {noun} {how} before it recorded a final state"
            final = "CANCELLED"
        else:
            message = f"Crashed: the {noun} {how} without recording a final state"
            final = "CRASHED"
        message += _last_lines(report)
        accepted = self._set_state(held.id, final, message, details=report.details())
        self.echo(f"Finished {held.label}: {final.title()} ({how})")
        if accepted:
            problem = held.handle.run_hooks()
            if problem is not None:
                self.echo(f"The hooks of {held.label} {problem}")

    def _suspended_by(self, held: HeldRun) -> bool:
        """Whether the run was suspended since this worker claimed it (its process
        recorded Suspended and ended; a resume may have moved it on before we looked)."""
        from vibepiper.states import StateType

        claim = held.claimed.flow_run.state
        if claim is None:
            return False
        states = self.client.read_flow_run_states(held.id)
        ids = [state.id for state in states]
        if claim.id not in ids:
            return False
        later = states[ids.index(claim.id) + 1 :]
        return any(state.type is StateType.PAUSED for state in later)

    # --- small API helpers ----------------------------------------------------------
    def _read_run(self, flow_run_id: uuid.UUID) -> Any:
        from vibepiper.client.errors import ServerBusy, ServerUnreachable
        from vibepiper.exceptions import ObjectNotFound

        for attempt in range(10):
            try:
                return self.client.read_flow_run(flow_run_id)
            except ObjectNotFound:
                return None
            except (ServerUnreachable, ServerBusy) as exc:
                self._connection.failed(exc)
                if self.stop.wait(min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)):
                    break  # stopping: no more waiting for the server
        raise RuntimeError(f"the server did not answer about flow run {flow_run_id}")

    def _set_state(
        self,
        flow_run_id: uuid.UUID,
        kind: str,
        message: str,
        *,
        force: bool = False,
        details: dict[str, Any] | None = None,
    ) -> bool:
        from vibepiper.client.errors import ApiError
        from vibepiper.exceptions import ObjectNotFound
        from vibepiper.schemas.api import SetState, StateCreate
        from vibepiper.states import StateType

        state = StateCreate(type=StateType(kind), message=message, state_details=details or {})
        body = SetState(state=state, force=force)
        try:
            result = self.client.set_flow_run_state(flow_run_id, body)
        except (ApiError, ObjectNotFound) as exc:
            self.echo(f"Could not set flow run {flow_run_id} {kind.title()}: {exc}")
            return False
        return result.status == "ACCEPT"

    def _release(self) -> None:
        """A claimed run is settled: its slot is free again."""
        with self._lock:
            self._busy -= 1
            self._lock.notify_all()


def _last_lines(report: ExitReport) -> str:
    """The last lines the run printed, for a Crashed or Cancelled message."""
    if not report.last_lines:
        return ""
    return ".\nLast lines of its output:\n" + "\n".join(report.last_lines)

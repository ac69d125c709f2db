"""Where a claimed run runs: the infrastructure a `RunLoop` starts it on, and the handle
it supervises the run through.

The loop (`base.RunLoop`) claims, heartbeats, cancels and settles runs the same way for
every pool type; what differs is behind two small interfaces:

- an `Infrastructure` starts a run from its rendered job configuration and gives back a
  `RunHandle`, or raises `StartFailed` (the run then ends Failed or Crashed with its
  message);
- a `RunHandle` waits for the run to end, stops it (SIGTERM, then SIGKILL after the
  loop's grace period), explains how it ended (`ExitReport`), runs the flow's crash or
  cancellation hooks in the same code, and cleans up.

`ProcessInfrastructure` (process pools, `serve()`) runs each run as a subprocess of the
worker; `workers.docker.infrastructure.DockerInfrastructure` runs it in a container.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from vibepiper.workers.job_configuration import (
    FLOW_RUN_ID_ENV,
    PREFECT_FLOW_RUN_ID_ENV,
    RunSetup,
    run_setup,
)
from vibepiper.workers.process import (
    SourceError,
    SparePool,
    Workdir,
    describe_exit,
    kill_group,
    prepare_workdir,
    run_hooks_process,
    start_run_process,
)

if TYPE_CHECKING:
    from vibepiper.schemas.deployments import ClaimedRun

HOOKS_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class ExitReport:
    """How a run's process or container ended, in words and as data.

    `how` completes "the flow run process ..." ("exited with signal 9 (SIGKILL)");
    `reason` is what the Crashed state's details carry (`crash_reason`): "exit",
    "signal", "oom", "command-not-found", "image-not-found", "vanished"; `last_lines`
    are the last lines the run printed, when the infrastructure kept them.
    """

    how: str
    reason: str
    code: int | None = None
    last_lines: tuple[str, ...] = ()

    def details(self) -> dict[str, Any]:
        """What the worker-set Crashed or Cancelled state records of it."""
        return {"crash_reason": self.reason, "exit_code": self.code}


class InfrastructureUnavailable(RuntimeError):
    """The infrastructure cannot be used at all (no container engine answers): the
    worker does not start."""


class StartFailed(Exception):
    """The run could not start: it ends `final` ("FAILED": its code or configuration is
    wrong; "CRASHED": the infrastructure failed) with `message`."""

    def __init__(
        self,
        final: Literal["FAILED", "CRASHED"],
        message: str,
        report: ExitReport | None = None,
    ) -> None:
        super().__init__(message)
        self.final = final
        self.message = message
        self.report = report


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What an infrastructure needs to start one claimed run."""

    claimed: ClaimedRun
    configuration: Mapping[str, Any]  # rendered, its placeholders resolved
    env: Mapping[str, str]  # a run process's environment: the worker's, API URL and key
    trace_env: Mapping[str, str]  # the trace context of the call that made the run
    worker_name: str
    work_pool_name: str | None

    @property
    def api_url(self) -> str:
        return self.env["VIBEPIPER_API_URL"]

    @property
    def api_key(self) -> str | None:
        return self.env.get("VIBEPIPER_API_KEY")


class RunHandle(Protocol):
    """One started run, as the loop supervises it (any thread)."""

    noun: str
    """What runs it, for messages: "flow run process", "flow run container 'x'"."""
    infrastructure_pid: str
    """Reported once in a heartbeat ("host:pid"); concurrency leases name the same."""

    def wait(self) -> int:
        """Block until the run ends; its exit code (negative: killed by that signal)."""

    def terminate(self) -> None:
        """Ask the run to stop (SIGTERM); nothing if it has ended."""

    def kill(self) -> None:
        """Stop it now (SIGKILL); nothing if it has ended."""

    def exit_report(self, code: int) -> ExitReport: ...

    def run_hooks(self) -> str | None:
        """Run the flow's on_crashed / on_cancellation hooks where the run ran (same
        code, same environment), never in the worker; wait for them (bounded). What
        went wrong ("could not run (exited with code 1)"), or None."""

    def release(self) -> None:
        """The run is settled: remove what it left (temp dirs, containers)."""


class Infrastructure(Protocol):
    start_on_main_thread: ClassVar[bool]
    """True: `start` must run on the loop's main thread (a run process dies with the
    thread that started it); False: it may take long (an image pull) and runs on the
    run's own waiter thread."""

    def open(self) -> None: ...

    def start(self, request: RunRequest) -> RunHandle:
        """Start the run. Raises `StartFailed`."""

    def close(self) -> None: ...


# --- process pools -----------------------------------------------------------------


@dataclass
class ProcessHandle:
    """A run process started by `ProcessInfrastructure`."""

    process: subprocess.Popen[Any]
    run_id: uuid.UUID
    workdir: Workdir
    setup: RunSetup
    base_env: Mapping[str, str]
    noun: str = "flow run process"
    infrastructure_pid: str = field(init=False)

    def __post_init__(self) -> None:
        self.infrastructure_pid = f"{socket.gethostname()}:{self.process.pid}"

    def wait(self) -> int:
        code = self.process.wait()
        kill_group(self.process)  # what the run started and left behind
        return code

    def terminate(self) -> None:
        try:
            self.process.terminate()
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        if self.process.poll() is None:
            kill_group(self.process)

    def exit_report(self, code: int) -> ExitReport:
        return ExitReport(describe_exit(code), "signal" if code < 0 else "exit", code)

    def run_hooks(self) -> str | None:
        env = self.setup.environment(self.base_env)
        process = run_hooks_process(self.run_id, self.setup.cwd, env)
        try:
            code = process.wait(timeout=HOOKS_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            kill_group(process)
            process.wait()
            return f"did not finish in {HOOKS_TIMEOUT_SECONDS:g} s"
        return None if code == 0 else f"could not run ({describe_exit(code)})"

    def release(self) -> None:
        self.workdir.remove()


class ProcessInfrastructure:
    """Each run in a subprocess of the worker, in the deployment's directory; one spare
    process kept ready (`SparePool`) so a plain run skips the interpreter start."""

    start_on_main_thread: ClassVar[bool] = True

    def __init__(self, env: Mapping[str, str], *, spares: int = 1) -> None:
        self._spares = SparePool(dict(env), size=spares) if spares > 0 else None

    def open(self) -> None:
        if self._spares is not None:
            self._spares.fill()

    def close(self) -> None:
        if self._spares is not None:
            self._spares.close()

    def start(self, request: RunRequest) -> RunHandle:
        run, deployment = request.claimed.flow_run, request.claimed.deployment
        workdir: Workdir | None = None
        try:
            workdir = prepare_workdir(deployment.source, deployment.path)
            setup = run_setup(request.configuration, workdir.path)
            if not setup.cwd.is_dir():
                raise SourceError(f"directory {setup.cwd} does not exist")
        except SourceError as exc:
            if workdir is not None:
                workdir.remove()
            raise StartFailed("FAILED", f"Could not fetch the deployment's code: {exc}") from None
        base_env = {**request.env, **request.trace_env}
        env = setup.environment(base_env)
        try:
            process = None
            if self._spares is not None and setup.plain and not request.trace_env:
                # a spare's environment and output are fixed when it starts: runs with
                # their own variables, command or output pay a cold start
                process = self._spares.hand(run, setup.cwd)
            if process is None:
                if setup.command is not None:
                    env = {
                        **env,
                        FLOW_RUN_ID_ENV: str(run.id),
                        PREFECT_FLOW_RUN_ID_ENV: str(run.id),
                    }
                process = start_run_process(
                    run.id, setup.cwd, env, command=setup.command, stream_output=setup.stream_output
                )
        except OSError as exc:
            workdir.remove()
            raise StartFailed("CRASHED", f"Could not start the flow run process: {exc}") from None
        if self._spares is not None:
            self._spares.fill()
        return ProcessHandle(process, run.id, workdir, setup, base_env)

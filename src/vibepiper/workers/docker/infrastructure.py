"""Flow runs in containers: the infrastructure of `docker` work pools.

Talks to a container engine through the Docker Engine API (`docker.from_env()`: the
`DOCKER_HOST` variable, else the default socket), so Docker and Podman's compatible API
both work. For each claimed run it:

1. turns the rendered job configuration into a container (`config.container_spec`);
2. makes sure the image is there, following its pull policy (`IfNotPresent`, `Always`,
   `Never`), and pulls it if needed;
3. creates and starts the container; what the engine refuses (no such image, no such
   command) ends the run Crashed, naming it, and leaves no container behind;
4. follows its output (`logs.ContainerLogs`) and waits for it; a container that ended
   without a final state is explained from the engine's own record (`diagnosis`):
   killed for memory, a signal, an exit code, removed by someone else;
5. removes it once settled unless the job says `auto_remove: false` (the worker
   removes it itself rather than the engine, so the exit status can still be read).

Cancelling sends SIGTERM to the container (the run ends Cancelled and runs its hooks),
then SIGKILL after the loop's grace period; hooks of a run that ended without recording
a final state run in a new container from the same image and configuration.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from vibepiper.workers.docker.config import (
    LABEL_FLOW_RUN_ID,
    LABEL_ROLE,
    ContainerSpec,
    container_spec,
)
from vibepiper.workers.docker.diagnosis import diagnose, start_error_report
from vibepiper.workers.docker.logs import ContainerLogs
from vibepiper.workers.docker.reconcile import Reconciler
from vibepiper.workers.infrastructure import (
    HOOKS_TIMEOUT_SECONDS,
    ExitReport,
    InfrastructureUnavailable,
    RunHandle,
    RunRequest,
    StartFailed,
)
from vibepiper.workers.process import SourceError

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient

VANISHED = -1000
"""The exit code `wait` gives for a container removed while it ran."""
WAIT_SLICE_SECONDS = 30
WAIT_RETRIES = 120
"""Errors in a row (a second apart) before a worker gives up watching a container."""


def engine_unreachable_message(exc: Exception) -> str:
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return (
        f"Cannot reach a container engine at {where} ({type(exc).__name__}: {exc}). Start "
        "Docker, or Podman's API (podman system service), and set DOCKER_HOST to its socket."
    )


class DockerInfrastructure:
    """Starts each run in a container of its job configuration's image."""

    start_on_main_thread: ClassVar[bool] = False

    def __init__(
        self,
        client: SyncVibePiperClient,
        *,
        echo: Callable[[str], None],
        pool: str | None = None,
        held: Callable[[], set[uuid.UUID]] | None = None,
        grace: float = 3.0,
    ) -> None:
        self._client = client
        self._echo = echo
        self._engine: Any = None
        self._pool = pool
        self._held = held
        self._grace = grace
        self._reconciler: Reconciler | None = None

    def open(self) -> None:
        """Connect to the engine (`InfrastructureUnavailable` names where it looked)."""
        import docker

        if self._engine is not None:
            return
        try:
            engine = docker.from_env()
            engine.ping()
        except Exception as exc:
            raise InfrastructureUnavailable(engine_unreachable_message(exc)) from None
        self._engine = engine
        if self._pool is not None and self._held is not None:
            self._reconciler = Reconciler(
                engine, self._client, self._pool, self._held, grace=self._grace, echo=self._echo
            )
            self._reconciler.start()

    def close(self) -> None:
        if self._reconciler is not None:
            self._reconciler.stop()
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close()

    def start(self, request: RunRequest) -> RunHandle:
        run = request.claimed.flow_run
        deployment = request.claimed.deployment
        try:
            spec = container_spec(
                request.configuration,
                flow_run_id=run.id,
                flow_run_name=run.name,
                deployment_id=deployment.id,
                deployment_path=deployment.path,
                api_url=request.api_url,
                api_key=request.api_key,
                worker_name=request.worker_name,
                work_pool_name=request.work_pool_name,
                extra_env=request.trace_env,
            )
        except SourceError as exc:
            raise StartFailed("FAILED", f"Could not build the run's container: {exc}") from None
        self._ensure_image(spec)
        container = self._create(spec, run.id)
        try:
            for network in spec.extra_networks:
                self._engine.networks.get(network).connect(container)
            container.start()
        except Exception as exc:
            with contextlib.suppress(Exception):
                container.remove(force=True)
            raise self._start_failure(spec, exc) from None
        echo = None
        if spec.stream_output:
            short = str(run.id)[:8]

            def echo(line: str) -> None:
                self._echo(f"{short}| {line}")

        # a client of its own: its log stream and its wait each hold a connection for the
        # run's whole life, which would soon fill a shared client's connection pool
        import docker

        try:
            engine = docker.from_env()
            own = engine.containers.get(container.id)
        except Exception:  # the shared client still works
            engine, own = None, container
        logs = ContainerLogs(own, run.id, self._client.create_logs, echo=echo)
        return ContainerHandle(engine or self._engine, own, spec, run.id, logs, owns=engine)

    def _ensure_image(self, spec: ContainerSpec) -> None:
        import docker.errors

        if spec.pull_policy == "Never":
            return
        if spec.pull_policy == "IfNotPresent":
            try:
                self._engine.images.get(spec.image)
                return
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as exc:
                raise self._start_failure(spec, exc) from None
        login = spec.registry_login
        if login:
            try:
                self._engine.login(
                    username=login.get("username"),
                    password=login.get("password"),
                    registry=login.get("registry_url"),
                    reauth=bool(login.get("reauth", True)),
                )
            except Exception as exc:
                raise StartFailed(
                    "CRASHED",
                    f"Crashed: could not log in to registry {login.get('registry_url')!r} "
                    f"to pull {spec.image!r}: {_first_line(exc)}",
                ) from None
        try:  # the SDK splits the reference (no tag: latest)
            for line in self._engine.api.pull(spec.image, stream=True, decode=True):
                if isinstance(line, dict) and line.get("error"):
                    raise RuntimeError(line["error"])
        except Exception as exc:
            if spec.pull_policy == "Always" and self._has_image(spec.image):
                self._echo(f"Could not pull {spec.image} ({exc}); using the local image")
                return
            raise StartFailed(
                "CRASHED",
                f"Crashed: image {spec.image!r} not found: not on this engine, and pulling it "
                f"failed: {_first_line(exc)}",
                ExitReport("image not found", "image-not-found"),
            ) from None

    def _has_image(self, image: str) -> bool:
        try:
            self._engine.images.get(image)
        except Exception:
            return False
        return True

    def _create(self, spec: ContainerSpec, run_id: uuid.UUID) -> Any:
        import docker.errors

        create = dict(spec.create)
        for attempt in range(3):
            try:
                return self._engine.containers.create(**create)
            except docker.errors.APIError as exc:
                if exc.status_code != 409 or attempt == 2:
                    raise self._start_failure(spec, exc) from None
                # a name taken: by this run's own leftover (a resumed run), or another's
                if not self._remove_leftover(create["name"], run_id):
                    create["name"] = f"{spec.name}-{attempt + 1}"
        raise AssertionError("unreachable")

    def _remove_leftover(self, name: str, run_id: uuid.UUID) -> bool:
        try:
            found = self._engine.containers.get(name)
        except Exception:
            return False
        if found.labels.get(LABEL_FLOW_RUN_ID) != str(run_id):
            return False
        with contextlib.suppress(Exception):
            found.remove(force=True)
        return True

    def _start_failure(self, spec: ContainerSpec, exc: Exception) -> StartFailed:
        text = getattr(exc, "explanation", None) or str(exc)
        argv0 = (spec.create.get("command") or ["?"])[0]
        reason, what = start_error_report(str(text), image=spec.image, argv0=argv0)
        if reason == "image-not-found" and self._has_image(spec.image):
            reason, what = "start-failed", _first_line(text)
        message = f"Crashed: the flow run container {spec.name!r} could not start: {what}"
        return StartFailed("CRASHED", message, ExitReport(what, reason))


class ContainerHandle:
    """One run's container, as the loop supervises it."""

    def __init__(
        self,
        engine: Any,
        container: Any,
        spec: ContainerSpec,
        run_id: uuid.UUID,
        logs: Any,
        *,
        owns: Any = None,
    ) -> None:
        self._engine = engine
        self._own_engine = owns  # closed on release
        self._container = container
        self._spec = spec
        self._run_id = run_id
        self._logs = logs
        self._stopped_by_worker = False
        self._vanished = False
        self.noun = f"flow run container {spec.name!r}"
        # the run process is the container's first process; its leases name this holder
        self.infrastructure_pid = f"{spec.create.get('hostname', spec.name)}:1"

    def wait(self) -> int:
        import docker.errors
        import requests.exceptions

        failures = 0
        while True:
            try:
                answer = self._container.wait(timeout=WAIT_SLICE_SECONDS)
            except requests.exceptions.ReadTimeout:
                continue  # still running
            except (requests.exceptions.ConnectionError, docker.errors.APIError) as exc:
                if _gone(exc):
                    self._vanished = True
                    return VANISHED
                failures += 1  # the engine is restarting, say: ask again, for a while
                if failures > WAIT_RETRIES:
                    raise
                time.sleep(1.0)
                continue
            break
        self._logs.join(5.0)
        with contextlib.suppress(Exception):
            self._container.reload()
        return int(answer.get("StatusCode", -1))

    def terminate(self) -> None:
        self._stopped_by_worker = True
        with contextlib.suppress(Exception):
            self._container.kill(signal="SIGTERM")

    def kill(self) -> None:
        self._stopped_by_worker = True
        with contextlib.suppress(Exception):
            self._container.kill()

    def exit_report(self, code: int) -> ExitReport:
        state: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            state = dict(self._container.attrs.get("State") or {})
        return diagnose(
            state,
            code=code,
            mem_limit=self._spec.mem_limit_bytes,
            last_lines=self._logs.last_lines(),
            stopped_by_worker=self._stopped_by_worker,
            vanished=self._vanished,
        )

    def run_hooks(self) -> str | None:
        """The hooks in a new container of the same image and configuration."""
        create = dict(self._spec.create)
        create["command"] = [
            "python",
            "-m",
            "vibepiper.workers.execute",
            "--hooks",
            str(self._run_id),
        ]
        create["name"] = f"{self._spec.name}-hooks"
        create["labels"] = {**create.get("labels", {}), LABEL_ROLE: "hooks"}
        try:
            hooks = self._engine.containers.create(**create)
        except Exception as exc:
            return f"could not run (its container was refused: {_first_line(exc)})"
        try:
            hooks.start()
            code = int(hooks.wait(timeout=HOOKS_TIMEOUT_SECONDS).get("StatusCode", -1))
        except Exception as exc:
            with contextlib.suppress(Exception):
                hooks.kill()
            return f"did not finish in {HOOKS_TIMEOUT_SECONDS:g} s ({_first_line(exc)})"
        finally:
            with contextlib.suppress(Exception):
                hooks.remove(force=True)
        return None if code == 0 else f"could not run (exited with code {code})"

    def release(self) -> None:
        if self._spec.auto_remove and not self._vanished:
            with contextlib.suppress(Exception):
                self._container.remove(force=True)
        if self._own_engine is not None:
            with contextlib.suppress(Exception):
                self._own_engine.close()


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _gone(exc: Exception) -> bool:
    """The engine says the container does not exist (Docker: 404; Podman answers some
    calls about a removed container with a 500 saying so)."""
    import docker.errors

    return isinstance(exc, docker.errors.NotFound) or "no such container" in str(exc).lower()

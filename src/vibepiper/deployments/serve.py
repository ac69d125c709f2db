"""`serve()` and `deploy()`: register deployments with the server.

`serve(*deployments)` registers them without a work pool and then runs their runs in
this process (scheduled ones and those triggered with `run_deployment` or the CLI)
until it is stopped. `deploy(*deployments, work_pool_name=...)` only registers them,
in a work pool, for `vibepiper worker start --pool P` processes to run. Both make each
deployment's automations those of its `triggers` (`vibepiper.deployments.triggers`).
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from vibepiper.deployments.runner import RunnerDeployment

if TYPE_CHECKING:
    from vibepiper.client import SyncVibePiperClient
    from vibepiper.docker import DockerImage


def _require_server() -> None:
    from vibepiper.exceptions import ConfigurationError
    from vibepiper.settings import get_settings

    if not get_settings().api_url:
        raise ConfigurationError(
            "deployments need a VibePiper server: run `vibepiper server start` and set "
            "VIBEPIPER_API_URL=http://127.0.0.1:4200/api"
        )


def serve(
    *deployments: RunnerDeployment,
    limit: int | None = None,
    pause_on_shutdown: bool = True,
    print_starting_message: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Register `deployments` and run their runs here until interrupted (Ctrl-C).

    Args:
        limit: at most this many runs at once in this process (default: no limit).
        pause_on_shutdown: pause the deployments when this process stops, so their
            schedules do not pile up runs nobody will run (serving again resumes them).
        stop: set it (from another thread) to stop serving, as Ctrl-C does.
    """
    if not deployments:
        raise ValueError("serve() needs at least one deployment (flow.to_deployment(...))")
    for deployment in deployments:
        if not isinstance(deployment, RunnerDeployment):
            raise TypeError(
                f"serve() takes deployments made by flow.to_deployment(...), "
                f"got {type(deployment).__name__}"
            )
        if deployment.work_pool_name is not None:
            raise ValueError(
                f"deployment {deployment.full_name!r} has work pool "
                f"{deployment.work_pool_name!r}: serve() runs deployments itself; use "
                "deploy() for work pools"
            )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}")
    from vibepiper.deployments.triggers import check_triggers

    for deployment in deployments:  # before a server is started for them
        check_triggers(deployment.full_name, deployment.triggers)

    try:
        _serve(deployments, limit, pause_on_shutdown, print_starting_message, stop)
    except KeyboardInterrupt:  # Ctrl-C before the loop took over the signals (starting up)
        print("Stopped serving.", file=sys.stderr, flush=True)


async def aserve(
    *deployments: RunnerDeployment,
    limit: int | None = None,
    pause_on_shutdown: bool = True,
    print_starting_message: bool = True,
) -> None:
    """`serve` for async code (Prefect's `aserve`): serves in a worker thread until the
    awaiting task is cancelled (Ctrl-C under `asyncio.run`) or the process gets
    SIGTERM, then stops as `serve` does (runs in progress finish, the deployments are
    paused with `pause_on_shutdown`) before returning."""
    import asyncio
    import functools
    import signal

    stop = threading.Event()
    loop = asyncio.get_running_loop()
    serving = loop.run_in_executor(
        None,
        functools.partial(
            serve,
            *deployments,
            limit=limit,
            pause_on_shutdown=pause_on_shutdown,
            print_starting_message=print_starting_message,
            stop=stop,
        ),
    )
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        stop.set()
        await serving
        raise
    finally:
        if on_main_thread:
            loop.remove_signal_handler(signal.SIGTERM)


def _serve(
    deployments: Sequence[RunnerDeployment],
    limit: int | None,
    pause_on_shutdown: bool,
    print_starting_message: bool,
    stop: threading.Event | None,
) -> None:
    from vibepiper.client import get_client

    with (
        _server_to_serve_from() as api_url,
        get_client(sync_client=True, api_url=api_url) as client,
    ):
        ids = register(client, deployments)
        if print_starting_message:
            _print_serving(deployments, api_url)
        try:
            _run_serve_loop(client, ids, limit, stop)
        finally:
            if pause_on_shutdown:
                _pause_quietly(client, ids)


@contextmanager
def _server_to_serve_from() -> Iterator[str | None]:
    """The server the deployments go to: `VIBEPIPER_API_URL` (yields None), or else, as
    Prefect does, a server started in this process over the embedded store's database,
    stopped when serving stops (yields its API URL; the run processes get it)."""
    from vibepiper.settings import get_settings

    if get_settings().api_url:
        yield None
        return
    from vibepiper.cli.server import start_background_server

    server = start_background_server()
    print(
        f"No VIBEPIPER_API_URL: started a VibePiper server in this process for serve(), "
        f"dashboard {server.dashboard_url} (API {server.api_url}); it stops with serve().",
        file=sys.stderr,
        flush=True,
    )
    try:
        yield server.api_url
    finally:
        server.stop()


def _run_serve_loop(
    client: SyncVibePiperClient,
    ids: list[uuid.UUID],
    limit: int | None,
    stop: threading.Event | None,
) -> None:
    from vibepiper.workers.serve import serve_deployments

    try:
        serve_deployments(client, ids, limit=limit, stop=stop)  # returns on SIGINT/SIGTERM
    except KeyboardInterrupt:  # a Ctrl-C outside the main thread's handler
        pass
    print("Stopped serving.", file=sys.stderr, flush=True)


def _pause_quietly(client: SyncVibePiperClient, ids: list[uuid.UUID]) -> None:
    """Pause the served deployments, best effort: one try each, none once the server
    failed to answer (a stopping process does not wait for a server that went away)."""
    import dataclasses

    from vibepiper.client import ApiError, ServerBusy, ServerUnreachable
    from vibepiper.exceptions import ObjectNotFound

    patient, client.retry = client.retry, dataclasses.replace(client.retry, max_attempts=1)
    try:
        for deployment_id in ids:
            try:
                client.pause_deployment(deployment_id)
            except (ServerUnreachable, ServerBusy):
                return
            except (ApiError, ObjectNotFound):
                pass
    finally:
        client.retry = patient


def deploy(
    *deployments: RunnerDeployment,
    work_pool_name: str | None = None,
    image: str | DockerImage | None = None,
    build: bool = True,
    push: bool = True,
    print_next_steps: bool = True,
) -> list[uuid.UUID]:
    """Register `deployments` in a work pool (theirs, or `work_pool_name`); their ids.

    With `image` (docker pools), the image is built (`build`) from the first
    deployment's directory and pushed (`push`) first, and every deployment runs in it
    (`vibepiper.deployments.images`).

    Raises ValueError when a deployment has no pool or `image` is given for a pool that
    is not a docker pool, ObjectNotFound naming a pool that does not exist,
    ImageBuildError / ImagePushError.
    """
    if not deployments:
        raise ValueError("deploy() needs at least one deployment (flow.to_deployment(...))")
    prepared = []
    for deployment in deployments:
        pool = deployment.work_pool_name or work_pool_name
        if pool is None:
            raise ValueError(
                f"deployment {deployment.full_name!r} has no work pool: pass "
                "work_pool_name=... (or use serve() to run it without one)"
            )
        deployment.work_pool_name = pool
        prepared.append(deployment)
    _require_server()
    from vibepiper.client import get_client

    with get_client(sync_client=True) as client:
        pools = {d.work_pool_name for d in prepared if d.work_pool_name}
        check_pools(client, pools, image=image is not None)
        if image is not None:
            from vibepiper.deployments.images import prepare_image

            prepare_image(prepared, image, build=build, push=push)
        ids = register(client, prepared)
    if print_next_steps:
        _print_deployed(prepared)
    return ids


def check_pools(client: SyncVibePiperClient, pools: set[str], *, image: bool = False) -> None:
    """Every pool exists (ObjectNotFound naming the one that does not); with `image`,
    every pool is a docker pool (ValueError naming the one that is not)."""
    from vibepiper.exceptions import ObjectNotFound

    for pool in sorted(pools):
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            raise ObjectNotFound(
                f"work pool {pool!r} does not exist; create it with "
                f"`vibepiper work-pool create {pool}`"
            ) from None
        if image and found.type != "docker":
            raise ValueError(
                f"image= needs a docker work pool; work pool {pool!r} is a {found.type} pool "
                f"(create one with `vibepiper work-pool create NAME --type docker`)"
            )


def register(
    client: SyncVibePiperClient, deployments: Sequence[RunnerDeployment]
) -> list[uuid.UUID]:
    """Create or replace each deployment on the server, then replace the automations it
    owns with its triggers' (`vibepiper.deployments.triggers`); their ids, in order.

    Every deployment and trigger is checked before the first one is registered.
    """
    from vibepiper.deployments.triggers import check_triggers

    bodies = [deployment.for_server(client).to_create() for deployment in deployments]
    for deployment in deployments:
        check_triggers(deployment.full_name, deployment.triggers)
    return [
        deployment.register_checked(client, body)
        for deployment, body in zip(deployments, bodies, strict=True)
    ]


def _print_serving(deployments: Sequence[RunnerDeployment], local_api: str | None = None) -> None:
    lines = ["Serving deployment(s):"]
    for deployment in deployments:
        schedules = ", ".join(s.describe() for s in deployment.schedules) or "no schedule"
        if deployment.triggers:
            schedules += f"; {_triggers_text(deployment)}"
        paused = " [paused]" if deployment.paused else ""
        lines.append(f"  {deployment.full_name}  ({schedules}){paused}")
    first = deployments[0].full_name
    lines.append("Trigger a run:")
    prefix = f"VIBEPIPER_API_URL={local_api} " if local_api else ""
    lines.append(f"  {prefix}vibepiper deployment run '{first}'")
    lines.append(f"  or from Python: run_deployment('{first}')")
    lines.append("Stop with Ctrl-C.")
    print("\n".join(lines), flush=True)


def _triggers_text(deployment: RunnerDeployment) -> str:
    count = len(deployment.triggers)
    return f"{count} trigger{'s' if count != 1 else ''}"


def _print_deployed(deployments: Sequence[RunnerDeployment]) -> None:
    for deployment in deployments:
        triggers = f" with {_triggers_text(deployment)}" if deployment.triggers else ""
        print(
            f"Deployed {deployment.full_name!r} to work pool {deployment.work_pool_name!r}"
            f"{triggers}."
        )
    pools = sorted({d.work_pool_name for d in deployments if d.work_pool_name})
    print("Run it with:")
    print(f"  vibepiper deployment run '{deployments[0].full_name}'")
    print("Start a worker to pick up its runs:")
    for pool in pools:
        print(f"  vibepiper worker start --pool {pool}")

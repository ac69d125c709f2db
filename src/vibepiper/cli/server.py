"""`vibepiper server`: serve the REST API; migrate, roll back or reset its database.

The server package (FastAPI, uvicorn, async SQLAlchemy) is imported inside the
commands, so `vibepiper --help` does not load it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

import typer

from vibepiper.cli import _output, choices
from vibepiper.utilities.urls import redact_url

app = typer.Typer(
    help="Serve the REST API and manage its database.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
database_app = typer.Typer(
    help="Migrate, roll back or reset the server's database (VIBEPIPER_DATABASE_URL).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(database_app, name="database")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


# Seconds a stopping server lets requests in flight finish before cancelling them. Real
# requests take milliseconds; what is still open after this is a long poll (a worker's
# claim, a task waiting for a concurrency slot) whose client retries later.
SHUTDOWN_GRACE_SECONDS = 0.5


@app.command("start")
def start(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes the server.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to bind.")] = 4200,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            **choices.one_of(
                choices.LOG_LEVELS, help="uvicorn's log level (any case).", metavar="LEVEL"
            ),
        ),
    ] = "info",
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log a line for every request (workers' polls included).",
        ),
    ] = False,
) -> None:
    """Serve the dashboard at / and the API under /api (docs at /api/docs), migrating the
    database first. Ctrl-C stops it within a second."""
    from dataclasses import replace

    _check_port_free(host, port)
    settings = _settings()
    server = _server_modules()
    if settings.server_migrate_on_start:
        _on_database(
            settings.database_url, lambda: server.database.migrate_database(settings.database_url)
        )
    application = server.create_app(replace(settings, server_migrate_on_start=False))
    typer.echo(
        f"VibePiper dashboard on http://{host}:{port}/ , API on http://{host}:{port}/api "
        f"(docs: /api/docs), database {redact_url(settings.database_url)}",
        err=True,
    )
    _serve(application, host, port, log_level, access_log=access_log)


@app.command("metrics")
def metrics(
    name: Annotated[
        str | None,
        typer.Option("--name", help="Only the metrics whose name starts with this."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the server's Prometheus metrics (`GET /api/metrics`, VIBEPIPER_API_URL).

    Text: the exposition as Prometheus scrapes it. `--json`: one object per sample
    ({name, labels, value}).
    """
    from vibepiper.cli import _api

    text = _api.client().read_metrics()
    if not as_json:
        lines = text.splitlines()
        if name:
            lines = [line for line in lines if _metric_line_name(line).startswith(name)]
        typer.echo("\n".join(lines))
        return
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        _output.fail("--json needs prometheus_client: pip install 'vibepiper[server]'")
    samples = [
        {"name": sample.name, "labels": sample.labels, "value": sample.value}
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not name or sample.name.startswith(name)
    ]
    _output.print_json(samples)


def _metric_line_name(line: str) -> str:
    """The metric a line of the exposition is about (`# HELP name ...` included)."""
    if line.startswith("# "):
        parts = line.split(" ", 3)
        return parts[2] if len(parts) > 2 else ""
    return line.split("{", 1)[0].split(" ", 1)[0]


def _check_port_free(host: str, port: int) -> None:
    """Fail in one line when `host:port` cannot be bound (checked on every address the
    server would listen on, with the same SO_REUSEADDR), before anything else happens."""
    import errno
    import socket

    where = f"{host}:{port}"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _output.fail(f"cannot listen on {where}: {exc.strerror}")
    for family, kind, proto, _name, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    _output.fail(
                        f"cannot listen on {where}: the address is already in use "
                        "(another server may be running; pick another --port)"
                    )
                _output.fail(f"cannot listen on {where}: {exc.strerror or exc}")


def _quiet_cancelled_requests(record: logging.LogRecord) -> bool:
    """While stopping: a request cancelled at the end of the grace period (a long poll)
    is expected, not an "Exception in ASGI application" with a traceback."""
    import asyncio

    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, asyncio.CancelledError):
        return False
    if str(record.msg).startswith("Cancel %s running task(s)"):
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg = "Cancelled %s open request(s) (long polls)"
    return True


def _serve(
    application: Any, host: str, port: int, log_level: str, *, access_log: bool = False
) -> None:
    """Run uvicorn until SIGINT/SIGTERM: say "stopping..." once, then stop within
    `SHUTDOWN_GRACE_SECONDS` of open requests (a second signal stops at once)."""
    import gc

    import uvicorn

    from vibepiper.server.app import begin_shutdown
    from vibepiper.workers.serve import print_stopping

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets=sockets)
            # What exists once the app has started lives as long as the process: keep
            # the cyclic garbage collector from walking it again. A full collection over
            # it took ~80 ms, an event-loop stall that large requests (a 10,000-run
            # backfill) triggered.
            gc.collect()
            gc.freeze()

        def handle_exit(self, sig: int, frame: Any) -> None:
            if not self.should_exit:
                print_stopping()
                logging.getLogger("uvicorn.error").addFilter(_quiet_cancelled_requests)
                begin_shutdown(application)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        # typed int, used as asyncio.timeout(seconds): a float is what it takes
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,  # type: ignore[arg-type]
    )
    server = Server(config)
    server.run()
    if not server.started:  # uvicorn logged why (e.g. the port was taken meanwhile)
        raise typer.Exit(3)


class BackgroundServer:
    """The server started inside a `serve()` process that has no VIBEPIPER_API_URL.

    DESIGN.md: "a feature that cannot work without a running server process ...
    `serve()` or `vibepiper server start` runs those services": the same app as `server
    start` (API, dashboard, scheduler and the other services) over the same database,
    served by uvicorn on a thread of the serve process until `stop()`.
    """

    def __init__(self, server: Any, thread: Any, host: str, port: int) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving (open requests get `SHUTDOWN_GRACE_SECONDS`) and wait for it."""
        from vibepiper.server.app import begin_shutdown

        begin_shutdown(self._server.config.app)
        self._server.should_exit = True
        self._thread.join(timeout)


def start_background_server(
    host: str = "127.0.0.1", port: int = 4200, start_timeout: float = 60.0
) -> BackgroundServer:
    """Serve the API, dashboard and services on a thread of this process, on `port` if
    it is free and on a free port otherwise; returns once it accepts requests.

    Raises ConfigurationError when the server's packages or its database cannot be used.
    """
    import socket
    import threading
    import time
    from dataclasses import replace

    import uvicorn

    from vibepiper.exceptions import ConfigurationError

    try:
        import vibepiper.server
        import vibepiper.server.database
    except ImportError as exc:
        raise ConfigurationError(
            f"serve() without VIBEPIPER_API_URL runs a server, which needs extra packages "
            f"({exc}); install 'vibepiper[server]'"
        ) from None
    settings = _settings()
    if settings.server_migrate_on_start:
        try:
            vibepiper.server.database.migrate_database(settings.database_url)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot use the database {redact_url(settings.database_url)}: {exc}"
            ) from None
    application = vibepiper.server.create_app(replace(settings, server_migrate_on_start=False))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.bind((host, 0))  # the usual port is taken: any free one
    chosen = int(listener.getsockname()[1])
    config = uvicorn.Config(
        application,
        log_level="warning",
        # typed int, used as asyncio.timeout(seconds): a float is what it takes
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    # off the main thread uvicorn installs no signal handlers: the serve loop owns them
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="vibepiper-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ConfigurationError(f"the server for serve() did not start on {host}:{chosen}")
            time.sleep(0.01)
    except BaseException:  # Ctrl-C while it starts, too: it must not outlive the call
        server.should_exit = True
        thread.join(2.0)
        listener.close()
        raise
    return BackgroundServer(server, thread, host, chosen)


@database_app.command("upgrade")
def upgrade(
    revision: Annotated[str, typer.Option("--revision", help="Target revision.")] = "head",
    as_json: JsonOption = False,
) -> None:
    """Migrate the database up to the latest schema (or --revision)."""
    settings = _settings()
    database = _server_modules().database
    _report(
        settings.database_url,
        "upgraded",
        as_json,
        lambda: database.migrate_database(settings.database_url, revision),
    )


@database_app.command("downgrade")
def downgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Target revision; 'base' drops everything.")
    ] = "-1",
    as_json: JsonOption = False,
) -> None:
    """Roll the database back one revision (or to --revision)."""
    settings = _settings()
    database = _server_modules().database
    _report(
        settings.database_url,
        "downgraded",
        as_json,
        lambda: database.downgrade_database(settings.database_url, revision),
    )


@database_app.command("reset")
def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete every flow, run, state and log, and recreate the schema."""
    settings = _settings()
    database = _server_modules().database
    where = redact_url(settings.database_url)
    if not yes and not typer.confirm(f"Delete all VibePiper data in {where}?", default=False):
        _output.fail("reset cancelled; nothing was deleted")
    _report(
        settings.database_url,
        "reset",
        as_json,
        lambda: database.reset_database(settings.database_url),
    )


def _settings() -> Any:
    from vibepiper.server.settings import load_server_settings

    return load_server_settings()


def _server_modules() -> Any:
    try:
        import vibepiper.server
        import vibepiper.server.database
    except ImportError as exc:
        _output.fail(f"the server needs extra packages ({exc}); install 'vibepiper[server]'")
    return vibepiper.server


def _report(url: str, action: str, as_json: bool, run: Callable[[], str | None]) -> None:
    revision = _on_database(url, run)
    shown = redact_url(url)
    if as_json:
        _output.print_json({"database": shown, "action": action, "revision": revision})
        return
    typer.echo(f"Database {shown} {action}; now at revision {revision or 'base'}.")


def _on_database(url: str, run: Callable[[], str | None]) -> str | None:
    """Run a migration step, turning database errors into one readable line."""
    from alembic.util import CommandError
    from sqlalchemy import exc as sa_exc

    try:
        return run()
    except CommandError as exc:
        _output.fail(f"cannot migrate {redact_url(url)}: {exc}")
    except sa_exc.DBAPIError as exc:
        _output.fail(f"cannot use the database {redact_url(url)}: {exc.orig}")
    except sa_exc.ArgumentError as exc:
        _output.fail(f"VIBEPIPER_DATABASE_URL is not a usable database URL: {exc}")

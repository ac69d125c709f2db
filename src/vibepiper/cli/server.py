"""`vibepiper server`: serve the REST API; migrate, roll back or reset its database.

The server package (FastAPI, uvicorn, async SQLAlchemy) is imported inside the
commands, so `vibepiper --help` does not load it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from vibepiper.cli import _output

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


@app.command("start")
def start(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 exposes the server.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to bind.")] = 4200,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn's log level (info, warning, ...).")
    ] = "info",
) -> None:
    """Serve the dashboard at / and the API under /api (docs at /api/docs), migrating the
    database first."""
    from dataclasses import replace

    settings = _settings()
    server = _server_modules()
    if settings.server_migrate_on_start:
        _on_database(
            settings.database_url, lambda: server.database.migrate_database(settings.database_url)
        )
    application = server.create_app(replace(settings, server_migrate_on_start=False))
    typer.echo(
        f"VibePiper dashboard on http://{host}:{port}/ , API on http://{host}:{port}/api "
        f"(docs: /api/docs), database {server.database.redacted(settings.database_url)}",
        err=True,
    )
    import uvicorn

    uvicorn.run(application, host=host, port=port, log_level=log_level.lower())


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
    where = database.redacted(settings.database_url)
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
    from vibepiper.server.database import redacted

    revision = _on_database(url, run)
    if as_json:
        _output.print_json({"database": redacted(url), "action": action, "revision": revision})
        return
    typer.echo(f"Database {redacted(url)} {action}; now at revision {revision or 'base'}.")


def _on_database(url: str, run: Callable[[], str | None]) -> str | None:
    """Run a migration step, turning database errors into one readable line."""
    from alembic.util import CommandError
    from sqlalchemy import exc as sa_exc

    from vibepiper.server.database import redacted

    try:
        return run()
    except CommandError as exc:
        _output.fail(f"cannot migrate {redacted(url)}: {exc}")
    except sa_exc.DBAPIError as exc:
        _output.fail(f"cannot use the database {redacted(url)}: {exc.orig}")
    except sa_exc.ArgumentError as exc:
        _output.fail(f"VIBEPIPER_DATABASE_URL is not a usable database URL: {exc}")

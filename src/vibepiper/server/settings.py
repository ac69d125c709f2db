"""The server's settings, read from `VIBEPIPER_*` variables like `vibepiper.settings`.

Kept apart from the library's settings so that `import vibepiper` never pays for
knobs only `vibepiper server` reads. Each field maps to `VIBEPIPER_<FIELD NAME>`; a
value that does not parse raises `ConfigurationError` naming the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from vibepiper.exceptions import ConfigurationError
from vibepiper.settings import PREFIX, _parse, load_settings

__all__ = ["DESCRIPTIONS", "ServerSettings", "given_or_environment", "load_server_settings"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Every knob of `vibepiper server`; see `DESCRIPTIONS`."""

    database_url: str = ""
    server_api_key: str | None = None
    server_max_connections: int = 10
    server_pool_timeout: float = 5.0
    server_max_body_bytes: int = 10 * 1024 * 1024
    server_retention_days: float = 30.0
    server_retention_interval: float = 3600.0
    server_retention_batch_size: int = 1000
    server_events_retention_days: float = 7.0
    server_events_retention_overrides: str = ""
    server_events_retention_batch_size: int = 10_000
    server_migrate_on_start: bool = True
    server_services: bool = True
    server_scheduler_interval: float = 5.0
    server_late_runs_after_seconds: float = 15.0
    server_late_runs_interval: float = 5.0
    server_run_heartbeat_timeout: float = 10.0
    server_crash_detector_interval: float = 2.0
    server_ui_url: str | None = None
    server_readable_storage: str = ""
    server_metrics_enabled: bool = True
    encryption_key: str | None = field(default=None, repr=False)
    encryption_key_file: str = ""


DESCRIPTIONS = {
    "database_url": "SQLAlchemy URL of the database (default: $VIBEPIPER_HOME/vibepiper.db).",
    "server_api_key": "When set, every API call but /api/health needs this bearer token.",
    "server_max_connections": "Most database connections the server holds at once.",
    "server_pool_timeout": "Seconds a request waits for a connection before a 503.",
    "server_max_body_bytes": "Largest request body accepted; larger ones get a 413.",
    "server_retention_days": "Delete runs and logs older than this many days (0: keep all).",
    "server_retention_interval": "Seconds between retention passes.",
    "server_retention_batch_size": "Rows deleted per retention transaction.",
    "server_events_retention_days": "Delete events older than this many days (0: keep all).",
    "server_events_retention_overrides": "Per event name, days to keep: "
    "'vibepiper.flow-run.Completed=30,orders.loaded=90' (0 keeps that name forever).",
    "server_events_retention_batch_size": "Events deleted per retention transaction.",
    "server_migrate_on_start": "Migrate the database to the current schema on start.",
    "server_services": "Run the scheduler, late-run and crash-detector loops (false: none).",
    "server_scheduler_interval": "Seconds between scheduler passes over deployment schedules.",
    "server_late_runs_after_seconds": "A Scheduled run this many seconds past due is Late.",
    "server_late_runs_interval": "Seconds between passes marking late runs.",
    "server_run_heartbeat_timeout": "A held run whose worker is silent this long is Crashed.",
    "server_crash_detector_interval": "Seconds between crash-detector passes.",
    "server_ui_url": "The dashboard's address as its users reach it (e.g. "
    "'https://vibepiper.example.com'): automation notifications link runs under it "
    "(`{{ flow_run|ui_url }}`); unset, they carry no links.",
    "server_metrics_enabled": "Serve Prometheus metrics at /api/metrics (behind the API key).",
    "server_readable_storage": "Comma-separated storage the server may read runs' stored "
    "files from (artifact downloads, results for automation templates): paths or fsspec URL "
    "prefixes; default: the result storage of the server's own environment "
    "($VIBEPIPER_RESULTS_DEFAULT_STORAGE, else $VIBEPIPER_HOME/storage).",
    "encryption_key": "Fernet key(s) encrypting block documents, comma-separated (first "
    "encrypts); default: the key file.",
    "encryption_key_file": "File holding the key(s) when VIBEPIPER_ENCRYPTION_KEY is unset "
    "(default: $VIBEPIPER_HOME/encryption.key, created on first use, mode 0600).",
}


def given_or_environment(given: ServerSettings | None) -> ServerSettings | None:
    """`given`, else the settings of this process's environment (None when those do not
    parse): for code the server runs that may also be called without its settings."""
    if given is not None:
        return given
    try:
        return load_server_settings()
    except ConfigurationError:
        return None


def load_server_settings(environ: dict[str, str] | None = None) -> ServerSettings:
    """Server settings from `environ` (default: the process environment)."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for knob in fields(ServerSettings):
        raw = env.get(f"{PREFIX}{knob.name.upper()}")
        if raw is None or raw == "":
            continue
        values[knob.name] = _parse_value(knob.name, str(knob.type), raw)
    if "database_url" not in values:
        values["database_url"] = default_database_url(env)
    if "encryption_key_file" not in values:
        values["encryption_key_file"] = default_key_file(env)
    return ServerSettings(**values)


def default_key_file(environ: dict[str, str]) -> str:
    """`$VIBEPIPER_HOME/encryption.key` ("" when the home is `:memory:`)."""
    settings = load_settings(environ)
    return "" if settings.home_is_memory else str(settings.home_path / "encryption.key")


def default_database_url(environ: dict[str, str]) -> str:
    """The embedded store's SQLite file under `$VIBEPIPER_HOME`, as an async URL."""
    settings = load_settings(environ)
    if settings.home_is_memory:
        raise ConfigurationError(
            "VIBEPIPER_HOME=:memory: keeps no database for the server to serve; "
            "set VIBEPIPER_HOME to a directory or VIBEPIPER_DATABASE_URL to a database"
        )
    return f"sqlite+aiosqlite:///{settings.database_path}"


def _parse_value(name: str, kind: str, raw: str) -> Any:
    variable = f"{PREFIX}{name.upper()}"
    if kind == "int":
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{variable}={raw!r} is not a whole number") from None
        if value < 1:
            raise ConfigurationError(f"{variable}={raw!r} must be at least 1")
        return value
    if name in ("server_retention_days", "server_events_retention_days"):
        try:
            days = float(raw)
        except ValueError:
            raise ConfigurationError(f"{variable}={raw!r} is not a number") from None
        if days < 0 or days != days:
            raise ConfigurationError(f"{variable}={raw!r} must be 0 (off) or more")
        return days
    return _parse(name, kind.replace(" | None", ""), raw)

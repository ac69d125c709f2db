"""Settings read from the environment (prefix `VIBEPIPER_`), loaded on first use.

`get_settings()` caches; `reload_settings()` re-reads the environment (tests).

Why not pydantic-settings: a script's first flow reads these before anything else,
and importing pydantic-settings costs 100-150 ms, a third of the budget of a whole
40-task script. The settings are a handful of scalars, so each is declared once in
`SETTINGS` (name, type, default, description) and parsed here, with an error naming
the variable and the value when it does not parse.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from vibepiper.exceptions import ConfigurationError

PREFIX = "VIBEPIPER_"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_LEVELS = {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob VibePiper reads; each field maps to `VIBEPIPER_<FIELD NAME>`."""

    home: str = "~/.vibepiper"
    logging_level: str = "INFO"
    logging_to_console: bool = True
    logging_store_level: str = "INFO"
    store_flush_interval: float = 0.1
    api_url: str | None = None
    api_key: str | None = None
    results_persist_by_default: bool = False
    results_default_storage: str | None = None
    results_default_serializer: str = "pickle"
    concurrency_lease_seconds: float = 30.0
    api_outbox_after: float = 5.0
    api_decision_wait: float = 30.0

    @property
    def home_is_memory(self) -> bool:
        return self.home == ":memory:"

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    @property
    def database_path(self) -> Path:
        return self.home_path / "vibepiper.db"


DESCRIPTIONS = {
    "home": "Directory of the embedded store and local results; ':memory:' keeps nothing.",
    "logging_level": "Level of run loggers (DEBUG, INFO, WARNING, ERROR).",
    "logging_to_console": "Print run logs to stderr.",
    "logging_store_level": "Lowest level of log lines written to the store.",
    "store_flush_interval": "Seconds between background writes of the embedded store.",
    "api_url": "Server to record runs on instead of the embedded store.",
    "api_key": "API key sent to the server.",
    "results_persist_by_default": "Persist every task and flow result unless told not to.",
    "results_default_storage": "Path or fsspec URL for results (default: $VIBEPIPER_HOME/storage).",
    "results_default_serializer": "Serializer for results: pickle, cloudpickle or json.",
    "concurrency_lease_seconds": "Seconds a held concurrency slot outlives a holder that died.",
    "api_outbox_after": "Seconds the server may stay unreachable before run records go to the "
    "outbox on disk and a flow's end and the exit stop waiting for it.",
    "api_decision_wait": "Seconds a task waits for an unreachable server to decide its "
    "concurrency limits before it fails.",
}


def _parse(name: str, kind: str, raw: str) -> Any:
    variable = f"{PREFIX}{name.upper()}"
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigurationError(f"{variable}={raw!r} is not a boolean (use true or false)")
    if kind == "float":
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(f"{variable}={raw!r} is not a number") from None
        if value <= 0:
            raise ConfigurationError(f"{variable}={raw!r} must be greater than 0")
        return value
    if name.startswith("logging") and name.endswith("level"):
        level = raw.strip().upper()
        if level not in _LEVELS:
            raise ConfigurationError(
                f"{variable}={raw!r} is not a log level (one of {', '.join(sorted(_LEVELS))})"
            )
        return level
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: the process environment)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields(Settings):
        raw = env.get(f"{PREFIX}{field.name.upper()}")
        if raw is None or raw == "":
            continue
        kind = str(field.type).replace(" | None", "")
        values[field.name] = _parse(field.name, kind, raw)
    return Settings(**values)


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return load_settings()


def reload_settings() -> Settings:
    """Forget cached settings and read the environment again."""
    get_settings.cache_clear()
    return get_settings()

"""What the `runtime` modules share: environment overrides, URLs, reads of past runs.

Every attribute of `runtime.flow_run`, `runtime.task_run` and `runtime.deployment`
can be set from the environment, for tests: `VIBEPIPER__RUNTIME__FLOW_RUN__NAME` (or
Prefect's spelling, `PREFECT__RUNTIME__FLOW_RUN__NAME`). The text is cast to the type
the attribute has at that moment, as Prefect does: `"true"` for a bool, a number for
an int or float, an ISO date for a datetime, and kept as text where the real value is
None. A list or dict attribute cannot be set this way (ValueError).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any

DEFAULT_API_URL = "http://127.0.0.1:4200/api"
"""Where `vibepiper server start` serves the API over the same store, by default."""

_PREFIXES = ("VIBEPIPER", "PREFECT")


def _parse_datetime(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


_CASTS: dict[type, Callable[[str], Any]] = {
    bool: lambda text: text.lower() == "true",
    int: int,
    float: float,
    str: str,
    dt.datetime: _parse_datetime,
    type(None): str,
}


def env_value(section: str, name: str) -> str | None:
    """The environment's value for `runtime.<section>.<name>`, if it sets one."""
    for prefix in _PREFIXES:
        value = os.environ.get(f"{prefix}__RUNTIME__{section.upper()}__{name.upper()}")
        if value is not None:
            return value
    return None


def attribute(module: str, section: str, fields: Mapping[str, Callable[[], Any]], name: str) -> Any:
    """`module.<name>`: the field's value, or the environment's override of it."""
    getter = fields.get(name)
    override = env_value(section, name)
    if getter is None:
        if override is not None:
            return override
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    value = getter()
    if override is None:
        return value
    cast = _CASTS.get(type(value))
    if cast is None:
        raise ValueError(
            f"{module}.{name} is a {type(value).__name__}, which cannot be set from an "
            f"environment variable; patch {module}.FIELDS[{name!r}] in the test instead"
        )
    return cast(override)


def env_flow_run_id() -> str | None:
    """The flow run the environment names (`VIBEPIPER__FLOW_RUN_ID`, `PREFECT__FLOW_RUN_ID`)."""
    for prefix in _PREFIXES:
        value = os.environ.get(f"{prefix}__FLOW_RUN_ID")
        if value:
            return value
    return None


def api_url() -> str:
    """The API's base URL: the `api_url` setting, else where `vibepiper server start`
    serves one over this same store."""
    from vibepiper.settings import get_settings

    return (get_settings().api_url or DEFAULT_API_URL).rstrip("/")


def ui_url() -> str:
    """The dashboard's base URL (the API's, without `/api`)."""
    base = api_url()
    return base[: -len("/api")] if base.endswith("/api") else base


def read_flow_run(flow_run_id: str) -> Any:
    """A stored flow run (a `FlowRunView`), or None when the store does not know it."""
    from vibepiper.exceptions import ObjectNotFound
    from vibepiper.store import get_store

    try:
        return get_store().read_flow_run(uuid.UUID(flow_run_id))
    except (ObjectNotFound, ValueError):
        return None


def has_server() -> bool:
    from vibepiper.settings import get_settings

    return bool(get_settings().api_url)


def server_read(what: Callable[[Any], Any]) -> Any:
    """`what(client)` with a sync client of the configured server."""
    from vibepiper.client import get_client

    with get_client(sync_client=True) as client:
        return what(client)


_deployments: dict[str, Any] = {}
_run_job_variables: dict[str, dict[str, Any]] = {}


def read_deployment(deployment_id: str) -> Any:
    """A deployment read from the server (once per process: deployments do not change
    under a running flow run), or None without a server."""
    return _read_once(
        _deployments,
        deployment_id,
        lambda client: client.read_deployment(uuid.UUID(deployment_id)),
        None,
    )


def read_run_job_variables(flow_run_id: str) -> dict[str, Any]:
    """A flow run's own job variables, read from the server once per process (they are
    fixed when the run is created); `{}` without a server."""
    found: dict[str, Any] = _read_once(
        _run_job_variables,
        flow_run_id,
        lambda client: client.read_flow_run_job_variables(uuid.UUID(flow_run_id)),
        {},
    )
    return found


def _read_once(cache: dict[str, Any], key: str, read: Callable[[Any], Any], default: Any) -> Any:
    """`read(client)` from the server the first time `key` is asked for, then from
    `cache`; `default` (not cached) without a server."""
    if key not in cache:
        if not has_server():
            return default
        cache[key] = server_read(read)
    return cache[key]

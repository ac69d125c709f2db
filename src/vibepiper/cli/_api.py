"""Helpers of the commands that talk to a server (deployments, work pools, queues).

These commands need `VIBEPIPER_API_URL`; without it the client raises a
ConfigurationError that the root group prints as one line.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from vibepiper.cli import _output

if TYPE_CHECKING:
    from pydantic import BaseModel

    from vibepiper.client import SyncVibePiperClient


def client() -> SyncVibePiperClient:
    from vibepiper.client import get_client

    return get_client(sync_client=True, require_server=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """A wire model as JSON-ready data (for `--json`)."""
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


def parse_params(
    pairs: list[str], params_json: str | None, *, option: str = "--param"
) -> dict[str, Any]:
    """`--params '{...}'` overlaid with each `--param key=value` (a value is JSON when it
    parses as JSON, else the plain string: `n=3` is 3, `day=monday` is "monday");
    `option` names the pairs' option in errors."""
    out: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except ValueError as exc:
            _output.fail(f"--params is not valid JSON: {exc}")
        if not isinstance(loaded, dict):
            _output.fail('--params must be a JSON object, e.g. \'{"day": "2024-05-01"}\'')
        out.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            _output.fail(f"{option} {pair!r} must be KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


def parse_time(text: str, option: str) -> dt.datetime:
    """An ISO date or date-time; without a zone it is the local time."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        _output.fail(f"{option} {text!r} is not an ISO date or date-time (2024-05-01T06:00)")
    return value if value.tzinfo is not None else value.astimezone()


def yes_no(value: bool) -> str:
    return "yes" if value else "no"

"""The text forms values are stored and sent in: UTC timestamps and compact JSON.

`vibepiper.database.codec` (the database's encodings) and the engine, which writes some
events as the text a store records (`engine.asset_events`), share these: the engine may
not import the database layer, and the two must write the same text.

- Timestamps are ISO-8601 in UTC with exactly six fractional digits and an explicit
  `+00:00` offset (`2026-11-22T02:48:45.123456+00:00`), so text order is time order.
- JSON is compact ASCII `json.dumps` text (a lone surrogate, from bytes decoded with
  `surrogateescape`, is escaped rather than breaking the UTF-8 of a row); non-finite
  floats become the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (JSON has no
  spelling for them, and PostgreSQL's JSONB refuses them).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

__all__ = ["encode_json", "encode_timestamp"]

UTC = dt.UTC

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode_timestamp(value: dt.datetime) -> str:
    """A datetime as stored on SQLite: UTC ISO-8601 with microseconds.

    Naive datetimes are taken to be in UTC already.
    """
    tzinfo = value.tzinfo
    if tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def encode_json(value: Any) -> str:
    """JSON text for a JSON-ready value (dicts, lists, strings, numbers, bools, None)."""
    try:
        return _dumps(value)
    except ValueError:
        return _dumps(_finite(value))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return "NaN"
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value

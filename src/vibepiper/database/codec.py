"""How values are written to SQLite, shared by the SQLAlchemy types and the raw fast path.

This module imports neither SQLAlchemy nor anything heavy: the embedded store's writer
uses it directly with `sqlite3`, and `database.types` wraps it in TypeDecorators, so a
row written by either side reads back identically through the other.

- UUIDs are 36-character strings with dashes.
- Timestamps are ISO-8601 in UTC with exactly six fractional digits and an explicit
  `+00:00` offset (`2026-11-22T02:48:45.123456+00:00`), so text order is time order.
- JSON is compact `json.dumps` text; non-finite floats become the strings
  `"NaN"`, `"Infinity"` and `"-Infinity"` (JSON has no spelling for them, and
  PostgreSQL's JSONB refuses them).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from typing import Any

UTC = dt.UTC

# ASCII output: a lone surrogate (from bytes decoded with `surrogateescape`) is escaped
# rather than breaking the UTF-8 encoding of the row.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_loads = json.loads


def encode_uuid(value: uuid.UUID | str) -> str:
    """A UUID as stored on SQLite: 36 characters, lowercase, with dashes."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(uuid.UUID(value))


def decode_uuid(text: str) -> uuid.UUID:
    """The UUID stored as `text`."""
    return uuid.UUID(text)


def encode_timestamp(value: dt.datetime) -> str:
    """A datetime as stored on SQLite: UTC ISO-8601 with microseconds.

    Naive datetimes are taken to be in UTC already.
    """
    tzinfo = value.tzinfo
    if tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def decode_timestamp(text: str) -> dt.datetime:
    """The aware UTC datetime stored as `text` (a missing offset means UTC)."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def encode_json(value: Any) -> str:
    """JSON text for a JSON-ready value (dicts, lists, strings, numbers, bools, None)."""
    try:
        return _dumps(value)
    except ValueError:
        return _dumps(_finite(value))


def decode_json(text: str) -> Any:
    """The value stored as JSON `text`."""
    return _loads(text)


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

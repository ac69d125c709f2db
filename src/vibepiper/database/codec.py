"""How values are written to SQLite, shared by the SQLAlchemy types and the raw fast path.

This module imports neither SQLAlchemy nor anything heavy: the embedded store's writer
uses it directly with `sqlite3`, and `database.types` wraps it in TypeDecorators, so a
row written by either side reads back identically through the other.

- UUIDs are 36-character strings with dashes.
- Timestamps and JSON are written as `vibepiper.utilities.stored_text` writes them
  (shared with the engine, which may not import this layer): UTC ISO-8601 with
  microseconds, compact JSON with non-finite floats as strings.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from vibepiper.utilities.stored_text import encode_json, encode_timestamp

UTC = dt.UTC

__all__ = [
    "decode_json",
    "decode_timestamp",
    "decode_uuid",
    "encode_json",
    "encode_timestamp",
    "encode_uuid",
]

_loads = json.loads


def encode_uuid(value: uuid.UUID | str) -> str:
    """A UUID as stored on SQLite: 36 characters, lowercase, with dashes."""
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(uuid.UUID(value))


def decode_uuid(text: str) -> uuid.UUID:
    """The UUID stored as `text`."""
    return uuid.UUID(text)


def decode_timestamp(text: str) -> dt.datetime:
    """The aware UTC datetime stored as `text` (a missing offset means UTC)."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def decode_json(text: str) -> Any:
    """The value stored as JSON `text`."""
    return _loads(text)

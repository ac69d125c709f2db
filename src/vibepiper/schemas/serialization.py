"""Turn user values (parameters) into JSON-ready data for storage and display."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import pathlib
import uuid
from typing import Any

_MAX_REPR = 1000


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of `value`: containers walked, models dumped, the rest repr'd."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if _depth > 20:
        return _short_repr(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, _depth + 1) for v in value]
    if isinstance(value, uuid.UUID | pathlib.PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, _depth + 1)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return to_jsonable(dump(mode="json"), _depth + 1)
        except Exception:
            return _short_repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), _depth + 1)
    return _short_repr(value)


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."

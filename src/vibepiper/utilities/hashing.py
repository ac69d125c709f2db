"""Stable hashes of Python values, for cache keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vibepiper.schemas.serialization import to_jsonable


class UnhashableInputError(TypeError):
    """A value could not be hashed for a cache key."""


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def hash_objects(*args: Any, raise_on_failure: bool = False, **kwargs: Any) -> str | None:
    """A hex digest of `args` and `kwargs`: JSON when possible, else cloudpickle.

    Returns None (or raises UnhashableInputError with `raise_on_failure`) when the
    values can be neither JSON-encoded nor pickled.
    """
    payload = (args, kwargs)
    try:
        data = json.dumps(payload, sort_keys=True, default=_json_default).encode()
    except (TypeError, ValueError):
        try:
            import cloudpickle

            data = cloudpickle.dumps(payload)
        except Exception as exc:
            if raise_on_failure:
                raise UnhashableInputError(str(exc)) from exc
            return None
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def stable_repr(value: Any) -> Any:
    """A JSON-ready form of `value` for display next to a cache key."""
    return to_jsonable(value)

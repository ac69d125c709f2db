"""Secret values this process loaded are never written in clear to a run's log lines.

When a block is loaded (or a template resolves a block) with its secrets, the values
of its secret fields are added here; the run log handlers (console and store) replace
any of them appearing in a message by `********`. Values shorter than 4 characters are
not tracked (they would mask ordinary words). With no secret loaded, a message costs
one truthiness check.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "add_secrets", "redact"]

MASK = "********"
MIN_LENGTH = 4

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def add_secrets(values: Iterable[Any]) -> None:
    """Track these secret values (strings, numbers; the leaves of lists and mappings)."""
    global _pattern
    found = {text for text in _leaves(values) if len(text) >= MIN_LENGTH and text != MASK}
    if not found - _secrets:
        return
    with _lock:
        _secrets.update(found)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
        _pattern = re.compile("|".join(re.escape(text) for text in ordered))


def redact(text: str) -> str:
    """`text` with every tracked secret replaced by `********`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def _leaves(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, dict):
            yield from _leaves(value.values())
        elif isinstance(value, list | tuple):
            yield from _leaves(value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            yield str(value)

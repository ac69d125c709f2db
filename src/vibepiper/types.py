"""Field types of blocks at Prefect's path (`prefect.types`)."""

from __future__ import annotations

from typing import Any

from pydantic import Secret

__all__ = ["SecretDict"]


class SecretDict(Secret[dict[str, Any]]):
    """A mapping whose values are secret: every value reads `********` in API answers,
    CLI output and logs; `get_secret_value()` gives the mapping."""

"""Variable and block placeholders in JSON values (`{{ vibepiper.variables.NAME }}`,
`{{ vibepiper.blocks.SLUG.NAME[.FIELD] }}`, and the `prefect.` spellings): how to find
them. Rendering is `vibepiper.utilities.templating`; the server only needs to know which
parameters hold one (the run resolves and validates those)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["BLOCK_PREFIXES", "MAX_DEPTH", "PLACEHOLDER", "VARIABLE_PREFIXES", "contains_template"]

PLACEHOLDER = re.compile(r"\{\{\s*([\w.\-\[\]$]+)\s*\}\}")
VARIABLE_PREFIXES = ("vibepiper.variables.", "prefect.variables.")
BLOCK_PREFIXES = ("vibepiper.blocks.", "prefect.blocks.")
MAX_DEPTH = 32


def is_ours(name: str) -> bool:
    """Whether a placeholder's name is a variable or a block one."""
    return name.startswith(VARIABLE_PREFIXES + BLOCK_PREFIXES)


def contains_template(value: Any, depth: int = 0) -> bool:
    """Whether `value` (JSON data) holds a variable or block placeholder anywhere."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, str):
        return any(is_ours(match.group(1)) for match in PLACEHOLDER.finditer(value))
    if isinstance(value, dict):
        return any(contains_template(item, depth + 1) for item in value.values())
    if isinstance(value, list | tuple):
        return any(contains_template(item, depth + 1) for item in value)
    return False

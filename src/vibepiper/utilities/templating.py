"""Placeholders for variables and blocks in deployments' parameters and job variables.

    {{ vibepiper.variables.NAME }}                  the variable's value
    {{ vibepiper.blocks.SLUG.NAME }}                the block's data (a block with a
                                                    single `value` field: that value)
    {{ vibepiper.blocks.SLUG.NAME.FIELD[0].KEY }}   a field of it, by path

(`prefect.` instead of `vibepiper.` means the same). A string that is one placeholder
becomes the value itself (a number, a list, ...); placeholders inside longer text are
replaced by the value as text (JSON for lists and mappings). Other `{{ ... }}` text is
left as it is.

Rendering is bounded: it is one pass (a resolved value is never rendered again, so a
variable holding `{{ ... }}` cannot recurse), over at most `MAX_DEPTH` levels of
nesting and `MAX_PLACEHOLDERS` placeholders. A missing variable, block or field is a
`TemplateError` naming the placeholder.

Finding placeholders is `vibepiper.schemas.placeholders` (the server uses it to leave
parameters holding one to the run to validate).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vibepiper.schemas.placeholders import (
    MAX_DEPTH,
    PLACEHOLDER,
    VARIABLE_PREFIXES,
    contains_template,
)
from vibepiper.schemas.placeholders import is_ours as _ours

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient

__all__ = [
    "MAX_DEPTH",
    "MAX_PLACEHOLDERS",
    "ClientResolver",
    "TemplateError",
    "contains_template",
    "render",
    "render_with_client",
]

MAX_PLACEHOLDERS = 1000
MASK = "********"


class TemplateError(ValueError):
    """A placeholder that cannot be resolved (the message names it), or a template past
    the rendering bounds."""


class Resolver:
    """Where placeholders get their values (see `ClientResolver`)."""

    def variable(self, name: str) -> Any:
        raise NotImplementedError

    def block(self, slug: str, name: str) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class ClientResolver(Resolver):
    """Values read through a client; each variable and block is read once per render.

    `include_secrets=False` reads blocks masked: a placeholder whose value holds a
    secret then stays a placeholder (see `render`'s `keep_secrets`).
    """

    client: SyncVibePiperClient
    include_secrets: bool = True
    _variables: dict[str, Any] = field(default_factory=dict)
    _blocks: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def variable(self, name: str) -> Any:
        if name not in self._variables:
            found = self.client.read_variable_by_name(name)
            if found is None:
                raise TemplateError(f"no variable named {name!r}")
            self._variables[name] = found.value
        return self._variables[name]

    def block(self, slug: str, name: str) -> dict[str, Any]:
        from vibepiper.exceptions import ObjectNotFound

        key = (slug, name)
        if key not in self._blocks:
            try:
                document = self.client.read_block_document_by_name(
                    name, slug, include_secrets=self.include_secrets
                )
            except ObjectNotFound:
                raise TemplateError(f"no block '{slug}/{name}'") from None
            if self.include_secrets:
                from vibepiper.blocks.core import _track_secrets

                _track_secrets(document)  # resolved secrets never reach a log line
            self._blocks[key] = document.data
        return self._blocks[key]


def render(value: Any, resolver: Resolver, *, keep_secrets: bool = False) -> Any:
    """`value` (JSON data) with every variable and block placeholder replaced.

    Args:
        resolver: where the values come from.
        keep_secrets: leave a placeholder as it is when its value holds a masked secret
            (`********`): rendering at deploy time with masked reads keeps secrets out
            of what is stored, and the run resolves them.

    Raises:
        TemplateError: naming the placeholder that cannot be resolved.
    """
    count = [0]

    def walk(node: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TemplateError(f"the template is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, str):
            return _render_text(node, resolver, keep_secrets, count)
        if isinstance(node, dict):
            return {key: walk(item, depth + 1) for key, item in node.items()}
        if isinstance(node, list | tuple):
            return [walk(item, depth + 1) for item in node]
        return node

    return walk(value, 0)


def _render_text(text: str, resolver: Resolver, keep_secrets: bool, count: list[int]) -> Any:
    matches = [m for m in PLACEHOLDER.finditer(text) if _ours(m.group(1))]
    if not matches:
        return text
    count[0] += len(matches)
    if count[0] > MAX_PLACEHOLDERS:
        raise TemplateError(f"the template holds more than {MAX_PLACEHOLDERS} placeholders")
    values = [_resolve(match.group(1), match.group(0), resolver) for match in matches]
    if keep_secrets and any(_holds_mask(value) for value in values):
        return text
    if len(matches) == 1 and matches[0].group(0) == text.strip():
        return values[0]
    parts: list[str] = []
    position = 0
    for match, value in zip(matches, values, strict=True):
        parts.append(text[position : match.start()])
        parts.append(value if isinstance(value, str) else json.dumps(value))
        position = match.end()
    parts.append(text[position:])
    return "".join(parts)


def _resolve(name: str, placeholder: str, resolver: Resolver) -> Any:
    try:
        if name.startswith(VARIABLE_PREFIXES):
            variable = name.split(".", 2)[2]
            if not variable:
                raise TemplateError("no variable name")
            return resolver.variable(variable)
        slug, _, rest = name.split(".", 2)[2].partition(".")
        block_name, _, path = rest.partition(".")
        if not slug or not block_name:
            raise TemplateError("a block placeholder is vibepiper.blocks.SLUG.NAME[.FIELD]")
        data: Any = resolver.block(slug, block_name)
        if isinstance(data, dict) and list(data) == ["value"] and not path.startswith("value"):
            data = data["value"]  # a system block (Secret, ...): its value
        return _at_path(data, path) if path else data
    except TemplateError as exc:
        raise TemplateError(f"cannot resolve {placeholder}: {exc}") from None


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _at_path(data: Any, path: str) -> Any:
    for match in _STEP.finditer(path):
        key, index = match.group(1), match.group(2)
        if key is not None:
            if not isinstance(data, dict) or key not in data:
                raise TemplateError(f"the block has no field {path!r}")
            data = data[key]
        else:
            if not isinstance(data, list) or int(index) >= len(data):
                raise TemplateError(f"the block has no item {path!r}")
            data = data[int(index)]
    return data


def _holds_mask(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_mask(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_mask(item) for item in value)
    return bool(value == MASK)


def render_with_client(
    value: Any, client: SyncVibePiperClient, *, include_secrets: bool = True
) -> Any:
    """`render` with a `ClientResolver`; with `include_secrets=False`, placeholders of
    secret values are kept for the run to resolve."""
    if not contains_template(value):
        return value
    resolver = ClientResolver(client, include_secrets=include_secrets)
    return render(value, resolver, keep_secrets=not include_secrets)

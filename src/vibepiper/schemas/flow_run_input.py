"""Wire models of flow-run input: keyed JSON values sent to one flow run (Prefect's shapes).

A paused run keeps the JSON schema of the input it waits for, a description for people
and, once resumed, the answer under three keys (`vibepiper.input.Keyset`); runs send each
other messages (`send_input` / `receive_input`) under keys of their own.

The rules are Prefect's: a key holds lowercase letters, numbers and dashes (and, here, at
least one of them); a value is JSON text, stored and answered as it was sent.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vibepiper.schemas.api import RequestModel, UtcDatetime

__all__ = [
    "MAX_FILTER_LIMIT",
    "FlowRunInput",
    "FlowRunInputCreate",
    "FlowRunInputFilter",
    "FlowRunInputRead",
    "check_input_key",
    "check_json_text",
]

MAX_FILTER_LIMIT = 1000
_KEY = re.compile(r"[a-z0-9-]+")


def check_input_key(value: str) -> str:
    """`value` when it is a valid input key, else ValueError saying why."""
    if not value:
        raise ValueError("a flow run input key cannot be empty")
    if _KEY.fullmatch(value) is None:
        raise ValueError(
            f"flow run input key {value!r} must only contain lowercase letters, numbers, and dashes"
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_json_text(value: str) -> str:
    """`value` when it is one JSON document (no NaN or Infinity), else ValueError."""
    try:
        json.loads(value, parse_constant=_no_constant)
    except ValueError as exc:
        raise ValueError(
            f"value must be JSON text, e.g. '\"yes\"' or '{{\"x\": 1}}' ({exc})"
        ) from None
    return value


InputKey = Annotated[str, AfterValidator(check_input_key)]
JsonText = Annotated[str, AfterValidator(check_json_text)]


class FlowRunInputCreate(RequestModel):
    """`POST /api/flow_runs/{id}/input`: a value under a key not used yet for the run."""

    key: InputKey = Field(description="Lowercase letters, numbers and dashes.")
    value: JsonText = Field(description="The value as JSON text (stored as sent).")
    sender: str | None = Field(
        default=None, description="Who sent it, e.g. `vibepiper.flow-run.<id>`."
    )


class FlowRunInputRead(BaseModel):
    """A stored input (Prefect's `FlowRunInput`); `decoded_value` is the value parsed."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    flow_run_id: uuid.UUID
    key: str
    value: str
    sender: str | None = None

    @property
    def decoded_value(self) -> Any:
        return json.loads(self.value)


FlowRunInput = FlowRunInputRead
"""Prefect's name (`prefect.client.schemas.objects.FlowRunInput`)."""


class FlowRunInputFilter(RequestModel):
    """`POST /api/flow_runs/{id}/input/filter`: the run's inputs whose key starts with
    `prefix`, but those in `exclude_keys`, oldest first, at most `limit`."""

    prefix: str
    limit: Annotated[int, Field(ge=1, le=MAX_FILTER_LIMIT)] = 1
    exclude_keys: list[str] = Field(default_factory=list)

"""Wire models of variables: named JSON values shared by flows (Prefect's shapes).

The rules are Prefect's: a name holds lowercase letters, numbers and underscores (at
most 255 characters); a value is any JSON value (string, number, boolean, null, list,
object) whose JSON text is at most 5,000 characters.
"""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from vibepiper.schemas.api import RequestModel, Tags, UtcDatetime
from vibepiper.schemas.api_filters import Limit, Offset
from vibepiper.schemas.blocks import AllNames, AnyIds, NameMatch

__all__ = [
    "MAX_VARIABLE_NAME_LENGTH",
    "MAX_VARIABLE_VALUE_LENGTH",
    "VariableCount",
    "VariableCreate",
    "VariableFilter",
    "VariableQuery",
    "VariableRead",
    "VariableSort",
    "VariableUpdate",
    "check_variable_name",
    "check_variable_value",
]

MAX_VARIABLE_NAME_LENGTH = 255
MAX_VARIABLE_VALUE_LENGTH = 5000


def check_variable_name(value: str) -> str:
    """`value` when it is a valid variable name, else ValueError saying why."""
    if not value:
        raise ValueError("a variable name cannot be empty")
    if len(value) > MAX_VARIABLE_NAME_LENGTH:
        raise ValueError(f"a variable name has at most {MAX_VARIABLE_NAME_LENGTH} characters")
    if any(not (c.isascii() and (c.islower() or c.isdigit() or c == "_")) for c in value):
        raise ValueError(
            f"variable name {value!r} must only contain lowercase letters, numbers, and underscores"
        )
    return value


def check_variable_value(value: Any) -> Any:
    """`value` when it is JSON of at most 5,000 characters, else ValueError."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError(
            "a variable's value must be JSON (str, number, bool, list, dict or None)"
        ) from None
    if len(text) > MAX_VARIABLE_VALUE_LENGTH:
        raise ValueError(
            f"a variable's value must be at most {MAX_VARIABLE_VALUE_LENGTH} characters as "
            f"JSON (this one has {len(text)})"
        )
    if "\x00" in text:
        raise ValueError("a variable's value must not contain NUL characters")
    return value


VariableName = Annotated[str, AfterValidator(check_variable_name)]
VariableValue = Annotated[Any, AfterValidator(check_variable_value)]


class VariableCreate(RequestModel):
    name: VariableName
    value: VariableValue
    tags: Tags = Field(default_factory=list)


class VariableUpdate(RequestModel):
    """The fields to change (left out: unchanged)."""

    name: VariableName | None = None
    value: VariableValue = None
    tags: Tags | None = None


class VariableRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime
    name: str
    value: Any = None
    tags: list[str] = Field(default_factory=list)


class VariableFilter(RequestModel):
    id: AnyIds | None = None
    name: NameMatch | None = None
    tags: AllNames | None = None


class VariableSort(StrEnum):
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"
    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"


class VariableQuery(RequestModel):
    variables: VariableFilter | None = None
    sort: VariableSort = VariableSort.NAME_ASC
    limit: Limit = 200
    offset: Offset = 0


class VariableCount(RequestModel):
    variables: VariableFilter | None = None

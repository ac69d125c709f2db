"""The system blocks of Prefect 3.8 (`prefect.blocks.system`): `Secret`, and the
deprecated `JSON`, `String` and `DateTime` (use variables for plain values)."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from typing import Any, Generic, TypeVar

from pydantic import Field, SecretStr, field_validator
from pydantic import Secret as PydanticSecret

from vibepiper.blocks.core import Block

__all__ = ["JSON", "DateTime", "Secret", "String"]

T = TypeVar("T")


class Secret(Block, Generic[T]):
    """A secret value: a string or any JSON value, masked in API answers, the CLI, logs
    and the dashboard.

    Example:
        ```python
        from vibepiper.blocks.system import Secret

        Secret(value="sk-1234").save("openai-key")
        Secret.load("openai-key").get()   # 'sk-1234'
        ```
    """

    value: SecretStr | PydanticSecret[Any] = Field(
        default=...,
        description="A value that should be kept secret.",
        examples=["sk-1234567890", {"username": "johndoe", "password": "s3cr3t"}],
        json_schema_extra={"writeOnly": True, "format": "password"},
    )

    @field_validator("value", mode="before")
    @classmethod
    def _wrap(cls, value: Any) -> Any:
        if isinstance(value, SecretStr | PydanticSecret):
            return value
        if isinstance(value, str):
            return SecretStr(value)
        return PydanticSecret[type(value)](value)  # type: ignore[misc,operator]

    def get(self) -> T:
        """The secret value (a JSON string is parsed, as in Prefect)."""
        value = self.value.get_secret_value()
        try:
            return json.loads(value)  # type: ignore[no-any-return]
        except (TypeError, json.JSONDecodeError):
            return value  # type: ignore[no-any-return,return-value]


def _deprecated(name: str) -> None:
    warnings.warn(
        f"{name} blocks are deprecated (as in Prefect): use Variables "
        "(vibepiper.variables.Variable) to store plain values",
        DeprecationWarning,
        stacklevel=4,
    )


class JSON(Block):
    """A JSON value (deprecated: use a variable).

    Attributes:
        value: A JSON-compatible value.
    """

    value: Any = Field(default=..., description="A JSON-compatible value.")

    def block_initialization(self) -> None:
        _deprecated("JSON")


class String(Block):
    """A string (deprecated: use a variable).

    Attributes:
        value: A string value.
    """

    value: str = Field(default=..., description="A string value.")

    def block_initialization(self) -> None:
        _deprecated("String")


class DateTime(Block):
    """A date and time (deprecated: use a variable).

    Attributes:
        value: An ISO 8601 date-time.
    """

    _block_type_name = "Date Time"

    value: dt.datetime = Field(default=..., description="An ISO 8601-compatible datetime value.")

    def block_initialization(self) -> None:
        _deprecated("DateTime")

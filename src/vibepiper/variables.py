"""Variables: named, mutable JSON values shared by flows (Prefect's `prefect.variables`).

    from vibepiper.variables import Variable

    Variable.set("batch_size", 500)
    Variable.get("batch_size")                  # 500
    Variable.get("missing", default="x")        # 'x'
    Variable.set("batch_size", 1000, overwrite=True)
    Variable.unset("batch_size")                # True (False when there was none)

A name holds lowercase letters, numbers and underscores (at most 255 characters); a
value is any JSON value whose JSON text is at most 5,000 characters. Each method has an
async twin (`aset`, `aget`, `aunset`); called in async code, the sync name returns the
twin's coroutine, as in Prefect. With no `VIBEPIPER_API_URL` they read and write the
embedded store through the in-process API: no server is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from vibepiper.schemas.variables import (
    MAX_VARIABLE_NAME_LENGTH,
    VariableCreate,
    VariableUpdate,
    VariableValue,
)
from vibepiper.utilities.dispatch import run_sync
from vibepiper.utilities.plans import adrive as _adrive
from vibepiper.utilities.plans import drive as _drive

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

__all__ = ["Variable"]


class Variable(BaseModel):
    """A named JSON value.

    Args:
        name: lowercase letters, numbers and underscores.
        value: any JSON value (at most 5,000 characters as JSON).
        tags: labels to find it by.
    """

    name: str = Field(
        default=...,
        description="The name of the variable",
        examples=["my_variable"],
        max_length=MAX_VARIABLE_NAME_LENGTH,
    )
    value: VariableValue = Field(
        default=..., description="The value of the variable", examples=["my-value"]
    )
    tags: list[str] | None = Field(default=None)

    @classmethod
    def _set_plan(
        cls, name: str, value: Any, tags: list[str] | None, overwrite: bool
    ) -> Plan[Variable]:
        from vibepiper.client import _config_calls as calls

        body = VariableCreate(name=name, value=value, tags=list(tags or []))  # checks both
        existing = yield from calls.variable_or_none(name)
        if existing is None:
            created = yield calls.create_variable(body)
            return cls(name=created.name, value=created.value, tags=created.tags)
        if not overwrite:
            raise ValueError(
                f"Variable {name!r} already exists. Use `overwrite=True` to update it."
            )
        update = VariableUpdate(name=name, value=value, tags=list(tags or []))
        yield calls.update_variable_by_name(name, update)
        current = yield calls.read_variable_by_name(name)
        return cls(name=current.name, value=current.value, tags=current.tags)

    @classmethod
    def _get_plan(cls, name: str, default: Any) -> Plan[Any]:
        from vibepiper.client import _config_calls as calls

        found = yield from calls.variable_or_none(name)
        return default if found is None else found.value

    @classmethod
    def _unset_plan(cls, name: str) -> Plan[bool]:
        from vibepiper.client import _config_calls as calls
        from vibepiper.exceptions import ObjectNotFound

        try:
            yield calls.delete_variable_by_name(name)
        except ObjectNotFound:
            return False
        return True

    @classmethod
    def set(
        cls,
        name: str,
        value: Any,
        tags: list[str] | None = None,
        overwrite: bool = False,
        *,
        _sync: bool | None = None,
    ) -> Variable:
        """Create the variable `name`, or with `overwrite=True` replace its value and
        tags; ValueError when it exists and `overwrite` is False. Returns it. In async
        code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aset(name, value, tags, overwrite)  # type: ignore[return-value]
        variable: Variable = _drive(cls._set_plan(name, value, tags, overwrite))
        return variable

    @classmethod
    async def aset(
        cls, name: str, value: Any, tags: list[str] | None = None, overwrite: bool = False
    ) -> Variable:
        variable: Variable = await _adrive(cls._set_plan(name, value, tags, overwrite))
        return variable

    @classmethod
    def get(cls, name: str, default: Any = None, *, _sync: bool | None = None) -> Any:
        """The value of the variable `name`, or `default` when there is none. In async
        code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aget(name, default)
        return _drive(cls._get_plan(name, default))

    @classmethod
    async def aget(cls, name: str, default: Any = None) -> Any:
        return await _adrive(cls._get_plan(name, default))

    @classmethod
    def unset(cls, name: str, *, _sync: bool | None = None) -> bool:
        """Delete the variable `name`: True, or False when there was none. In async
        code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aunset(name)  # type: ignore[return-value]
        deleted: bool = _drive(cls._unset_plan(name))
        return deleted

    @classmethod
    async def aunset(cls, name: str) -> bool:
        deleted: bool = await _adrive(cls._unset_plan(name))
        return deleted

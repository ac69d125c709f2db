"""Wrappers that change how a task treats an argument: `unmapped`, `allow_failure`,
`quote`, `opaque` (Prefect 3's `prefect.utilities.annotations`)."""

from __future__ import annotations

from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")


class BaseAnnotation(Generic[T]):
    """A value wrapped to tell the engine how to treat it; `.unwrap()` gives it back."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def unwrap(self) -> T:
        return self.value

    def rewrap(self, value: T) -> Self:
        """The same kind of wrapper around another value."""
        return type(self)(value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.value == other.value  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class unmapped(BaseAnnotation[T]):
    """Pass this argument whole to every call of `.map()` instead of iterating over it."""

    def __getitem__(self, _: Any) -> T:
        return self.value


class allow_failure(BaseAnnotation[T]):
    """Let a task start even if this upstream future or state failed.

    The task receives the upstream exception in place of its result.
    """


class quote(BaseAnnotation[T]):
    """Pass this argument as is: its contents are not searched for futures or states.

    A flow that returns `quote(state)` returns the quote, not the state's value.
    """

    def unquote(self) -> T:
        """The wrapped value."""
        return self.value


Quote = quote


class opaque(BaseAnnotation[T]):
    """Resolve this argument, but do not search inside it.

    A future (or state) wrapped in `opaque` is waited for, recorded as the task's
    upstream and replaced by its result, but that result is not searched for nested
    futures or states; any other value is passed as is, unsearched (as with `quote`).
    For large results (big dicts, data frames) passed from task to task.
    """


__all__ = ["BaseAnnotation", "Quote", "allow_failure", "opaque", "quote", "unmapped"]

"""Checks of `@flow` / `@task` options, made when the function is decorated.

The messages follow Prefect's, so a mistake reads the same after migrating: a hook
option must be a list (any iterable) of callables, a name a string, a run name a
string or a callable, `retry_delay_seconds` a number, a list or a callable, and
`retry_condition_fn` a callable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

HOOK_OPTIONS = ("on_completion", "on_failure", "on_cancellation", "on_crashed", "on_running")

MAX_RETRY_DELAYS = 50


def check_hooks(kind: str, hooks: dict[str, Any]) -> dict[str, list[Callable[..., Any]]]:
    """Each hook option as a new list; TypeError when one is not an iterable of callables.

    `kind` is "flow" or "task", for the example in the message.
    """
    checked: dict[str, list[Callable[..., Any]]] = {}
    for option, value in hooks.items():
        if value is None:
            checked[option] = []
            continue
        example = f"@{kind}({option}=[hook1, hook2])\ndef my_{kind}():\n\tpass"
        try:
            listed = list(value)
        except TypeError:
            raise TypeError(
                f"Expected iterable for '{option}'; got {type(value).__name__} instead. "
                f"Please provide a list of hooks to '{option}':\n\n{example}"
            ) from None
        for hook in listed:
            if not callable(hook):
                raise TypeError(
                    f"Expected callables in '{option}'; got {type(hook).__name__} instead. "
                    f"Please provide a list of hooks to '{option}':\n\n{example}"
                )
        checked[option] = listed
    return checked


def with_options(obj: Any, options: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The options for `obj.with_options(**given)`: those `obj` was made with, its hooks
    as they are now (hooks added since with `@x.on_completion` and the like are kept, as
    in Prefect), then `given` (a hook kind given as None keeps the current hooks)."""
    merged = dict(options)
    for name in options:
        if name.startswith("on_"):
            merged[name] = list(getattr(obj, f"{name}_hooks"))
    for name, value in given.items():
        if not (name.startswith("on_") and value is None):
            merged[name] = value
    return merged


def check_name(kind: str, name: Any) -> None:
    if name is not None and not isinstance(name, str):
        hint = (
            f" Perhaps you meant to call it? e.g. '@{kind}(name=get_{kind}_name())'"
            if callable(name)
            else ""
        )
        raise TypeError(
            f"Expected string for {kind} parameter 'name'; got {type(name).__name__} instead.{hint}"
        )


def check_run_name(option: str, value: Any) -> None:
    """`flow_run_name` / `task_run_name`: a template string or a callable."""
    if value is not None and not isinstance(value, str) and not callable(value):
        raise TypeError(
            f"Expected string or callable for '{option}'; got {type(value).__name__} instead."
        )


def check_retry_delay_seconds(value: Any, *, allow_list: bool) -> None:
    """A task takes a number, a list of numbers or a callable; a flow a number."""
    numbers = (int, float)
    if value is None or (isinstance(value, numbers) and not isinstance(value, bool)):
        return
    if allow_list and callable(value):
        return
    if allow_list and isinstance(value, list):
        if len(value) > MAX_RETRY_DELAYS:
            raise ValueError(
                f"Can not configure more than {MAX_RETRY_DELAYS} retry delays per task."
            )
        return
    expected = "an int, float, list or callable" if allow_list else "an int or float"
    raise TypeError(
        f"Invalid `retry_delay_seconds` provided; must be {expected}. Received type {type(value)}"
    )


def check_retry_condition_fn(value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(
            f"Expected `retry_condition_fn` to be callable, got {type(value).__name__} instead."
        )


# --- methods ---------------------------------------------------------------------------------

UNBOUND: Any = object()
"""A flow or task not bound to an instance or class (see `unwrap_method`)."""


def unwrap_method(fn: Any) -> tuple[Any, str | None]:
    """`(function, "classmethod" | "staticmethod" | None)`: `@flow` / `@task` on top of
    `@classmethod` or `@staticmethod` decorate the function inside."""
    if isinstance(fn, classmethod):
        return fn.__func__, "classmethod"
    if isinstance(fn, staticmethod):
        return fn.__func__, "staticmethod"
    return fn, None


def binding_target(method_kind: str | None, instance: Any, owner: Any) -> Any:
    """What a flow or task read as an attribute is bound to (`UNBOUND`: nothing), as
    Python binds methods: the instance for a plain function, the class for a
    classmethod, nothing for a staticmethod or an access through the class."""
    if method_kind == "staticmethod":
        return UNBOUND
    if method_kind == "classmethod":
        return owner if owner is not None else type(instance)
    return UNBOUND if instance is None else instance


def with_bound(target: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return args if target is UNBOUND else (target, *args)


def first_parameter(fn: Callable[..., Any]) -> str | None:
    """The name of `fn`'s first parameter (`self` or `cls` of a method)."""
    import inspect

    names: Iterable[str] = inspect.signature(fn).parameters
    return next(iter(names), None)

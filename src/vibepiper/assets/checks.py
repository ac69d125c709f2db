"""Data-quality checks on assets (beyond Prefect): functions that look at what a task
just materialized, run in the same task run right after its body returned.

    @check(orders, blocking=True)
    def has_rows(df) -> bool:
        return len(df) > 0

A check returns a bool or a `CheckResult`; one that raises has failed (the exception is
its description). A failed check with severity "error" that is `blocking` fails the
materializing task, and the materializations downstream of the asset in that run do not
start; any other failure is recorded (and logged) and the run goes on.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from vibepiper.assets.core import Asset, as_asset
from vibepiper.exceptions import PrefectException

__all__ = ["AssetCheck", "AssetCheckFailed", "CheckResult", "Severity", "check", "checks_for"]

Severity = Literal["error", "warn"]
_SEVERITIES = ("error", "warn")

F = TypeVar("F", bound=Callable[..., Any])


class AssetCheckFailed(PrefectException):
    """A blocking check with severity "error" failed on the asset a task materialized:
    the task run failed with it."""


class CheckResult:
    """What a check found: `passed`, and optionally a `severity` (else the check's),
    `metadata` (JSON data, e.g. counts) and a `description`."""

    __slots__ = ("description", "metadata", "passed", "severity")

    def __init__(
        self,
        passed: bool,
        severity: Severity | None = None,
        metadata: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> None:
        if severity is not None and severity not in _SEVERITIES:
            raise ValueError(f"CheckResult.severity must be 'error' or 'warn', got {severity!r}")
        self.passed = bool(passed)
        self.severity: Severity | None = severity
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.description = None if description is None else str(description)

    def __repr__(self) -> str:
        return (
            f"CheckResult(passed={self.passed!r}, severity={self.severity!r}, "
            f"metadata={self.metadata!r}, description={self.description!r})"
        )


# what a check returning a bool found (shared: nothing changes a result once made)
_PASSED = CheckResult(True)
_FAILED = CheckResult(False)


class AssetCheck:
    """A check registered on an asset key (made by `@check`); calling it calls the
    function."""

    __slots__ = ("_event_related", "asset", "blocking", "fn", "name", "severity", "takes_context")

    def __init__(
        self,
        fn: Callable[..., Any],
        asset: Asset,
        name: str,
        blocking: bool,
        severity: Severity,
    ) -> None:
        self.fn = fn
        self.asset = asset
        self.name = name
        self.blocking = blocking
        self.severity: Severity = severity
        self.takes_context = _positional_count(fn) >= 2
        # its events' related resource, JSON made on first use (engine.asset_events)
        self._event_related: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"AssetCheck(name={self.name!r}, asset={self.asset.key!r})"

    def run(self, value: Any, context: Any) -> CheckResult:
        """Run the check on `value`; a check that raises has failed."""
        try:
            outcome = self.fn(value, context) if self.takes_context else self.fn(value)
            if inspect.isawaitable(outcome):
                from vibepiper.engine.threads import run_coroutine_sync

                outcome = run_coroutine_sync(_awaited(outcome))
        except Exception as exc:
            return CheckResult(False, description=f"The check raised {type(exc).__name__}: {exc}")
        if isinstance(outcome, CheckResult):
            return outcome
        if outcome is True:
            return _PASSED
        if outcome is False:
            return _FAILED
        if type(outcome).__name__ == "bool_":  # numpy's
            return _PASSED if outcome else _FAILED
        return CheckResult(
            False,
            description=(
                f"The check returned {type(outcome).__name__}, not a bool or a CheckResult"
            ),
        )


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    count = 0
    for param in params:
        if param.kind is param.VAR_POSITIONAL:
            return 2
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


_registry: dict[str, list[AssetCheck]] = {}
_lock = threading.Lock()


def checks_for(key: str) -> list[AssetCheck]:
    """The checks registered on the asset `key` (in the order they were declared)."""
    return _registry.get(key) or []


def check(
    asset: str | Asset,
    name: str | None = None,
    blocking: bool = False,
    severity: Severity = "error",
) -> Callable[[F], F]:
    """Declare a data-quality check on `asset`: `fn(value)` or `fn(value, context)`
    gets what the materializing task returned for it (and the task run's context) and
    returns a bool or a `CheckResult`.

    Args:
        asset: the asset (or its key) the check looks at.
        name: the check's name (default: the function's name); one name per asset, a
            later declaration replaces an earlier one.
        blocking: a failure with severity "error" fails the materializing task, so the
            materializations downstream of the asset in the run do not start.
        severity: "error" (default) or "warn": a warning is recorded and never blocks.

    Example:
        >>> @check("s3://lake/orders.parquet", blocking=True)
        ... def not_empty(rows) -> bool:
        ...     return len(rows) > 0
    """
    target = as_asset(asset)
    if severity not in _SEVERITIES:
        raise ValueError(f"@check severity must be 'error' or 'warn', got {severity!r}")

    def decorator(fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"@check needs a function, got {type(fn).__name__}")
        check_name = name or str(getattr(fn, "__name__", "check"))
        registered = AssetCheck(fn, target, check_name, bool(blocking), severity)
        with _lock:
            kept = [c for c in _registry.get(target.key, ()) if c.name != check_name]
            _registry[target.key] = [*kept, registered]
        return fn

    return decorator

"""Prefect's rule for methods with an async twin (`load`/`aload`, `get`/`aget`, ...):
called in async code, the sync name returns the coroutine of its twin to await."""

from __future__ import annotations

__all__ = ["run_sync"]


def run_sync(forced: bool | None = None) -> bool:
    """Whether a dispatching method should do its work now (True) or return its async
    twin's coroutine (False): `forced` (a method's `_sync=`) when given, else sync
    unless called from async code (an async flow or task, or a running event loop)."""
    if forced is not None:
        return forced
    from vibepiper.states import _in_async_context

    return not _in_async_context()

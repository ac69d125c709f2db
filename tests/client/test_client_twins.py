"""The sync client offers exactly the async client's methods, with the same parameters.

Both are thin senders over `client/_layer.py`; this keeps their method lists in step.
"""

from __future__ import annotations

import inspect

from vibepiper.client._client import SyncVibePiperClient, VibePiperClient


def _methods(cls: type) -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(member).parameters)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def test_sync_and_async_clients_have_the_same_methods() -> None:
    async_methods = _methods(VibePiperClient)
    assert len(async_methods) >= 20
    # httpx's naming: the async client closes with `aclose`, the sync one with `close`
    async_methods["close"] = async_methods.pop("aclose")
    assert _methods(SyncVibePiperClient) == async_methods


def test_every_async_method_is_a_coroutine() -> None:
    for name, member in inspect.getmembers(VibePiperClient, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.iscoroutinefunction(member), name

"""Run a client `Plan` on a client opened for it (the SDK objects' methods:
`Variable`, `Automation`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

T = TypeVar("T")


def drive(plan: Plan[T]) -> T:
    """Run `plan` on a blocking client (the server's, or the in-process API)."""
    from vibepiper.client import get_client

    with get_client(sync_client=True) as client:
        result: T = client._run(plan)
        return result


async def adrive(plan: Plan[T]) -> T:
    """Run `plan` on an async client."""
    from vibepiper.client import get_client

    async with get_client() as client:
        result: T = await client._run(plan)
        return result

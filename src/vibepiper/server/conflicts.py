"""Transactions that lose to another: deadlocks and serialization failures, retried.

PostgreSQL ends one of two transactions that wait on each other (`deadlock detected`,
SQLSTATE 40P01) or that cannot be serialised (40001). The loser's work is rolled back
whole, so doing it again is safe. Every API route runs under `RetryingRoute`: a route
whose transaction lost is run again (up to `ATTEMPTS` times, after a short random
pause); one that keeps losing answers 503 with `Retry-After` (see `errors.py`), never
a 500. Routes are written to be safe to run again: each either writes in one
transaction or in steps that are idempotent (claims record the poll, then claim;
backfills find the runs they made by their keys).

Lock order. Deadlocks are avoided in the first place by taking row locks in one order
everywhere: worker -> work_pool -> work_queue -> deployment -> deployment_schedule ->
flow_run -> task_run -> concurrency_limit. The "last polled" marks are written only
when they are older than `POLL_MARK_SECONDS`, so idle workers do not queue on one pool
row.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from starlette.requests import Request
from starlette.responses import Response

ATTEMPTS = 5
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure, deadlock_detected."""


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a database error (asyncpg or psycopg), if it has one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for name in ("sqlstate", "pgcode"):
            code = getattr(current, name, None)
            if isinstance(code, str) and code:
                return code
        nested = getattr(current, "orig", None)
        current = nested if isinstance(nested, BaseException) else current.__cause__
    return None


def lost_to_another(error: BaseException) -> bool:
    """Whether `error` is a deadlock or serialization failure (safe to retry)."""
    return isinstance(error, sa_exc.DBAPIError) and sqlstate(error) in RETRYABLE_SQLSTATES


async def retrying(call: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """`await call()`, again after a short random pause when its transaction lost."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except sa_exc.DBAPIError as error:
            if attempt == ATTEMPTS or not lost_to_another(error):
                raise
        await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
    raise AssertionError("unreachable")


class RetryingRoute(APIRoute):
    """An API route run again when its transaction lost a deadlock or serialization race."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            await request.body()  # read once: a retry replays the same body
            response: Response = await retrying(lambda: handle(request))
            return response

        return handler

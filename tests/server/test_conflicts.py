"""A route whose transaction loses a deadlock or serialization race is run again by the
server; one that keeps losing answers 503 with Retry-After, never 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import exc as sa_exc

from tests.server.conftest import app_routes, make_settings
from vibepiper.server.conflicts import RetryingRoute, lost_to_another, sqlstate
from vibepiper.server.errors import install_error_handlers


class _DriverError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(f"sqlstate {code}")
        self.sqlstate = code


def _lost(code: str = "40P01") -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("UPDATE work_pool ...", {}, _DriverError(code))


def _app(failures: int, code: str = "40P01") -> tuple[FastAPI, list[int]]:
    calls: list[int] = []
    router = APIRouter(route_class=RetryingRoute)

    @router.post("/claim")
    async def claim(body: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= failures:
            raise _lost(code)
        return {"attempts": len(calls), "body": body}

    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    return app, calls


def _post(app: FastAPI) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/claim", json={"worker": "w1"})

    return asyncio.run(go())


def test_a_route_that_lost_a_deadlock_runs_again_with_the_same_body() -> None:
    app, calls = _app(failures=2)
    answer = _post(app)
    assert answer.status_code == 200
    assert answer.json() == {"attempts": 3, "body": {"worker": "w1"}}
    assert len(calls) == 3


def test_a_route_that_keeps_losing_is_a_503_with_retry_after() -> None:
    app, calls = _app(failures=100, code="40001")
    answer = _post(app)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert "conflicting writes" in answer.json()["detail"]
    assert len(calls) == 5


def test_other_database_errors_are_not_retried() -> None:
    app, calls = _app(failures=100, code="XX000")
    assert _post(app).status_code == 500
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [(_lost("40P01"), True), (_lost("40001"), True), (_lost("23505"), False)],
)
def test_sqlstates_read_through_the_wrapped_driver_error(
    error: sa_exc.DBAPIError, expected: bool
) -> None:
    assert lost_to_another(error) is expected
    assert sqlstate(error) == error.orig.sqlstate  # type: ignore[union-attr]


def test_every_api_route_of_the_server_retries() -> None:
    from fastapi.routing import APIRoute

    from vibepiper.server import create_app

    app = create_app(make_settings("sqlite+aiosqlite:///unused.db"))
    routes = [(path, route) for path, route in app_routes(app) if isinstance(route, APIRoute)]
    assert len(routes) > 40
    plain = [path for path, route in routes if not isinstance(route, RetryingRoute)]
    assert plain == ["/api/docs"]  # a static page, no database

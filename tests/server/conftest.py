"""Fixtures of the server tests: the ASGI app over a real SQLite file or PostgreSQL.

`api` is module-scoped and parametrised by backend: each test module gets its own
SQLite file and its own PostgreSQL database (created here, dropped after), and the
app is started once per module. Tests therefore name what they create uniquely
(`unique()`) instead of assuming empty tables.

`ApiClient` drives the app through httpx's ASGI transport from synchronous tests:
an anyio portal thread runs the app's lifespan and every request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.db import new_postgres_database


def unique(prefix: str = "x") -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class ApiClient:
    """A started app and a synchronous way to call it."""

    def __init__(self, app: Any) -> None:
        import httpx
        from anyio.from_thread import start_blocking_portal

        self.app = app
        self._stack = ExitStack()
        self.portal = self._stack.enter_context(start_blocking_portal())
        self._stack.enter_context(
            self.portal.wrap_async_context_manager(app.router.lifespan_context(app))
        )
        transport = httpx.ASGITransport(app=app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.headers: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.portal.call(lambda: self.http.request(method, url, headers=headers, **kwargs))

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)

    @property
    def database(self) -> Any:
        return self.app.state.database

    def close(self) -> None:
        self.portal.call(self.http.aclose)
        self._stack.close()


def app_routes(app: Any, routes: Any = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(full path, route) of every route of `app`, through included routers (FastAPI
    keeps an included router as one entry; its `original_router` holds the routes)."""
    for route in app.router.routes if routes is None else routes:
        if hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            yield from app_routes(app, route.original_router.routes, inner)
        elif hasattr(route, "path"):
            yield prefix + route.path, route


def make_settings(url: str, **overrides: Any) -> Any:
    from vibepiper.server.settings import ServerSettings

    settings = ServerSettings(
        database_url=url, server_retention_days=0, server_events_retention_days=0
    )
    return replace(settings, **overrides)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A new PostgreSQL database for this module (async URL), dropped afterwards."""
    with new_postgres_database("vp_server", drivername="postgresql+asyncpg") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database for this module: a SQLite file, then PostgreSQL."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_database")
        return url
    path = tmp_path_factory.mktemp("server-db") / "vibepiper.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="module")
def api(database_url: str) -> Iterator[ApiClient]:
    """The app over this module's database, started once for the module."""
    from vibepiper.server import create_app

    client = ApiClient(create_app(make_settings(database_url)))
    yield client
    client.close()


@pytest.fixture
def start_api(tmp_path: Path) -> Iterator[Callable[..., ApiClient]]:
    """Starts apps with settings overrides on a SQLite file under tmp_path."""
    from vibepiper.server import create_app

    started: list[ApiClient] = []

    def start(url: str | None = None, **overrides: Any) -> ApiClient:
        target = url or f"sqlite+aiosqlite:///{tmp_path / 'server' / 'vibepiper.db'}"
        client = ApiClient(create_app(make_settings(target, **overrides)))
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


@pytest.fixture
def new_flow_run(api: ApiClient) -> Callable[..., dict[str, Any]]:
    """Creates a flow (unique name unless given) and a flow run of it; returns the run."""

    def create(flow: str | None = None, **fields: Any) -> dict[str, Any]:
        flow_id = api.post("/api/flows/", json={"name": flow or unique("flow")}).json()["id"]
        response = api.post("/api/flow_runs/", json={"flow_id": flow_id, **fields})
        assert response.status_code == 201, response.text
        run: dict[str, Any] = response.json()
        return run

    return create


@pytest.fixture(scope="module")
def quiet(database_url: str) -> Iterator[ApiClient]:
    """The app with its loops off: only the test moves the scheduler's and late-run clocks."""
    from vibepiper.server import create_app

    client = ApiClient(create_app(make_settings(database_url, server_services=False)))
    yield client
    client.close()


@pytest.fixture
def pool(api: ApiClient) -> str:
    """A new work pool on `api`; its name."""
    from tests.server.deployment_support import new_pool

    return new_pool(api)

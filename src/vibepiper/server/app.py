"""The FastAPI application: routes under `/api`, error handlers, limits, lifespan.

On start the lifespan migrates the database (unless told not to), opens the capped
connection pool and starts the background services; on stop it cancels them and
closes the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from vibepiper.server.api import include_api, webhooks
from vibepiper.server.api.system import API_VERSION
from vibepiper.server.database import Database, migrate_database
from vibepiper.server.errors import install_error_handlers
from vibepiper.server.headers import SecurityHeaders
from vibepiper.server.limits import BodySizeLimit
from vibepiper.server.request_metrics import RequestMetrics
from vibepiper.server.services import _notify
from vibepiper.server.services._deadline import start_children, stop_children
from vibepiper.server.services.builtin_blocks import register_builtin_blocks
from vibepiper.server.services.event_retention import RetentionPolicy, event_retention_loop
from vibepiper.server.services.loops import orchestration_loops
from vibepiper.server.services.retention import retention_loop
from vibepiper.server.settings import ServerSettings, load_server_settings
from vibepiper.server.ui import install_dashboard


def create_app(settings: ServerSettings | None = None, *, preload: bool = True) -> FastAPI:
    """A new VibePiper API application (default settings: from the environment).

    With `preload` (a server process), starting the app also imports what requests need
    and starts a child process for schedule arithmetic, so the first requests do not
    wait for them; the in-process API a script's client uses leaves that to first use.
    """
    settings = settings or load_server_settings()
    app = FastAPI(
        title="VibePiper",
        version=API_VERSION,
        summary="Flows, runs, states and logs of VibePiper workflows.",
        docs_url=None,  # /api/docs is served from the package by install_dashboard
        openapi_url=None,  # /api/openapi.json is a route behind the API key (api/system.py)
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.preload = preload
    include_api(app)
    app.include_router(webhooks.hooks)  # /hooks/{slug}: open, the slug is the credential
    install_dashboard(app)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.server_max_body_bytes)
    app.add_middleware(SecurityHeaders)
    if settings.server_metrics_enabled:
        app.add_middleware(RequestMetrics)  # outermost: times the whole answer
    return app


def begin_shutdown(app: FastAPI) -> None:
    """The server was told to stop (a signal, `BackgroundServer.stop`): long-polling
    claims answer now rather than be cancelled when the shutdown grace period ends."""
    database = getattr(app.state, "database", None)
    if database is not None:
        _notify.drain(database)


def _warm_up(app: FastAPI) -> None:
    """Do now, before serving, what the first requests would otherwise do on the event
    loop: import what they import on first use (jsonschema alone takes ~0.1 s) and let
    FastAPI build its routes' validators (it does so lazily, for a whole router at once,
    ~0.1 s), which generating the OpenAPI schema does."""
    import jsonschema  # noqa: F401

    import vibepiper.orchestration.scheduling  # noqa: F401

    app.openapi()


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServerSettings = app.state.settings
    if settings.server_migrate_on_start:
        await asyncio.to_thread(migrate_database, settings.database_url)
    if app.state.preload:
        await asyncio.to_thread(_warm_up, app)
        await start_children("vibepiper.orchestration.scheduling")
    database = Database(
        settings.database_url,
        max_connections=settings.server_max_connections,
        pool_timeout=settings.server_pool_timeout,
    )
    app.state.database = database
    await register_builtin_blocks(database)
    services: list[asyncio.Task[None]] = []
    if settings.server_retention_days > 0:
        loop = retention_loop(
            database,
            days=settings.server_retention_days,
            interval=settings.server_retention_interval,
            batch_size=settings.server_retention_batch_size,
        )
        services.append(asyncio.create_task(loop, name="vibepiper-retention"))
    if settings.server_events_retention_days > 0:
        events_loop = event_retention_loop(
            database,
            policy=RetentionPolicy.from_settings(settings),
            interval=settings.server_retention_interval,
            batch_size=settings.server_events_retention_batch_size,
        )
        services.append(asyncio.create_task(events_loop, name="vibepiper-event-retention"))
    for name, service in orchestration_loops(database, settings):
        services.append(asyncio.create_task(service, name=name))
    try:
        yield
    finally:
        for task in services:
            task.cancel()
        await asyncio.gather(*services, return_exceptions=True)
        await database.dispose()
        await stop_children()

"""The REST API served inside this process, over the embedded store's SQLite file.

DESIGN.md, "Platform features: one implementation each": with no `VIBEPIPER_API_URL`,
`get_client()` talks to the very FastAPI app `vibepiper server start` serves
(`vibepiper.server.create_app`), here in this process, over `$VIBEPIPER_HOME/vibepiper.db`,
the file the engine's embedded store writes. Nothing has a second, embedded
implementation: a client cannot tell this API from a server's.

How it runs:
- The first request opens the file as the engine's store does (creating or migrating
  it), then builds the app (background services and retention off, no API key, nothing
  preloaded) and runs its lifespan on one event loop of its own in a daemon thread.
  The app's async engine (aiosqlite) belongs to that loop, so every request runs there,
  whatever thread or event loop sends it.
- `AsyncInProcessTransport` and `InProcessTransport` are httpx transports: they read the
  request body, hand the request to that loop (`run_coroutine_threadsafe`) and answer
  with the response read in full. The clients check answers as from a server: 404 is
  `ObjectNotFound`, 422 `ApiValidationError`, an error the app did not handle a 500
  (`ApiError`), no free connection a 503 that the client retries. An answer later than
  the client's timeout is `ServerBusy` (the request is cancelled).
- A file that cannot be opened (written by a newer VibePiper, say) fails the request
  that started the API with the store's own `ConfigurationError`; an app that cannot
  start with `ApiError` naming the file and the cause. The next request tries again.
- Reads of blocks and variables are answered from a cache while the database's
  generation token is unchanged (`client._read_cache`, which says why it stays correct
  across processes).
- One API per process. A client made for another database file (VIBEPIPER_HOME changed)
  stops the running one before starting its own. The API stops when the interpreter
  exits, before it joins threads: aiosqlite's connection threads are not daemons, so an
  open pool would keep the process alive. A forked child starts its own.
- The engine's writer (`sqlite3`) and the app (aiosqlite) share the file as flows and a
  server process do: WAL, the same busy timeout, writes begun IMMEDIATE.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from vibepiper.client import _read_cache
from vibepiper.client.errors import ApiError, ServerBusy
from vibepiper.exceptions import ConfigurationError, PrefectException

if TYPE_CHECKING:
    from vibepiper.server.settings import ServerSettings

__all__ = [
    "BASE_URL",
    "AsyncInProcessTransport",
    "InProcessApi",
    "InProcessTransport",
    "embedded_database_path",
    "shutdown",
]

BASE_URL = "http://in-process.vibepiper/api"
"""The base URL the in-process clients use (no request leaves the process)."""

START_TIMEOUT = 300.0
"""Seconds the app may take to start (migrating a large file takes a while)."""
STOP_TIMEOUT = 10.0


def embedded_database_path() -> Path:
    """The embedded store's file under `$VIBEPIPER_HOME`."""
    from vibepiper.settings import get_settings

    settings = get_settings()
    if settings.home_is_memory:
        raise ConfigurationError(
            "without VIBEPIPER_API_URL the client reads the embedded store, and "
            "VIBEPIPER_HOME=:memory: keeps none: set VIBEPIPER_HOME to a directory, or "
            "VIBEPIPER_API_URL to a server (e.g. http://127.0.0.1:4200/api)"
        )
    return Path(settings.database_path)


def server_settings(database_url: str) -> ServerSettings:
    """The server's settings from the environment, for this file, with no API key, no
    background services, no retention (a script's process is not a server) and no
    migration (the file was opened as the engine's store opens it)."""
    from vibepiper.server.settings import load_server_settings

    settings = load_server_settings({**os.environ, "VIBEPIPER_DATABASE_URL": database_url})
    return replace(
        settings,
        server_api_key=None,
        server_services=False,
        server_retention_days=0.0,
        server_events_retention_days=0.0,
        server_migrate_on_start=False,
    )


def open_file(path: Path) -> None:
    """Create or migrate the file as the engine's store does (one implementation: the
    schema from its DDL when new, Alembic only for another revision, under its lock)."""
    from vibepiper.store._sqlite_connect import connect, ensure_schema

    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        ensure_schema(path, con)
    finally:
        con.close()


class InProcessApi:
    """The app over one database file, and the event loop and thread it runs on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run_loop, name="vibepiper-in-process-api", daemon=True
        )
        self._transport: httpx.ASGITransport | None = None
        self._stop: asyncio.Event | None = None
        self._serving: asyncio.Task[Any] | None = None
        self._requests: set[asyncio.Task[Any]] = set()

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"

    @property
    def running(self) -> bool:
        return self._transport is not None and self._loop.is_running()

    def start(self) -> None:
        """Open the file, start the loop and the app's lifespan; raises what stopped them."""
        try:
            open_file(self.path)
        except BaseException:
            self._loop.close()  # never run: nothing else to stop
            raise
        self._thread.start()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        asyncio.run_coroutine_threadsafe(self._serve(started), self._loop)
        try:
            started.result(timeout=START_TIMEOUT)
        except BaseException as exc:
            self._end_loop()
            if isinstance(exc, PrefectException) or not isinstance(exc, Exception):
                raise
            raise ApiError(
                f"the in-process VibePiper API over {self.path} could not start: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    async def _serve(self, started: concurrent.futures.Future[None]) -> None:
        from vibepiper.server import create_app

        self._stop = asyncio.Event()
        self._serving = asyncio.current_task()
        try:
            app = create_app(server_settings(self.database_url), preload=False)
            async with app.router.lifespan_context(app):
                # an error the app does not handle is a 500 for the client, as on a server
                self._transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                started.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if started.done():
                raise
            started.set_exception(exc)
        finally:
            self._transport = None

    def submit(self, request: httpx.Request) -> concurrent.futures.Future[httpx.Response]:
        """Send `request` (its body read already) to the app on the API's loop."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("the in-process API cannot be called from its own thread")
        handling = self._handle(request)
        try:
            return asyncio.run_coroutine_threadsafe(handling, self._loop)
        except RuntimeError:  # the loop stopped meanwhile
            handling.close()
            raise ServerBusy("the in-process VibePiper API has stopped") from None

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport
        if transport is None:
            raise ServerBusy("the in-process VibePiper API has stopped")
        handling = asyncio.current_task()
        assert handling is not None
        self._requests.add(handling)
        try:
            response = await transport.handle_async_request(request)
            content = await response.aread()
        finally:
            self._requests.discard(handling)
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def stop(self) -> None:
        """Cancel the requests in flight, end the app's lifespan, stop the loop."""
        if self._loop.is_running():
            ending = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                ending.result(timeout=STOP_TIMEOUT)
            except Exception:  # a lifespan that fails or hangs while ending: stop regardless
                ending.cancel()
        self._end_loop()

    async def _shutdown(self) -> None:
        # Cancel each request once: one its client gave up on is ending already. A second
        # cancel would abandon its connection's graceful close half way (SQLAlchemy then
        # stops the aiosqlite thread under it, and the close waits forever). The tasks the
        # requests started (such as those closes) end with them, so they are left alone.
        requests = list(self._requests)
        for task in requests:
            if not task.cancelling():
                task.cancel()
        await asyncio.gather(*requests, return_exceptions=True)
        if self._stop is not None:
            self._stop.set()
        if self._serving is not None:
            await asyncio.gather(self._serving, return_exceptions=True)

    def _end_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(STOP_TIMEOUT)

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            leftovers = asyncio.all_tasks(self._loop)
            for task in leftovers:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()


_lock = threading.Lock()
_api: InProcessApi | None = None
_exiting = False
_inherited: list[InProcessApi] = []


def running_api(path: Path) -> InProcessApi:
    """The API over the file at `path`, started now if it is not running."""
    global _api
    api = _api
    if api is not None and api.path == path and api.running:
        return api
    with _lock:
        if _exiting:
            raise ServerBusy("the in-process VibePiper API has stopped: the interpreter is exiting")
        api = _api
        if api is not None and api.path == path and api.running:
            return api
        _api = None
        if api is not None:
            api.stop()
        api = InProcessApi(path)
        api.start()
        _api = api
        return api


def shutdown() -> None:
    """Stop the in-process API if it runs (the next request starts it again)."""
    global _api
    with _lock:
        api, _api = _api, None
    if api is not None:
        api.stop()


def _at_exit() -> None:
    global _exiting
    _exiting = True
    shutdown()


def _after_fork_in_child() -> None:
    global _api, _lock
    _lock = threading.Lock()  # another thread may have held it when the process forked
    _read_cache.forget_all(close=False)  # the parent's connections stay the parent's
    if _api is not None:
        # its thread and loop stayed in the parent: keep the object, never finalise it here
        _inherited.append(_api)
        _api = None


# Runs when the main thread ends, before the interpreter joins the other threads (as
# concurrent.futures does); `atexit` would run after that join, too late.
try:
    threading._register_atexit(_at_exit)  # type: ignore[attr-defined]
except RuntimeError:  # imported while the interpreter exits: start nothing
    _exiting = True
os.register_at_fork(after_in_child=_after_fork_in_child)


def _timeout(request: httpx.Request) -> float | None:
    timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeouts.get("read")


def _late(request: httpx.Request, seconds: float | None) -> ServerBusy:
    return ServerBusy(
        f"the in-process VibePiper API did not answer {request.method} {request.url.path} "
        f"within {seconds:g} s"
    )


class InProcessTransport(httpx.BaseTransport):
    """Sends a blocking client's requests to the in-process API over the file at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        api = running_api(self.path)
        cache = _read_cache.cache_for(self.path)
        key = cache.key(request)
        if key is None:
            if request.method != "GET":
                cache.clear()
            return self._send(api, request)
        token = cache.token()  # before the request: a later change is never cached
        cached = cache.get(key, token)
        if cached is not None:
            return cached
        response = self._send(api, request)
        cache.put(key, token, response)
        return response

    @staticmethod
    def _send(api: InProcessApi, request: httpx.Request) -> httpx.Response:
        answer = api.submit(request)
        seconds = _timeout(request)
        try:
            return answer.result(timeout=seconds)
        except concurrent.futures.TimeoutError:
            answer.cancel()
            raise _late(request, seconds) from None


class AsyncInProcessTransport(httpx.AsyncBaseTransport):
    """Sends an async client's requests to the in-process API over the file at `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        api = _api
        if api is None or api.path != self.path or not api.running:
            # starting imports the server and may migrate the file: not on the caller's loop
            api = await asyncio.to_thread(running_api, self.path)
        cache = _read_cache.cache_for(self.path)
        key = cache.key(request)
        if key is None:
            if request.method != "GET":
                cache.clear()
            return await self._send(api, request)
        token = cache.token()  # before the request: a later change is never cached
        cached = cache.get(key, token)
        if cached is not None:
            return cached
        response = await self._send(api, request)
        cache.put(key, token, response)
        return response

    @staticmethod
    async def _send(api: InProcessApi, request: httpx.Request) -> httpx.Response:
        seconds = _timeout(request)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(api.submit(request)), seconds)
        except TimeoutError:
            raise _late(request, seconds) from None

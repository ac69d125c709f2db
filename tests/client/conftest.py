"""A real `vibepiper server start` subprocess on its own VIBEPIPER_HOME, per module; and
`api_target`, which runs a test against the in-process API and against such servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.db import new_postgres_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    port: int
    home: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env_extra: dict[str, str] | None = None) -> None:
        env = {**os.environ, "VIBEPIPER_HOME": str(self.home)}
        for name in ("VIBEPIPER_DATABASE_URL", "VIBEPIPER_API_URL", "VIBEPIPER_API_KEY"):
            env.pop(name, None)
        env.update(env_extra or {})
        # output goes to a file: a pipe nobody drains fills up after a few hundred
        # access-log lines and then blocks the server mid-request
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vibepiper.cli",
                    "server",
                    "start",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def log(self) -> Path:
        return self.home / "server.log"

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None and self.process.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).json() is True:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server did not come up:\n{self.output()}"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def new_server(tmp: Path) -> Server:
    port = free_port()
    return Server(url=f"http://127.0.0.1:{port}/api", port=port, home=tmp / "server-home")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server without an API key, shared by the tests of a module: over its own
    SQLite file, and over a throwaway PostgreSQL database."""
    with backend_server(request.param, tmp_path_factory.mktemp("server")) as running:
        yield running


@contextmanager
def backend_server(
    backend: str, tmp: Path, env: dict[str, str] | None = None, prefix: str = "vp_client"
) -> Iterator[Server]:
    """A started server over a SQLite file under `tmp` (`backend` "sqlite") or a throwaway
    PostgreSQL database ("postgres"), with `env` added; stopped (and dropped) after."""
    with ExitStack() as stack:
        env_extra = dict(env or {})
        if backend == "postgres":
            env_extra["VIBEPIPER_DATABASE_URL"] = stack.enter_context(
                new_postgres_database(prefix, drivername="postgresql+asyncpg")
            )
        running = new_server(tmp)
        running.start(env_extra)
        stack.callback(running.stop)
        running.wait_healthy()
        yield running


@pytest.fixture(scope="module", params=["in-process", "sqlite", "postgres"])
def api_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str | None]:
    """None (no server: the client uses the in-process API over the test's own
    VIBEPIPER_HOME), then the URL of a server over SQLite, then over PostgreSQL."""
    if request.param == "in-process":
        yield None
        return
    with backend_server(request.param, tmp_path_factory.mktemp("server")) as running:
        yield running.url


@pytest.fixture
def api_target(api_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """Flows of the test record where `get_client()` reads: the server at `api_url`
    (VIBEPIPER_API_URL set), or the embedded store read through the in-process API."""
    from vibepiper.client import in_process
    from vibepiper.settings import reload_settings
    from vibepiper.store import reset_store

    if api_url is None:
        monkeypatch.delenv("VIBEPIPER_API_URL", raising=False)
    else:
        monkeypatch.setenv("VIBEPIPER_API_URL", api_url)
    reload_settings()
    reset_store()
    yield api_url
    reset_store()
    in_process.shutdown()


@pytest.fixture
def store(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The process-wide store (an `ApiStore`), pointed at `server`."""
    from vibepiper.settings import reload_settings
    from vibepiper.store import get_store, reset_store
    from vibepiper.store.api import ApiStore

    monkeypatch.setenv("VIBEPIPER_API_URL", server.url)
    reset_store()
    reload_settings()
    opened = get_store()
    assert isinstance(opened, ApiStore)
    yield opened
    reset_store()

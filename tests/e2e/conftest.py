"""Fixtures the worker e2e tests share: one real server a module, a client on it and a
project on disk. A module that needs other server settings overrides `server_env`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.docker_support import FLOWS as DOCKER_FLOWS
from tests.e2e.workers_support import running_server, write_project
from vibepiper.client._client import SyncVibePiperClient


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    """Extra environment for the module's server process (none by default)."""
    return {}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]
) -> Iterator[Server]:
    """One server a module: starting uvicorn per test would dominate these slow tests."""
    with running_server(tmp_path_factory.mktemp("server"), server_env) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[SyncVibePiperClient]:
    with SyncVibePiperClient(server.url) as c:
        yield c


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project")


@pytest.fixture
def docker_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "out").mkdir(parents=True)
    (project / "flows.py").write_text(DOCKER_FLOWS)
    project.chmod(0o755)
    return project


@pytest.fixture
def engine_env(container_engine: str) -> Iterator[dict[str, str]]:
    yield {"DOCKER_HOST": container_engine}

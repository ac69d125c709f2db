"""Start and stop a real `vibepiper server start` subprocess for the server workloads.

SQLite on a fresh home by default; `postgres_database()` makes a throwaway PostgreSQL
database (like tests/fixtures/db.py) for `VIBEPIPER_DATABASE_URL`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

POSTGRES_ADMIN = os.environ.get(
    "VIBEPIPER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_server(home: Path, database_url: str | None = None) -> Iterator[str]:
    """A server on `home` (or `database_url`); yields its API URL; stops it afterwards."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env["VIBEPIPER_HOME"] = str(home)
    if database_url:
        env["VIBEPIPER_DATABASE_URL"] = database_url
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "vibepiper.cli", "server", "start", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError((home / "server.log").read_text())
            try:
                if httpx.get(f"{url}/health", timeout=1).json() is True:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not come up")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new PostgreSQL database (asyncpg URL); dropped afterwards."""
    import psycopg

    name = f"vp_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace(
                "postgresql://", "postgresql+asyncpg://"
            )
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_worker(url: str, pool: str, root: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `vibepiper worker start --pool POOL` on the server at `url` (its home and log
    under `root`); stopped with SIGTERM afterwards (killed if it does not stop)."""
    import signal

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env |= {"VIBEPIPER_API_URL": url, "VIBEPIPER_HOME": str(root / "worker-home")}
    with open(root / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "vibepiper.cli", "worker", "start", "--pool", pool],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile of `values` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

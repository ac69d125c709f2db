"""`vibepiper server start` and `vibepiper server database upgrade|downgrade|reset`."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app
from vibepiper.database.revision import HEAD_REVISION


def _previous_revision() -> str:
    from alembic.script import ScriptDirectory

    from vibepiper.database.migrate import alembic_config

    down = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD_REVISION).down_revision
    assert isinstance(down, str)
    return down


PREVIOUS_REVISION = _previous_revision()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _revision(path: Path) -> str | None:
    con = sqlite3.connect(path)
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return row[0] if row else None


def test_database_upgrade_downgrade_reset_on_sqlite(vibepiper_home: Path) -> None:
    db = vibepiper_home / "vibepiper.db"
    result = invoke("server", "database", "upgrade", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["revision"] == HEAD_REVISION
    assert _revision(db) == HEAD_REVISION

    result = invoke("server", "database", "downgrade")
    assert result.exit_code == 0, result.output
    assert f"now at revision {PREVIOUS_REVISION}" in result.output
    assert _revision(db) == PREVIOUS_REVISION

    result = invoke("server", "database", "reset", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) | {"database": ""} == {
        "database": "",
        "action": "reset",
        "revision": HEAD_REVISION,
    }


def test_reset_asks_first(vibepiper_home: Path) -> None:
    result = CliRunner().invoke(app, ["server", "database", "reset"], input="n\n")
    assert result.exit_code == 1
    assert "nothing was deleted" in result.output


def test_database_commands_on_postgres(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIBEPIPER_DATABASE_URL", postgres_database)
    for args, revision in (
        (["upgrade"], HEAD_REVISION),
        (["downgrade", "--revision", "base"], None),
        (["reset", "--yes"], HEAD_REVISION),
    ):
        result = invoke("server", "database", *args, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["revision"] == revision


def test_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIBEPIPER_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    result = invoke("server", "database", "upgrade")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: cannot use the database postgresql+psycopg://nobody@")

    monkeypatch.setenv("VIBEPIPER_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = invoke("server", "database", "upgrade", "--revision", "nope")
    assert result.exit_code == 1
    assert "Error: cannot migrate" in result.output

    monkeypatch.setenv("VIBEPIPER_SERVER_MAX_CONNECTIONS", "lots")
    result = invoke("server", "database", "upgrade")
    assert result.output.strip() == (
        "Error: VIBEPIPER_SERVER_MAX_CONNECTIONS='lots' is not a whole number"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.parametrize("access_log", [False, True], ids=["quiet", "access-log"])
def test_server_start_serves_the_api(tmp_path: Path, access_log: bool) -> None:
    port = _free_port()
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "home")}
    env.pop("VIBEPIPER_DATABASE_URL", None)
    options = ["--access-log"] if access_log else []
    process = subprocess.Popen(
        [sys.executable, "-m", "vibepiper.cli", "server", "start", "--port", str(port), *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"{base}/health", timeout=1).json() is True:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        flow = httpx.post(f"{base}/flows/", json={"name": "cli"}).json()
        run = httpx.post(f"{base}/flow_runs/", json={"flow_id": flow["id"]}).json()
        assert httpx.get(f"{base}/flow_runs/{run['id']}").json()["flow_name"] == "cli"
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "VibePiper"
        assert (tmp_path / "home" / "vibepiper.db").exists()
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()
    assert (
        f"VibePiper dashboard on http://127.0.0.1:{port}/ , API on http://127.0.0.1:{port}/api"
        in output
    )
    # a line per request only when asked for (workers poll many times a second)
    assert ('"POST /api/flows/ HTTP/1.1" 201' in output) is access_log, output

"""The `vibepiper` root command: `version`, one-line errors, and the real entry points."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app
from vibepiper.exceptions import ConfigurationError
from vibepiper.schemas.views import FlowRunView
from vibepiper.settings import get_settings, reload_settings
from vibepiper.store import set_store
from vibepiper.store.memory import MemoryStore


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("VIBEPIPER_HOME", str(tmp_path))
    reload_settings()
    yield tmp_path
    # monkeypatch restores the environment after this; the next read must see it.
    get_settings.cache_clear()


class BrokenStore(MemoryStore):
    """A store whose listing fails the way the given exception says."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def read_flow_runs(self, **filters: Any) -> list[FlowRunView]:
        raise self.error


@pytest.fixture
def use_store() -> Iterator[Any]:
    previous = set_store(None)
    yield set_store
    set_store(previous)


# --- version ----------------------------------------------------------------------------


def test_version_shows_package_python_and_store(home: Path) -> None:
    result = invoke("version")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Version:", distribution_version("vibepiper")]
    assert f"Python:   {platform.python_version()}" in lines
    assert f"Store:    {home / 'vibepiper.db'}" in lines


def test_version_json(home: Path) -> None:
    result = invoke("version", "--json")

    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["version"] == distribution_version("vibepiper")
    assert info["python_version"] == platform.python_version()
    assert info["store"] == str(home / "vibepiper.db")


def test_version_of_a_memory_store(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("VIBEPIPER_HOME", ":memory:")
    reload_settings()

    assert json.loads(invoke("version", "--json").stdout)["store"] == ":memory:"


def test_no_arguments_prints_help() -> None:
    result = invoke()

    assert "flow-run" in result.output and "version" in result.output


# --- errors -----------------------------------------------------------------------------


def test_a_vibepiper_error_is_one_line(use_store: Any) -> None:
    use_store(BrokenStore(ConfigurationError("database is locked\nretry later")))

    result = invoke("flow-run", "ls")

    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["Error: database is locked retry later"]
    assert result.stdout == ""


def test_an_unexpected_error_is_one_line_without_traceback(use_store: Any) -> None:
    use_store(BrokenStore(ZeroDivisionError("division by zero")))

    result = invoke("flow-run", "ls", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: unexpected ZeroDivisionError: division by zero (run with --debug for the traceback)"
    ]
    assert "Traceback" not in result.output


def test_debug_lets_the_exception_through(use_store: Any) -> None:
    use_store(BrokenStore(ZeroDivisionError("division by zero")))

    result = invoke("--debug", "flow-run", "ls")

    assert isinstance(result.exception, ZeroDivisionError)


def test_usage_errors_keep_exit_code_2() -> None:
    result = invoke("flow-run", "no-such-command")

    assert result.exit_code == 2
    assert result.stdout == ""


# --- real processes ---------------------------------------------------------------------


def run_cli(*args: str, home: str = ":memory:") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": home, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_python_m_vibepiper_cli_help_loads_no_store() -> None:
    proc = run_cli("-X", "importtime", "-m", "vibepiper.cli", "--help")

    assert proc.returncode == 0, proc.stderr
    assert "flow-run" in proc.stdout and "version" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "sqlalchemy" not in imported
    assert "vibepiper.store.embedded" not in imported


def test_unknown_id_in_a_real_process_is_one_line() -> None:
    missing = uuid.uuid4()

    proc = run_cli("-m", "vibepiper.cli", "flow-run", "inspect", str(missing))

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [f"Error: no flow run with id {missing}"]


def test_console_script_version_json(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("vibepiper")
    if not script.exists():
        pytest.skip("the vibepiper console script is not installed in this environment")

    proc = subprocess.run(
        [str(script), "version", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "VIBEPIPER_HOME": str(tmp_path)},
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["store"] == str(tmp_path / "vibepiper.db")

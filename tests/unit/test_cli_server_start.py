"""`vibepiper server start --log-level`: one of uvicorn's levels, in any case, listed in
`--help`; anything else is a usage error before the server starts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # help and error boxes on one line each
    yield


def assert_usage_error(result: Result, *named: str) -> None:
    """Exit 2, nothing on stdout, and the error line names every value in `named`."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error = next(line for line in result.stderr.splitlines() if "Invalid value" in line)
    for value in named:
        assert value in error, error


def test_server_start_refuses_an_unknown_log_level_before_starting() -> None:
    result = invoke("server", "start", "--port", "0", "--log-level", "loud")

    assert_usage_error(result, "'loud'", "debug", "info", "warning", "error", "critical")
    assert "dashboard" not in result.output


def test_server_start_log_level_keeps_any_case_and_help_lists_the_levels() -> None:
    help_text = _squeeze(invoke("server", "start", "--help").stdout)
    assert all(level in help_text for level in ("debug", "info", "warning", "error", "trace"))
    # a valid level in another case passes the option check: what fails next is the
    # port check (an out-of-range port), not the level
    result = invoke("server", "start", "--port", "70000", "--log-level", "WARNING")
    assert result.exit_code == 2
    assert "--port" in result.stderr and "--log-level" not in result.stderr


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)

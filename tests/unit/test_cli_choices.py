"""Options that take one of a fixed set of values refuse anything else as a usage error
(exit status 2, naming the accepted values), and `--help` lists the values."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app
from vibepiper.store import set_store
from vibepiper.store.memory import MemoryStore


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # help and error boxes on one line each
    monkeypatch.delenv("VIBEPIPER_API_URL", raising=False)
    previous = set_store(MemoryStore())
    yield
    set_store(previous)


def assert_usage_error(result: Result, *named: str) -> None:
    """Exit 2, nothing on stdout, and the error line names every value in `named`."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    error = next(line for line in result.stderr.splitlines() if "Invalid value" in line)
    for value in named:
        assert value in error, error


STATES = [
    "SCHEDULED",
    "PENDING",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CRASHED",
    "CANCELLING",
    "CANCELLED",
    "PAUSED",
    "Late",
    "AwaitingRetry",
    "Retrying",
    "Cached",
    "TimedOut",
    "Pausing",
    "Suspending",
    "Suspended",
    "Resuming",
]


def test_an_unknown_state_is_an_error_listing_the_states() -> None:
    result = invoke("flow-run", "ls", "--state", "bogus")

    assert_usage_error(result, "'bogus'", *STATES)
    assert "No flow runs found" not in result.output


@pytest.mark.parametrize(
    "spelling", ["failed", "FAILED", "timed_out", "Timed-Out", "awaiting retry"]
)
def test_known_states_keep_any_spelling(spelling: str) -> None:
    result = invoke("flow-run", "ls", "--state", spelling)

    assert result.exit_code == 0, result.output
    assert "No flow runs found." in result.stdout


def test_ls_help_lists_the_states() -> None:
    help_text = _squeeze(invoke("flow-run", "ls", "--help").stdout)

    assert all(state in help_text for state in STATES), help_text


@pytest.mark.parametrize(
    "command",
    [
        ["worker", "start", "--pool", "p", "--type", "kubernetes"],
        ["work-pool", "create", "p", "--type", "kubernetes"],
    ],
)
def test_unknown_worker_and_pool_types_are_usage_errors(command: list[str]) -> None:
    assert_usage_error(invoke(*command), "'kubernetes'", "docker", "process")


@pytest.mark.parametrize(
    "command", [["worker", "start", "--help"], ["work-pool", "create", "x", "--help"]]
)
def test_help_lists_the_worker_and_pool_types(command: list[str]) -> None:
    help_text = _squeeze(invoke(*command).stdout)
    assert "process" in help_text and "docker" in help_text, help_text


def test_types_are_case_insensitive() -> None:
    # past the type check, the worker needs a server: that is the error it reports
    result = invoke("worker", "start", "--pool", "p", "--type", "Process")

    assert result.exit_code == 1
    assert "VIBEPIPER_API_URL" in result.stderr


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_template_types_are_those_with_a_default_template() -> None:
    from vibepiper.cli import choices
    from vibepiper.orchestration.job_templates import default_base_job_template

    for pool_type in choices.JOB_TEMPLATE_TYPES:
        assert default_base_job_template(pool_type)["variables"]["properties"]
    with pytest.raises(ValueError, match="known: docker, process"):
        default_base_job_template("kubernetes")
    assert_usage_error(
        invoke("work-pool", "get-default-base-job-template", "--type", "kubernetes"),
        "'kubernetes'",
        "docker",
    )

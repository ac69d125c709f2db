"""Why a flow run container ended (`workers.docker.diagnosis`): every row of the exit
table, and the Docker and Podman wordings of errors at container create or start."""

from __future__ import annotations

from typing import Any

import pytest

from vibepiper.workers.docker.diagnosis import (
    LAST_LINES,
    ExitReport,
    diagnose,
    start_error_report,
)

MIB_64 = 64 << 20


def _diagnose(
    code: int,
    *,
    oom_killed: bool = False,
    mem_limit: int | None = None,
    stopped_by_worker: bool = False,
    vanished: bool = False,
    last_lines: tuple[str, ...] = ("last line",),
) -> ExitReport:
    state: dict[str, Any] = {"Status": "exited", "ExitCode": code, "OOMKilled": oom_killed}
    return diagnose(
        state,
        code=code,
        mem_limit=mem_limit,
        last_lines=last_lines,
        stopped_by_worker=stopped_by_worker,
        vanished=vanished,
    )


# --- diagnose -----------------------------------------------------------------------------
def test_a_vanished_container_says_so_whatever_its_code() -> None:
    report = _diagnose(-1000, oom_killed=True, mem_limit=MIB_64, vanished=True)
    assert report == ExitReport(
        "vanished (removed outside the worker)", "vanished", None, ("last line",)
    )
    assert report.details() == {"crash_reason": "vanished", "exit_code": None}


def test_oom_killed_names_the_memory_limit() -> None:
    report = _diagnose(137, oom_killed=True, mem_limit=MIB_64)
    assert report.how == "was killed: out of memory (limit 64 MiB)"
    assert (report.reason, report.code) == ("oom", 137)
    assert report.details() == {"crash_reason": "oom", "exit_code": 137}


def test_oom_killed_without_a_limit_says_there_was_none() -> None:
    report = _diagnose(137, oom_killed=True)
    assert report.how == "was killed: out of memory (no memory limit)"
    assert report.reason == "oom"


def test_oom_killed_wins_even_when_the_worker_stopped_the_container() -> None:
    report = _diagnose(137, oom_killed=True, mem_limit=MIB_64, stopped_by_worker=True)
    assert report.reason == "oom"


def test_137_under_a_memory_limit_is_an_oom_kill_when_the_engine_does_not_say() -> None:
    report = _diagnose(137, mem_limit=MIB_64)
    assert report.how == (
        "was killed: out of memory (limit 64 MiB) (exit code 137 under a memory limit)"
    )
    assert (report.reason, report.code) == ("oom", 137)


@pytest.mark.parametrize(
    ("mem_limit", "stopped_by_worker"), [(MIB_64, True), (None, False), (None, True)]
)
def test_137_is_a_sigkill_when_the_worker_sent_it_or_there_is_no_limit(
    mem_limit: int | None, stopped_by_worker: bool
) -> None:
    report = _diagnose(137, mem_limit=mem_limit, stopped_by_worker=stopped_by_worker)
    assert (report.how, report.reason) == ("exited with signal 9 (SIGKILL)", "signal")


def test_127_is_a_command_not_found() -> None:
    report = _diagnose(127, mem_limit=MIB_64)
    assert report.how == "exited with code 127: command not found"
    assert report.details() == {"crash_reason": "command-not-found", "exit_code": 127}


def test_126_is_a_command_not_executable() -> None:
    report = _diagnose(126)
    assert (report.how, report.reason) == ("exited with code 126: command not executable", "exit")


@pytest.mark.parametrize(
    ("code", "how"),
    [
        (129, "exited with signal 1 (SIGHUP)"),
        (130, "exited with signal 2 (SIGINT)"),
        (139, "exited with signal 11 (SIGSEGV)"),
        (143, "exited with signal 15 (SIGTERM)"),
        (163, "exited with signal 35"),  # a real-time signal: no name
        (192, "exited with signal 64 (SIGRTMAX)"),
    ],
)
def test_codes_above_128_are_signals_by_name(code: int, how: str) -> None:
    report = _diagnose(code, mem_limit=MIB_64)
    assert (report.how, report.reason, report.code) == (how, "signal", code)


@pytest.mark.parametrize("code", [0, 1, 3, 128, 193, 255])
def test_other_codes_are_plain_exits(code: int) -> None:
    report = _diagnose(code, mem_limit=MIB_64)
    assert (report.how, report.reason, report.code) == (f"exited with code {code}", "exit", code)


def test_a_report_keeps_the_last_20_lines() -> None:
    lines = tuple(f"line {n}" for n in range(50))
    report = _diagnose(1, last_lines=lines)
    assert LAST_LINES == 20
    assert report.last_lines == lines[-20:]
    assert report.last_lines[0] == "line 30"
    assert _diagnose(1, last_lines=("a", "b")).last_lines == ("a", "b")
    assert _diagnose(1, last_lines=()).last_lines == ()


def test_a_report_defaults_to_no_code_and_no_lines() -> None:
    report = ExitReport("exited with code 1", "exit")
    assert (report.code, report.last_lines) == (None, ())


# --- start_error_report -------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        # Docker (runc), a command looked up in $PATH
        "failed to create task for container: failed to create shim task: OCI runtime "
        'create failed: runc create failed: unable to start container process: exec: "nope": '
        "executable file not found in $PATH: unknown",
        # Docker, an absolute path that does not exist
        "OCI runtime create failed: runc create failed: unable to start container process: "
        'exec: "/bin/nope": stat /bin/nope: no such file or directory: unknown',
        # Podman with crun
        "crun: executable file `nope` not found in $PATH: No such file or directory: "
        "OCI runtime attempted to invoke a command that was not found",
        # Podman with runc
        'runc: runc create failed: unable to start container process: exec: "nope": '
        "executable file not found in $PATH: OCI runtime attempted to invoke a command "
        "that was not found",
    ],
)
def test_start_errors_about_the_command_name_it(message: str) -> None:
    assert start_error_report(message, image="localhost/x:1", argv0="nope") == (
        "command-not-found",
        "command not found ('nope')",
    )


def test_a_missing_mount_source_is_not_a_missing_command() -> None:
    message = "statfs /srv/data: no such file or directory"
    assert start_error_report(message, image="localhost/x:1", argv0="python") == (
        "start-failed",
        message,
    )


@pytest.mark.parametrize(
    "message",
    [
        "No such image: localhost/nope:1",  # Docker
        "localhost/nope:1: image not known",  # Podman
        "manifest for localhost/nope:1 not found: manifest unknown: manifest unknown",
        "pull access denied for localhost/nope, repository does not exist or may require "
        "'docker login'",
        "image localhost/nope:1 not found",
    ],
)
def test_start_errors_about_the_image_name_it(message: str) -> None:
    assert start_error_report(message, image="localhost/nope:1", argv0="python") == (
        "image-not-found",
        "image 'localhost/nope:1' not found",
    )


def test_other_start_errors_keep_their_first_line() -> None:
    message = "  Conflict. The container name is already in use\nmore detail\n"
    assert start_error_report(message, image="i:1", argv0="python") == (
        "start-failed",
        "Conflict. The container name is already in use",
    )
    assert start_error_report("", image="i:1", argv0="python") == (
        "start-failed",
        "the engine gave no reason",
    )

"""What a process worker reads from a run's job configuration, and its copy of the pool's
base job template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vibepiper.orchestration.job_templates import default_base_job_template
from vibepiper.workers.job_configuration import (
    PoolTemplate,
    job_configuration,
    run_setup,
)
from vibepiper.workers.process import SourceError


def test_an_empty_pool_template_is_the_process_default() -> None:
    configuration = job_configuration({}, {"env": {"A": "d"}}, {"env": {"B": "r"}})
    assert configuration == job_configuration(
        default_base_job_template("process"), {"env": {"A": "d"}}, {"env": {"B": "r"}}
    )
    assert configuration["env"] == {"A": "d", "B": "r"}
    assert configuration["stream_output"] is True


def test_a_broken_template_fails_the_run_naming_it() -> None:
    with pytest.raises(SourceError, match="base job template cannot be used"):
        job_configuration({"job_configuration": [], "variables": {}}, {}, {})


def test_run_setup_reads_env_directory_command_and_output(tmp_path: Path) -> None:
    configuration = {
        "env": {"A": "1", "N": 2, "GONE": None},
        "working_dir": "sub",
        "command": "python -m 'my module' --flag",
        "stream_output": False,
    }
    setup = run_setup(configuration, tmp_path)
    assert setup.env == {"A": "1", "N": "2"}
    assert setup.unset == frozenset({"GONE"})
    assert setup.cwd == tmp_path / "sub"
    assert setup.command == ["python", "-m", "my module", "--flag"]
    assert setup.stream_output is False
    assert not setup.plain
    assert setup.environment({"GONE": "x", "KEPT": "y", "A": "0"}) == {
        "KEPT": "y",
        "A": "1",
        "N": "2",
    }
    assert run_setup({"working_dir": "/abs"}, tmp_path).cwd == Path("/abs")


def test_the_default_configuration_is_plain(tmp_path: Path) -> None:
    setup = run_setup(job_configuration({}, {}, {}), tmp_path)
    assert (setup.env, setup.cwd, setup.command, setup.stream_output) == ({}, tmp_path, None, True)
    assert setup.plain


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({"env": 3}, "job variable 'env' must be a mapping, got int"),
        ({"working_dir": 1}, "job variable 'working_dir' must be a path"),
        ({"command": ["a"]}, "job variable 'command' must be a string, got list"),
        ({"command": "a 'b"}, "job variable 'command' cannot be split"),
    ],
)
def test_fields_of_the_wrong_shape_are_named(
    tmp_path: Path, configuration: dict[str, Any], message: str
) -> None:
    with pytest.raises(SourceError, match=message):
        run_setup(configuration, tmp_path)


def test_the_pool_template_is_read_again_once_stale() -> None:
    reads: list[dict[str, Any]] = [{"v": 1}, {"v": 2}]

    def read() -> dict[str, Any]:
        if not reads:
            raise ConnectionError("server gone")
        return reads.pop(0)

    cached = PoolTemplate(read, max_age=3600)
    assert cached.get() == {"v": 1}
    assert cached.get() == {"v": 1}  # fresh: not read again
    stale = PoolTemplate(read, max_age=0)
    assert stale.get() == {"v": 2}
    assert stale.get() == {"v": 2}  # a failed re-read keeps the last copy
    with pytest.raises(ConnectionError):
        PoolTemplate(read).get()  # no copy yet: the failure is the caller's
    assert PoolTemplate(None).get() == {}  # no pool (a serve process)

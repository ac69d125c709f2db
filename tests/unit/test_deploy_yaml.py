"""`vibepiper.yaml` loading: the deployments it builds and the errors it gives (no server)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vibepiper.deployments import project
from vibepiper.deployments.project import ProjectFileError

FLOW_FILE = """
from vibepiper import flow

@flow(name="etl")
def etl(day: str, limit: int = 10) -> int:
    return limit

def not_a_flow():
    pass
"""


def write_project(tmp_path: Path, yaml_text: str) -> Path:
    (tmp_path / "flows").mkdir(exist_ok=True)
    (tmp_path / "flows" / "etl.py").write_text(FLOW_FILE)
    file = tmp_path / "vibepiper.yaml"
    file.write_text(textwrap.dedent(yaml_text))
    return file


GOOD = """
    deployments:
      - name: nightly
        entrypoint: flows/etl.py:etl
        parameters: {day: "2024-05-01"}
        description: Load a day
        tags: [etl, nightly]
        version: 2
        schedules:
          - cron: "0 6 * * *"
            timezone: Europe/Berlin
            catchup: true
            max_catchup_runs: 3
            overlap: skip
          - interval: 3600
            active: false
        work_pool: {name: local, work_queue_name: high, job_variables: {env: {A: "1"}}}
        concurrency_limit: 1
        paused: true
      - name: adhoc
        entrypoint: flows/etl.py:etl
"""


def test_a_project_file_builds_its_deployments(tmp_path: Path) -> None:
    file = write_project(tmp_path, GOOD)
    loaded = project.load_project(file)
    assert [spec.name for spec in loaded.deployments] == ["nightly", "adhoc"]
    nightly = project.build(loaded, project.select(loaded, ["nightly"], False)[0])
    assert nightly.full_name == "etl/nightly"
    assert nightly.entrypoint == "flows/etl.py:etl"
    assert nightly.path == str(tmp_path.resolve())
    assert nightly.work_pool_name == "local"
    assert nightly.work_queue_name == "high"
    assert nightly.job_variables == {"env": {"A": "1"}}
    assert nightly.version == "2"
    assert nightly.paused is True
    assert nightly.concurrency_limit == 1
    wire = nightly.to_create()
    assert wire.parameter_openapi_schema is not None
    assert wire.parameter_openapi_schema["required"] == ["day"]
    cron, interval = wire.schedules
    assert (cron.catchup, cron.max_catchup_runs, cron.overlap) == (True, 3, "skip")
    assert interval.active is False


def test_select_by_flow_slash_name_all_and_the_single_default(tmp_path: Path) -> None:
    loaded = project.load_project(write_project(tmp_path, GOOD))
    assert [s.name for s in project.select(loaded, ["etl/adhoc"], False)] == ["adhoc"]
    assert len(project.select(loaded, [], True)) == 2
    with pytest.raises(ProjectFileError, match=r"has 2 deployments .*pass --all"):
        project.select(loaded, [], False)
    with pytest.raises(ProjectFileError, match=r"no deployment named 'weekly'.*nightly, adhoc"):
        project.select(loaded, ["weekly"], False)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("deployments: []", "'deployments' must be a non-empty list"),
        ("deploymnts: []", "top level: unknown key(s) 'deploymnts'"),
        (
            "deployments: [{name: a, entrypoint: 'flows/etl.py:etl', schedule: {cron: '*'}}]",
            "deployments[0] ('a'): unknown key(s) 'schedule'",
        ),
        ("deployments: [{name: a}]", "deployments[0] ('a'): 'entrypoint' is required"),
        (
            "deployments: [{name: a, entrypoint: 'flows/etl.py:etl', tags: etl}]",
            "'tags' must be a list of strings, got str",
        ),
        (
            "deployments: [{name: a, entrypoint: 'flows/etl.py:etl', schedules: [{cron: 'nope'}]}]",
            "schedules[0]: invalid cron schedule: cron: invalid cron expression 'nope'",
        ),
        (
            "deployments: [{name: a, entrypoint: 'flows/etl.py:etl', "
            "work_pool: {name: p, queue: q}}]",
            "work_pool: unknown key(s) 'queue'",
        ),
        (
            "deployments: [{name: a, entrypoint: 'flows/etl.py:etl', concurrency_limit: 0}]",
            "'concurrency_limit' must be 1 or more",
        ),
        (
            "deployments: [{name: a, entrypoint: x.py:f}, {name: a, entrypoint: x.py:f}]",
            "two deployments are named 'a'",
        ),
        ("deployments: [oops", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_the_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    file = write_project(tmp_path, yaml_text)
    with pytest.raises(ProjectFileError) as caught:
        project.load_project(file)
    assert str(file.resolve()) in str(caught.value)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("entrypoint", "message"),
    [
        ("flows/missing.py:etl", "'entrypoint': Entrypoint file"),
        ("flows/etl.py:nope", "no 'nope' in"),
        ("flows/etl.py:not_a_flow", "names a function, not a @flow function"),
        ("flows/etl.py", "must be 'path/to/file.py:flow_function'"),
    ],
)
def test_bad_entrypoints_are_named(tmp_path: Path, entrypoint: str, message: str) -> None:
    file = write_project(tmp_path, f"deployments: [{{name: a, entrypoint: '{entrypoint}'}}]")
    loaded = project.load_project(file)
    with pytest.raises(ProjectFileError) as caught:
        project.build(loaded, loaded.deployments[0])
    assert "deployments[0] ('a')" in str(caught.value)
    assert message in str(caught.value)


def test_unknown_default_parameters_are_refused(tmp_path: Path) -> None:
    file = write_project(
        tmp_path,
        "deployments: [{name: a, entrypoint: 'flows/etl.py:etl', parameters: {dya: 1}}]",
    )
    loaded = project.load_project(file)
    with pytest.raises(ProjectFileError, match=r"flow 'etl' has no parameter.*'dya'"):
        project.build(loaded, loaded.deployments[0])


def test_a_missing_project_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match=f"no vibepiper.yaml in {tmp_path}"):
        project.find_project_file(tmp_path)

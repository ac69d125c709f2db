"""`vibepiper deploy NAME`: only the named entries of vibepiper.yaml are loaded and checked,
so one broken entry does not block deploying the others (`--all` checks every one).

The server is replaced by a recorder: what matters is what reaches it.
"""

from __future__ import annotations

import importlib
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app
from vibepiper.deployments import project
from vibepiper.deployments.project import ProjectFileError

FLOWS = """
from vibepiper import flow

@flow(name="etl")
def etl(day: str = "today") -> str:
    return day
"""

# `good` is fine; `typo` has an unknown key; `no-entrypoint` misses a required key;
# `broken-import`'s module does not import; the last entry is not even a mapping.
PROJECT = """
deployments:
  - name: good
    entrypoint: flows.py:etl
    work_pool: {name: local}
  - name: typo
    entrypoint: flows.py:etl
    schedule: {cron: "0 6 * * *"}
  - name: no-entrypoint
  - name: broken-import
    entrypoint: broken.py:etl
    work_pool: {name: local}
  - just a string
"""


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "broken.py").write_text("raise RuntimeError('cannot import me')\n")
    (tmp_path / "vibepiper.yaml").write_text(textwrap.dedent(PROJECT))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The full names of the deployments `deploy` sends to the (fake) server."""
    import vibepiper.client

    # the package exports a `serve` function that hides the module of the same name
    serve = importlib.import_module("vibepiper.deployments.serve")

    names: list[str] = []

    class FakeClient:
        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def register(client: Any, deployments: list[Any]) -> list[uuid.UUID]:
        names.extend(d.full_name for d in deployments)
        return [uuid.uuid4() for _ in deployments]

    monkeypatch.setattr(vibepiper.client, "get_client", lambda **_: FakeClient())
    monkeypatch.setattr(serve, "check_pools", lambda client, pools, image=False: None)
    monkeypatch.setattr(serve, "register", register)
    yield names


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_deploying_one_entry_ignores_broken_others(
    project_dir: Path, registered: list[str]
) -> None:
    result = invoke("deploy", "good")

    assert result.exit_code == 0, result.output
    assert registered == ["etl/good"]
    assert "Deployed etl/good" in result.stdout


def test_a_flow_slash_name_picks_the_entry_too(project_dir: Path, registered: list[str]) -> None:
    result = invoke("deploy", "etl/good")

    assert result.exit_code == 0, result.output
    assert registered == ["etl/good"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("typo", "deployments[1] ('typo'): unknown key(s) 'schedule'"),
        ("no-entrypoint", "deployments[2] ('no-entrypoint'): 'entrypoint' is required"),
        ("broken-import", "importing 'broken.py:etl' failed: RuntimeError: cannot import me"),
    ],
)
def test_a_named_broken_entry_is_still_reported(
    project_dir: Path, registered: list[str], name: str, message: str
) -> None:
    result = invoke("deploy", "good", name)

    assert result.exit_code == 1
    assert message in result.stderr
    assert registered == []  # nothing is deployed when one named entry is broken


def test_all_checks_every_entry(project_dir: Path, registered: list[str]) -> None:
    result = invoke("deploy", "--all")

    assert result.exit_code == 1
    assert "deployments[1] ('typo'): unknown key(s) 'schedule'" in result.stderr
    assert registered == []


def test_an_unknown_name_lists_the_names_in_the_file(
    project_dir: Path, registered: list[str]
) -> None:
    result = invoke("deploy", "weekly")

    assert result.exit_code == 1
    assert "no deployment named 'weekly'" in result.stderr
    assert "good, typo, no-entrypoint, broken-import" in result.stderr


def test_without_a_name_several_entries_ask_for_names(
    project_dir: Path, registered: list[str]
) -> None:
    result = invoke("deploy")

    assert result.exit_code == 1
    assert "has 5 deployments" in result.stderr and "pass --all" in result.stderr


def test_a_name_used_twice_is_an_error_when_chosen(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    file = tmp_path / "vibepiper.yaml"
    file.write_text(
        "deployments:\n"
        "  - {name: twice, entrypoint: flows.py:etl}\n"
        "  - {name: twice, entrypoint: flows.py:etl}\n"
        "  - {name: once, entrypoint: flows.py:etl}\n"
    )
    loaded = project.read_project(file)

    assert [spec.name for spec in project.select(loaded, ["once"], False)] == ["once"]
    with pytest.raises(ProjectFileError, match="two deployments are named 'twice'"):
        project.select(loaded, ["twice"], False)

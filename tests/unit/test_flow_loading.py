"""`vibepiper.flows` loaders, `Flow.afrom_source` / `ato_deployment`, and code storages
(`vibepiper.runner.storage`), as Prefect 3 names them."""

from __future__ import annotations

import asyncio
import inspect
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from vibepiper import Flow, flow
from vibepiper.deployments.loading import MissingFlowError, ScriptError
from vibepiper.flows import (
    load_flow_arguments_from_entrypoint,
    load_flow_from_entrypoint,
    load_function_and_convert_to_flow,
    safe_load_flow_from_entrypoint,
)
from vibepiper.runner.storage import (
    GitRepository,
    LocalStorage,
    RunnerStorage,
    create_storage_from_source,
)

SCRIPT = textwrap.dedent(
    """
    from vibepiper import flow

    RETRIES = 2

    @flow(name="nightly-etl", retries=RETRIES, log_prints=True, description="loads")
    def etl(day: str = "today") -> str:
        return day

    def plain(x: int = 1) -> int:
        return x + 1

    class Jobs:
        @flow
        def method_flow(self) -> int:
            return 3

    if __name__ == "__main__":
        raise SystemExit("the main block must not run")
    """
)

BROKEN = textwrap.dedent(
    """
    import not_installed_package_xyz
    from vibepiper import flow

    @flow(retries=1)
    def etl(frame: not_installed_package_xyz.Frame = not_installed_package_xyz.X) -> int:
        return 1
    """
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flows.py").write_text(SCRIPT)
    (tmp_path / "broken.py").write_text(BROKEN)
    return tmp_path


def test_load_flow_from_entrypoint(project: Path) -> None:
    loaded = load_flow_from_entrypoint(f"{project}/flows.py:etl")
    assert isinstance(loaded, Flow) and loaded.name == "nightly-etl"
    assert loaded("monday") == "monday"


def test_load_flow_from_entrypoint_errors(project: Path) -> None:
    with pytest.raises(MissingFlowError, match="Flow function with name 'nope' not found"):
        load_flow_from_entrypoint(f"{project}/flows.py:nope")
    with pytest.raises(MissingFlowError, match="'plain' is not a flow"):
        load_flow_from_entrypoint(f"{project}/flows.py:plain")
    with pytest.raises(ScriptError):
        load_flow_from_entrypoint(f"{project}/broken.py:etl", use_placeholder_flow=False)


def test_a_flow_whose_script_cannot_import_is_read_from_source(project: Path) -> None:
    loaded = load_flow_from_entrypoint(f"{project}/broken.py:etl")
    assert isinstance(loaded, Flow) and loaded.name == "etl" and loaded.retries == 1
    assert safe_load_flow_from_entrypoint(f"{project}/broken.py:etl") is not None
    assert safe_load_flow_from_entrypoint(f"{project}/broken.py:missing") is None


def test_safe_load_runs_no_main_block(project: Path) -> None:
    loaded = safe_load_flow_from_entrypoint(f"{project}/flows.py:etl")
    assert loaded is not None and loaded.name == "nightly-etl"


def test_load_a_flow_method_and_a_module_path(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = load_flow_from_entrypoint(f"{project}/flows.py:Jobs.method_flow")
    assert method.name == "method-flow"
    monkeypatch.syspath_prepend(str(project))
    assert load_flow_from_entrypoint("flows.etl").name == "nightly-etl"


def test_load_flow_arguments_from_entrypoint(project: Path) -> None:
    arguments = load_flow_arguments_from_entrypoint(f"{project}/flows.py:etl")
    # literals as strings and expressions evaluated, as Prefect gives them
    assert arguments == {
        "name": "nightly-etl",
        "retries": "2",
        "log_prints": "True",
        "description": "loads",
    }
    assert load_flow_arguments_from_entrypoint(f"{project}/flows.py:plain") == {"name": "plain"}
    assert load_flow_arguments_from_entrypoint(f"{project}/flows.py:etl", {"retries"}) == {
        "retries": "2"
    }


def test_load_function_and_convert_to_flow(project: Path) -> None:
    converted = load_function_and_convert_to_flow(f"{project}/flows.py:plain")
    assert isinstance(converted, Flow) and converted.log_prints is True
    assert converted(2) == 3
    assert load_function_and_convert_to_flow(f"{project}/flows.py:etl").name == "nightly-etl"
    with pytest.raises(RuntimeError, match="Function with name 'nope' not found"):
        load_function_and_convert_to_flow(f"{project}/flows.py:nope")


# --- from_source with storages, and the async twins -------------------------------------------


def test_from_source_with_local_storage(project: Path) -> None:
    loaded = Flow.from_source(LocalStorage(project), "flows.py:etl")
    assert loaded.name == "nightly-etl"
    deployment = loaded.to_deployment("daily")
    assert deployment.source == {"type": "directory", "path": str(project.resolve())}


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_from_source_with_a_git_repository(project: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "flows.py").write_text(SCRIPT)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "flows"], check=True)
    storage = GitRepository(url=f"file://{repo}", branch="main")
    loaded = Flow.from_source(storage, "flows.py:etl")
    assert loaded.name == "nightly-etl"
    source = loaded.to_deployment("daily").source
    assert source is not None and source["type"] == "git" and source["branch"] == "main"


def test_storages_are_runner_storages(project: Path) -> None:
    assert isinstance(LocalStorage(project), RunnerStorage)
    assert isinstance(GitRepository("https://example.com/a.git"), RunnerStorage)
    assert isinstance(create_storage_from_source("https://example.com/a.git"), GitRepository)
    assert isinstance(create_storage_from_source(str(project)), LocalStorage)
    assert LocalStorage(project).destination == project.resolve()


def test_afrom_source_and_ato_deployment(project: Path) -> None:
    async def main() -> tuple[str, str, bool]:
        loaded = await Flow.afrom_source(str(project), "flows.py:etl")
        deployment = await loaded.ato_deployment("nightly", cron="0 6 * * *")
        # in async code the sync names give coroutines, as Prefect's do
        pending = loaded.to_deployment("other")
        awaitable = inspect.isawaitable(pending)
        await pending  # type: ignore[misc]
        return loaded.name, deployment.full_name, awaitable

    assert asyncio.run(main()) == ("nightly-etl", "nightly-etl/nightly", True)


def test_from_source_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="GitRepository / LocalStorage"):
        Flow.from_source(42, "flows.py:etl")  # type: ignore[arg-type]


@flow
def module_level_flow() -> None:
    return None


def test_to_deployment_in_sync_code_is_the_deployment() -> None:
    assert module_level_flow.to_deployment("x").full_name == "module-level-flow/x"

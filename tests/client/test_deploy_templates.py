"""Resolving placeholders at deploy time (`resolve_templates: deploy`): variables and
plain block fields are frozen into what is registered, secrets stay placeholders; the
other fields of vibepiper.yaml entries are always resolved at deploy time."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vibepiper import flow
from vibepiper.blocks.system import Secret
from vibepiper.client import get_client
from vibepiper.deployments import project
from vibepiper.deployments.runner import RunnerDeployment
from vibepiper.variables import Variable


@flow
def etl(day: str, limit: int = 10, token: str = "") -> int:
    return limit


def test_for_server_freezes_all_but_secrets(vibepiper_home: Path) -> None:
    Variable.set("limit", 25)
    Secret(value="hunter2").save("token")
    parameters = {
        "limit": "{{ vibepiper.variables.limit }}",
        "token": "{{ prefect.blocks.secret.token }}",
        "day": "today",
    }
    job_variables = {
        "env": {
            "TOKEN": "{{ vibepiper.blocks.secret.token }}",
            "L": "n={{ vibepiper.variables.limit }}",
        }
    }
    run_time = RunnerDeployment.from_flow(
        etl, "nightly", parameters=parameters, job_variables=job_variables
    )
    frozen = RunnerDeployment.from_flow(
        etl,
        "nightly",
        parameters=parameters,
        job_variables=job_variables,
        resolve_templates="deploy",
    )
    with get_client(sync_client=True) as client:
        assert run_time.for_server(client) is run_time  # resolved when each run starts
        resolved = frozen.for_server(client)
    assert resolved.parameters == {
        "limit": 25,
        "token": "{{ prefect.blocks.secret.token }}",
        "day": "today",
    }
    assert resolved.job_variables == {
        "env": {"TOKEN": "{{ vibepiper.blocks.secret.token }}", "L": "n=25"}
    }
    assert "hunter2" not in str(resolved.to_create().model_dump())
    with pytest.raises(ValueError, match="'run' or 'deploy'"):
        RunnerDeployment.from_flow(etl, "x", resolve_templates="later")


def test_vibepiper_yaml_entries(vibepiper_home: Path, tmp_path: Path) -> None:
    Variable.set("team", "data")
    Variable.set("limit", 5)
    (tmp_path / "flows.py").write_text(
        textwrap.dedent(
            """
            from vibepiper import flow

            @flow
            def etl(day: str, limit: int = 10) -> int:
                return limit
            """
        )
    )
    (tmp_path / "vibepiper.yaml").write_text(
        textwrap.dedent(
            """
            deployments:
              - name: nightly
                entrypoint: flows.py:etl
                tags: ["{{ vibepiper.variables.team }}"]
                description: "owned by {{ prefect.variables.team }}"
                parameters: {limit: "{{ vibepiper.variables.limit }}", day: today}
                work_pool: {name: local}
              - name: frozen
                entrypoint: flows.py:etl
                parameters: {limit: "{{ vibepiper.variables.limit }}", day: today}
                resolve_templates: deploy
              - name: wrong
                entrypoint: flows.py:etl
                resolve_templates: later
            """
        )
    )
    loaded = project.read_project(tmp_path / "vibepiper.yaml")
    with get_client(sync_client=True) as client:
        project.render_entries(loaded, client)
        nightly, frozen = (
            project.build(loaded, spec)
            for spec in project.select(loaded, ["nightly", "frozen"], False)
        )
        assert (nightly.tags, nightly.description) == (["data"], "owned by data")
        assert nightly.parameters["limit"] == "{{ vibepiper.variables.limit }}"  # at run time
        assert frozen.for_server(client).parameters == {"limit": 5, "day": "today"}
    with pytest.raises(project.ProjectFileError, match="'resolve_templates' must be 'run'"):
        project.select(loaded, ["wrong"], False)
    (tmp_path / "vibepiper.yaml").write_text(
        "deployments:\n  - name: x\n    entrypoint: flows.py:etl\n"
        "    tags: ['{{ vibepiper.variables.nope }}']\n"
    )
    broken = project.read_project(tmp_path / "vibepiper.yaml")
    with (
        get_client(sync_client=True) as client,
        pytest.raises(
            project.ProjectFileError, match=r"deployments\[0\] \('x'\).*no variable named 'nope'"
        ),
    ):
        project.render_entries(broken, client)

"""A real worker renders its pool's base job template for each run: the pool's default
env < the deployment's job variables < the run's, the run's `working_dir`, and a job
`command` run instead of the default run process."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import deploy, pool_name, wait_final, workers
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.orchestration.job_templates import default_base_job_template
from vibepiper.schemas.deployments import DeploymentFlowRunCreate, WorkPoolCreate

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import json
    import os

    from vibepiper import flow
    from vibepiper.runtime import flow_run


    @flow
    def environ(out: str) -> None:
        names = ("A", "B", "C", "D", "VIBEPIPER__FLOW_RUN_ID")
        seen = {name: os.environ.get(name) for name in names}
        with open(out, "w") as f:
            record = {"env": seen, "cwd": os.getcwd(), "job_variables": flow_run.job_variables}
            json.dump(record, f)
    """
)


def _seen(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_env_layers_working_dir_and_command_come_from_the_rendered_template(
    server: Server, client: SyncVibePiperClient, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    for where in (project, project / "sub"):
        (where / "flows.py").write_text(FLOWS)
    pool = pool_name()
    template = default_base_job_template("process")
    template["variables"]["properties"]["env"]["default"] = {"A": "pool", "B": "pool"}
    client.create_work_pool(WorkPoolCreate(name=pool, base_job_template=template))
    out = tmp_path / "out"
    out.mkdir()
    deployment = deploy(
        client,
        project,
        "environ",
        pool=pool,
        job_variables={"env": {"B": "deployment", "C": "deployment", "D": "deployment"}},
    )

    def run(name: str, **job_variables: Any) -> Any:
        body = DeploymentFlowRunCreate(
            parameters={"out": str(out / name)}, job_variables=job_variables or None
        )
        return client.create_flow_run_from_deployment(deployment.id, body)

    layered = run("layered", env={"C": "run", "D": None}, working_dir="sub")
    plain = run("plain")
    command = run(
        "command",
        env={"C": "command"},
        command=f"{sys.executable} -m vibepiper.workers.execute",
    )
    with workers(server, pool, tmp_path, env={}):
        finals = [wait_final(client, one.id) for one in (layered, plain, command)]
    assert [final.state_name for final in finals] == ["Completed"] * 3, finals

    seen = _seen(out / "layered")
    assert seen["env"] == {
        "A": "pool",
        "B": "deployment",
        "C": "run",
        "D": None,  # a null value unsets the variable
        "VIBEPIPER__FLOW_RUN_ID": None,
    }
    assert seen["cwd"] == str(project / "sub")
    # inside the run, the deployment's job variables with the run's laid over them
    assert seen["job_variables"] == {
        "env": {"B": "deployment", "C": "run", "D": None},
        "working_dir": "sub",
    }
    seen = _seen(out / "plain")
    assert seen["job_variables"] == {
        "env": {"B": "deployment", "C": "deployment", "D": "deployment"}
    }
    assert (seen["env"]["A"], seen["env"]["B"], seen["env"]["C"]) == (
        "pool",
        "deployment",
        "deployment",
    )
    assert seen["cwd"] == str(project)
    # the job's command ran the run, finding it in its environment
    seen = _seen(out / "command")
    assert seen["env"]["C"] == "command"
    assert seen["env"]["VIBEPIPER__FLOW_RUN_ID"] == str(command.id)

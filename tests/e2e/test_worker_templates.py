"""Variable and block placeholders in a deployment's parameters and job variables are
resolved when each run starts (by a real worker and its run process), not frozen when the
deployment was made; the stored deployment keeps the placeholders (no secret in it)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import deploy, pool_name, run_deployment, wait_final, workers
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.schemas.variables import VariableCreate, VariableUpdate

pytestmark = pytest.mark.slow


def _secret(client: SyncVibePiperClient, name: str, value: str) -> None:
    from vibepiper.blocks.system import Secret

    Secret(value=value).save(name, overwrite=True, client=client)


def test_placeholders_resolve_when_each_run_starts(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    variable = f"greeting_{uuid.uuid4().hex[:6]}"
    secret = f"token-{uuid.uuid4().hex[:6]}"
    client.create_variable(VariableCreate(name=variable, value="hello"))
    _secret(client, secret, "s3cret-one")
    out = tmp_path / "environ.txt"
    greeting = f"{{{{ prefect.variables.{variable} }}}} {{{{ vibepiper.blocks.secret.{secret} }}}}"
    deployment = deploy(
        client,
        project,
        "environ",
        pool=pool,
        parameters={"out": str(out)},
        job_variables={"env": {"GREETING": greeting}},
    )
    stored = client.read_deployment(deployment.id)
    assert "s3cret" not in str(stored.job_variables) and "{{" in str(stored.job_variables)

    with workers(server, pool, tmp_path, env={}):
        first = wait_final(client, run_deployment(client, deployment).id)
        assert first.state_name == "Completed", first.state
        assert out.read_text().split(" ")[:2] == ["hello", "s3cret-one"]
        # changed after the deployment was made: the next run sees the new values
        client.update_variable(VariableUpdate(name=variable, value="bonjour"))
        _secret(client, secret, "s3cret-two")
        second = wait_final(client, run_deployment(client, deployment).id)
        assert second.state_name == "Completed", second.state
        assert out.read_text().split(" ")[:2] == ["bonjour", "s3cret-two"]
    assert "s3cret" not in str(client.read_deployment(deployment.id).job_variables)


def test_a_parameter_placeholder_is_resolved_by_the_run_process(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    number = f"number_{uuid.uuid4().hex[:6]}"
    client.create_variable(VariableCreate(name=number, value=40))
    placeholder = f"{{{{ vibepiper.variables.{number} }}}}"
    # `a: int` takes the template: the server leaves it to the run to validate
    deployment = deploy(client, project, "adder", pool=pool, parameters={"a": placeholder})
    missing = deploy(
        client, project, "adder", pool=pool, parameters={"a": "{{ vibepiper.variables.nope_x }}"}
    )
    with workers(server, pool, tmp_path, env={}):
        run = wait_final(client, run_deployment(client, deployment).id)
        failed = wait_final(client, run_deployment(client, missing).id)
    assert run.state_name == "Completed", run.state
    assert run.parameters == {"a": placeholder}  # the stored run keeps the placeholder
    states = client.read_flow_run_states(run.id)
    assert states[-1].type.value == "COMPLETED"
    assert failed.state_name == "Failed"
    assert failed.state is not None
    assert "no variable named 'nope_x'" in (failed.state.message or "")

"""`vibepiper work-pool get-default-base-job-template`, and `create`/`update` with
`--base-job-template FILE`, as real subprocesses against a real server."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from tests.client.conftest import Server
from tests.e2e.test_deployment_cli import cli, cli_json, error_line, unique
from vibepiper.orchestration.job_templates import default_base_job_template

pytestmark = pytest.mark.slow


@pytest.fixture
def env(server: Server, tmp_path: Path) -> dict[str, str]:
    out = {**os.environ, "VIBEPIPER_API_URL": server.url, "VIBEPIPER_HOME": str(tmp_path / "h")}
    out.pop("VIBEPIPER_API_KEY", None)
    out["COLUMNS"] = "200"
    return out


@pytest.mark.parametrize("pool_type", ["process", "docker"])
def test_the_default_template_is_printed_as_json(
    env: dict[str, str], tmp_path: Path, pool_type: str
) -> None:
    printed = cli(env, "work-pool", "get-default-base-job-template", "--type", pool_type)
    assert json.loads(printed.stdout) == default_base_job_template(pool_type)
    file = tmp_path / f"{pool_type}.json"
    cli(env, "work-pool", "get-default-base-job-template", "--type", pool_type, "--file", str(file))
    assert json.loads(file.read_text()) == default_base_job_template(pool_type)


def test_create_and_update_with_a_template_file(env: dict[str, str], tmp_path: Path) -> None:
    template = default_base_job_template("process")
    template["variables"]["properties"]["env"]["default"] = {"STAGE": "test"}
    file = tmp_path / "template.json"
    file.write_text(json.dumps(template))
    pool = unique("pool")
    created = cli_json(
        env, "work-pool", "create", pool, "--type", "process", "--base-job-template", str(file)
    )
    assert created["base_job_template"] == template
    plain = unique("pool")
    assert cli_json(env, "work-pool", "create", plain)["base_job_template"] == (
        default_base_job_template("process")
    )
    assert "Job variables" in cli(env, "work-pool", "inspect", pool).stdout

    changed = copy.deepcopy(template)
    changed["variables"]["properties"]["env"]["default"] = {"STAGE": "prod"}
    file.write_text(json.dumps(changed))
    updated = cli_json(env, "work-pool", "update", pool, "--base-job-template", str(file))
    assert updated["base_job_template"] == changed
    assert "Updated work pool" in cli(env, "work-pool", "update", pool, "--description", "d").stdout

    # the server's refusal, as one line
    undeclared = copy.deepcopy(template)
    undeclared["job_configuration"]["image"] = "{{ image }}"
    file.write_text(json.dumps(undeclared))
    line = error_line(
        cli(env, "work-pool", "update", pool, "--base-job-template", str(file), check=False)
    )
    assert "not declared in variables.properties: image" in line
    assert cli_json(env, "work-pool", "inspect", pool)["base_job_template"] == changed


def test_a_bad_template_file_is_one_line_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    pool = unique("pool")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    listed = tmp_path / "listed.json"
    listed.write_text("[1, 2]")
    missing = tmp_path / "missing.json"
    for file, says in ((broken, "is not valid JSON"), (listed, "must hold a JSON object")):
        done = cli(env, "work-pool", "create", pool, "--base-job-template", str(file), check=False)
        line = error_line(done)
        assert str(file) in line and says in line
    done = cli(env, "work-pool", "update", pool, "--base-job-template", str(missing), check=False)
    assert done.returncode != 0 and str(missing) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    # nothing was created
    assert pool not in {p["name"] for p in cli_json(env, "work-pool", "ls")}

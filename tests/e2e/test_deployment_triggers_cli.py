"""Deployment triggers through real processes: `triggers:` in vibepiper.yaml deployed with
`vibepiper deploy` against a real server (SQLite and PostgreSQL), replaced on each deploy
and shown by `deployment inspect`; a bad trigger is one `Error:` line and deploys nothing;
and `flow.serve(triggers=...)` with no server records them in the embedded store and its
own server fires them: an event runs the deployment with the event's values."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import Server, server
from tests.e2e.test_deployment_cli import cli, cli_json, error_line, unique
from vibepiper.client import SyncVibePiperClient
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.automations import AutomationRead

pytestmark = pytest.mark.slow
__all__ = ["server"]  # the module-scoped real server fixture (SQLite and PostgreSQL)

FLOWS = """
from vibepiper import flow

@flow(name="greet")
def greet(who: str = "world") -> str:
    return f"hello {who}"
"""

TRIGGERS = """
    triggers:
      - match: {prefect.resource.id: "bucket.raw.*"}
        expect: [object.created]
        parameters: {who: "{{ event.resource.id }}"}
      - type: event
        name: NAME-on-compaction
        enabled: false
        expect: [bucket.compacted]
        threshold: 2
        within: 60
"""


@pytest.fixture
def env(server: Server, tmp_path: Path) -> dict[str, str]:
    out = {**os.environ, "VIBEPIPER_API_URL": server.url, "VIBEPIPER_HOME": str(tmp_path / "h")}
    out.pop("VIBEPIPER_API_KEY", None)
    out["COLUMNS"] = "200"
    return out


def write_project(root: Path, name: str, pool: str, triggers: str) -> None:
    (root / "flows").mkdir(parents=True, exist_ok=True)
    (root / "flows" / "greet.py").write_text(FLOWS)
    entry = textwrap.dedent(
        f"""
        deployments:
          - name: {name}
            entrypoint: flows/greet.py:greet
            work_pool: {{name: {pool}}}
        """
    )
    (root / "vibepiper.yaml").write_text(entry + triggers.replace("NAME", name))


def owned(url: str, deployment_id: uuid.UUID) -> list[AutomationRead]:
    resource = f"vibepiper.deployment.{deployment_id}"
    with SyncVibePiperClient(url) as client:
        found = client.read_resource_related_automations(resource)
    return [a for a in found if a.owner_resource == resource]


def test_vibepiper_yaml_triggers_are_replaced_on_each_deploy(
    env: dict[str, str], tmp_path: Path
) -> None:
    url = env["VIBEPIPER_API_URL"]
    pool, name = unique("pool"), unique("upload")
    cli(env, "work-pool", "create", pool)
    write_project(tmp_path, name, pool, TRIGGERS)
    done = cli(env, "deploy", cwd=tmp_path)
    assert f"Deployed greet/{name} to work pool '{pool}' with 2 triggers" in done.stdout
    (deployed,) = cli_json(env, "deploy", cwd=tmp_path)  # again
    deployment_id = uuid.UUID(deployed["id"])

    automations = sorted(owned(url, deployment_id), key=lambda a: a.name)
    assert [a.name for a in automations] == [f"{name}-on-compaction", f"{name}__automation_1"]
    compaction, upload = automations
    for automation in automations:
        (action,) = automation.actions
        assert action.type == "run-deployment"
        assert action.deployment_id == deployment_id  # type: ignore[union-attr]
    assert upload.actions[0].parameters == {"who": "{{ event.resource.id }}"}  # type: ignore[union-attr]
    assert upload.trigger.model_dump(mode="json")["match"] == {
        "vibepiper.resource.id": "bucket.raw.*"
    }
    assert compaction.enabled is False
    assert compaction.trigger.model_dump(mode="json")["threshold"] == 2

    shown = cli_json(env, "deployment", "inspect", f"greet/{name}")
    assert sorted(a["name"] for a in shown["automations"]) == [a.name for a in automations]
    text = cli(env, "deployment", "inspect", f"greet/{name}").stdout
    assert f"{name}__automation_1  event  enabled  (trigger)" in text

    # one trigger left: one automation; none left: none
    write_project(tmp_path, name, pool, TRIGGERS.split("      - type: event")[0])
    cli(env, "deploy", cwd=tmp_path)
    assert [a.name for a in owned(url, deployment_id)] == [f"{name}__automation_1"]
    write_project(tmp_path, name, pool, "")
    assert "trigger" not in cli(env, "deploy", cwd=tmp_path).stdout
    assert owned(url, deployment_id) == []


@pytest.mark.parametrize(
    ("triggers", "expected"),
    [
        (
            "    triggers:\n      - expect: [object.created]\n        within: soon\n",
            "triggers[0]: within: Input should be a valid timedelta",
        ),
        ("    triggers: {expect: [x]}\n", "'triggers' must be a list, got dict"),
        (
            "    triggers:\n      - expect: [object.created]\n      - name: every-run\n"
            "        match: {prefect.resource.id: prefect.flow-run.*}\n",
            "triggers[1] ('every-run'): the trigger matches the vibepiper.flow-run.",
        ),
    ],
)
def test_a_bad_trigger_is_one_error_line_and_deploys_nothing(
    env: dict[str, str], tmp_path: Path, triggers: str, expected: str
) -> None:
    pool, name = unique("pool"), unique("bad")
    cli(env, "work-pool", "create", pool)
    write_project(tmp_path, name, pool, triggers)
    done = cli(env, "deploy", cwd=tmp_path, check=False)
    line = error_line(done)
    assert line.startswith("Error: "), line
    assert expected in line, line
    assert "Traceback" not in done.stderr
    with SyncVibePiperClient(env["VIBEPIPER_API_URL"]) as client, pytest.raises(ObjectNotFound):
        client.read_deployment_by_name(f"greet/{name}")


SERVE_SCRIPT = """
from vibepiper import flow
from vibepiper.events import DeploymentEventTrigger

@flow
def load(path: str = "none") -> str:
    return path

if __name__ == "__main__":
    load.serve(
        name="on-upload",
        triggers=[
            DeploymentEventTrigger(
                name="load-each-file",
                match={"prefect.resource.id": "bucket.raw.*"},
                expect={"object.created"},
                parameters={"path": "{{ event.resource.id }}"},
            )
        ],
    )
"""


def _runs(database: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT flow_run.state_type, flow_run.parameters FROM flow_run "
            "JOIN deployment ON flow_run.deployment_id = deployment.id "
            "WHERE deployment.name = 'on-upload'"
        ).fetchall()
    return [(str(state), str(parameters)) for state, parameters in rows]


def test_serve_without_a_server_records_the_triggers_and_its_server_fires_them(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (tmp_path / "load.py").write_text(SERVE_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env["VIBEPIPER_HOME"] = str(home)
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "load.py")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        printed: list[str] = []  # up to the how-to-run line, which names the server's API
        while not printed or "VIBEPIPER_API_URL=" not in printed[-1]:
            line = process.stdout.readline()
            assert line, f"serve stopped: {printed}"
            printed.append(line)
        assert "  load/on-upload  (no schedule; 1 trigger)\n" in printed, printed
        api = printed[-1].split("VIBEPIPER_API_URL=", 1)[1].split()[0]
        event = {"event": "object.created", "resource": {"prefect.resource.id": "bucket.raw.a.csv"}}
        database = home / "vibepiper.db"
        deadline = time.monotonic() + 60
        while not any(
            state == "COMPLETED" and "bucket.raw.a.csv" in parameters
            for state, parameters in _runs(database)
        ):
            assert process.poll() is None, "serve exited early"
            assert time.monotonic() < deadline, f"no triggered run completed: {_runs(database)}"
            if not _runs(database):  # not fired yet (it may not have been watching): again
                posted = httpx.post(f"{api}/events", json=[event], timeout=10)
                assert posted.status_code == 204, posted.text
            time.sleep(1)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err, err

    with sqlite3.connect(home / "vibepiper.db") as db:
        (deployment_id,) = db.execute(
            "SELECT id FROM deployment WHERE name = 'on-upload'"
        ).fetchone()
        rows = db.execute("SELECT name, owner_resource FROM automation").fetchall()
    assert rows == [("load-each-file", f"vibepiper.deployment.{uuid.UUID(str(deployment_id))}")]

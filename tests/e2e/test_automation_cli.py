"""`vibepiper automation` as real processes, on the embedded store (no server): create
from YAML and JSON files, list, inspect, disable/enable, update, delete, dry runs, and
one-line errors for what is wrong; and a metric trigger's dry run on a real server."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import Server

pytestmark = pytest.mark.slow

FILE = """
automations:
  - name: page-on-failure
    description: tell the team
    trigger:
      type: event
      match: {prefect.resource.id: prefect.flow-run.*}
      expect: [prefect.flow-run.Failed]
      posture: Reactive
      threshold: 1
      within: 0
    actions:
      - type: do-nothing
  - name: cancel-stuck-runs
    trigger:
      match: {prefect.resource.id: prefect.flow-run.*}
      after: [prefect.flow-run.Running]
      expect: [prefect.flow-run.Completed]
      for_each: [prefect.resource.id]
      posture: Proactive
      within: 600
    actions:
      - type: cancel-flow-run
"""


def _cli(home: Path, *args: str, api_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """The command on the embedded store at `home`, or on the server at `api_url`."""
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "COLUMNS": "250"}  # tables unwrapped
    env.pop("VIBEPIPER_API_URL", None)
    env.pop("VIBEPIPER_API_KEY", None)
    if api_url is not None:
        env["VIBEPIPER_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "automation", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _one_line_error(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], lines


def test_automations_from_a_file_listed_switched_updated_and_deleted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "automations.yaml").write_text(FILE)
    created = json.loads(
        _ok(_cli(home, "create", "-f", str(tmp_path / "automations.yaml"), "--json"))
    )
    assert [a["name"] for a in created] == ["page-on-failure", "cancel-stuck-runs"]
    listed = json.loads(_ok(_cli(home, "ls", "--json")))
    assert [a["name"] for a in listed] == ["cancel-stuck-runs", "page-on-failure"]
    table = _ok(_cli(home, "ls"))
    assert "Proactive: no vibepiper.flow-run.Completed within 600s" in table

    inspected = json.loads(_ok(_cli(home, "inspect", "page-on-failure", "--json")))
    assert inspected["trigger"]["expect"] == ["vibepiper.flow-run.Failed"]
    by_id = json.loads(_ok(_cli(home, "inspect", inspected["id"], "--json")))
    assert by_id["name"] == "page-on-failure"

    assert json.loads(_ok(_cli(home, "disable", "page-on-failure", "--json")))["enabled"] is False
    assert "Enabled automation 'page-on-failure'" in _ok(_cli(home, "enable", "page-on-failure"))

    replacement = {
        "name": "page-on-crash",
        "trigger": {"expect": ["prefect.flow-run.Crashed"]},
        "actions": [{"type": "do-nothing"}],
    }
    (tmp_path / "one.json").write_text(json.dumps(replacement))
    updated = json.loads(
        _ok(_cli(home, "update", "page-on-failure", "-f", str(tmp_path / "one.json"), "--json"))
    )
    assert (updated["id"], updated["name"]) == (inspected["id"], "page-on-crash")
    assert updated["trigger"]["expect"] == ["vibepiper.flow-run.Crashed"]

    assert "Deleted automation 'page-on-crash'" in _ok(_cli(home, "delete", "page-on-crash"))
    _one_line_error(_cli(home, "inspect", "page-on-crash"), "no automation 'page-on-crash'")


def test_bad_files_and_refusals_are_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    _one_line_error(_cli(home, "create", "-f", str(tmp_path / "broken.yaml")), "not valid YAML")
    (tmp_path / "partial.yaml").write_text("name: half\n")
    _one_line_error(
        _cli(home, "create", "-f", str(tmp_path / "partial.yaml")),
        "automation half: trigger: Field required",
    )
    ghost = uuid.uuid4()
    (tmp_path / "ghost.json").write_text(
        json.dumps(
            {
                "name": "runs-a-ghost",
                "trigger": {"expect": ["orders.loaded"]},
                "actions": [{"type": "run-deployment", "deployment_id": str(ghost)}],
            }
        )
    )
    _one_line_error(
        _cli(home, "create", "-f", str(tmp_path / "ghost.json")), f"no deployment has id {ghost}"
    )
    _one_line_error(_cli(home, "create", "-f", str(tmp_path / "absent.yaml")), "cannot read")
    assert json.loads(_ok(_cli(home, "ls", "--json"))) == []


def test_a_dry_run_over_stored_events_says_when_it_would_have_fired(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "two.yaml").write_text(
        "name: two-failures\n"
        "trigger:\n"
        "  match: {prefect.resource.id: 'orders.*'}\n"
        "  expect: [orders.failed]\n"
        "  for_each: [prefect.resource.id]\n"
        "  threshold: 2\n"
        "  within: 3600\n"
        "actions: [{type: do-nothing}]\n"
    )
    _ok(_cli(home, "create", "-f", str(tmp_path / "two.yaml")))
    env = {**os.environ, "VIBEPIPER_HOME": str(home)}
    env.pop("VIBEPIPER_API_URL", None)
    emit = (
        "from vibepiper.events import emit_event\n"
        "for name in ('a', 'b', 'a'):\n"
        "    emit_event('orders.failed', resource={'prefect.resource.id': f'orders.{name}'})\n"
    )
    subprocess.run([sys.executable, "-c", emit], env=env, check=True, timeout=120)
    report = json.loads(_ok(_cli(home, "test", "two-failures", "--since", "1h", "--json")))
    assert (report["events_read"], report["events_taken_in"]) == (3, 3)
    [firing] = report["firings"]
    assert (firing["decision"], firing["bucket"]) == ("triggered", ["orders.a"])
    assert "2 of 2" in firing["why"]
    text = _ok(_cli(home, "test", "two-failures", "--since", "1h"))
    assert "fired [orders.a]" in text
    _one_line_error(_cli(home, "test", "two-failures", "--since", "last tuesday"), "--since")


METRIC_FILE = """
name: {name}
trigger:
  type: metric
  match: {{prefect.resource.id: prefect.flow-run.*}}
  match_related: {{prefect.resource.id: prefect.flow.{flow_id}, prefect.resource.role: flow}}
  metric: {{name: successes, operator: "<", threshold: 0.5, range: 600, firing_for: 120}}
actions: [{{type: do-nothing}}]
actions_on_resolve: [{{type: do-nothing}}]
"""


def _post(http: httpx.Client, url: str, body: Any) -> Any:
    response = http.post(url, json=body)
    assert response.is_success, f"POST {url}: {response.status_code} {response.text}"
    return response.json()


def _finished_run(http: httpx.Client, flow_id: str, state: str, ended: dt.datetime) -> None:
    """A run of the flow that ran 30 s and ended `state` at `ended` (past states forced)."""
    run = _post(http, "/flow_runs/", {"flow_id": flow_id})
    started = ended - dt.timedelta(seconds=30)
    for kind, at in (("RUNNING", started), (state, ended)):
        body = {"state": {"type": kind, "timestamp": at.isoformat()}, "force": True}
        assert _post(http, f"/flow_runs/{run['id']}/set_state", body)["status"] == "ACCEPT"


def test_a_metric_triggers_dry_run_on_a_server_names_its_firing_and_resolution(
    server: Server, tmp_path: Path
) -> None:
    """The success rate of a new flow's runs: failures from 50 to 32 minutes ago, then
    successes; below 50% for 2 minutes it fires, and back at 50% it resolves."""
    home = tmp_path / "home"
    name = f"success-rate-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, timeout=30) as http:
        flow_id = _post(http, "/flows/", {"name": f"nightly-{uuid.uuid4().hex[:8]}"})["id"]
        (tmp_path / "metric.yaml").write_text(METRIC_FILE.format(name=name, flow_id=flow_id))
        _ok(_cli(home, "create", "-f", str(tmp_path / "metric.yaml"), api_url=server.url))
        now = dt.datetime.now(dt.UTC)
        for minutes in range(50, 30, -2):  # 10 failures, 50 to 32 minutes ago
            _finished_run(http, flow_id, "FAILED", now - dt.timedelta(minutes=minutes))
        for minutes in range(30, 0, -2):  # then 15 successes, 30 to 2 minutes ago
            _finished_run(http, flow_id, "COMPLETED", now - dt.timedelta(minutes=minutes))

    report = json.loads(
        _ok(_cli(home, "test", name, "--since", "1h", "--json", api_url=server.url))
    )
    assert (report["automation"], report["runs_read"]) == (name, 25)
    assert [f["decision"] for f in report["firings"]] == ["triggered", "resolved"]
    fired, resolved = report["firings"]
    assert fired["why"].startswith("successes 0 (breaches at < 0.5) over 0:10:00")
    assert "breaching since" in fired["why"] and fired["why"].endswith(": fired")
    assert resolved["why"].endswith("no longer breaching: resolved")
    # it fires about 2 minutes after the first failure (48 minutes ago), and resolves once
    # half the runs of the last 10 minutes completed (about 26 minutes ago)
    at = [dt.datetime.fromisoformat(f["at"]) for f in report["firings"]]
    assert now - dt.timedelta(minutes=49) <= at[0] <= now - dt.timedelta(minutes=47), at
    assert now - dt.timedelta(minutes=27) <= at[1] <= now - dt.timedelta(minutes=25), at

    text = _ok(_cli(home, "test", name, "--since", "1h", api_url=server.url))
    lines = text.strip().splitlines()
    assert lines[0].startswith(f"'{name}' measured over 25 stored flow runs since "), text
    assert len(lines) == 3, text
    assert "  fired: successes 0 (breaches at < 0.5)" in lines[1], text
    assert lines[2].endswith("no longer breaching: resolved"), text
    assert "  resolved: " in lines[2], text


def test_a_compound_trigger_cannot_be_dry_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "compound.yaml").write_text(
        "name: both-failed\n"
        "trigger:\n"
        "  type: compound\n"
        "  require: all\n"
        "  within: 600\n"
        "  triggers:\n"
        "    - {type: event, expect: [orders.failed]}\n"
        "    - {type: event, expect: [invoices.failed]}\n"
        "actions: [{type: do-nothing}]\n"
    )
    _ok(_cli(home, "create", "-f", str(tmp_path / "compound.yaml")))
    _one_line_error(
        _cli(home, "test", "both-failed", "--since", "1h"), "only event and metric triggers"
    )

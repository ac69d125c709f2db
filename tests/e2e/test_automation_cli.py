"""`vibepiper automation` as real processes, on the embedded store (no server): create
from YAML and JSON files, list, inspect, disable/enable, update, delete, and one-line
errors for what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

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


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "COLUMNS": "250"}  # tables unwrapped
    env.pop("VIBEPIPER_API_URL", None)
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

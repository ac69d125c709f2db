"""A paused flow run's page in a real Chromium against a real server: what the run waits
for (Paused or Suspended, until when, its Markdown description), the Resume form built
from the input's JSON schema, an answer the form refuses and one the server refuses (the
field named, the run still paused), then a valid answer that resumes the run and is
stored as typed; and a pause that waits for no input, resumed with one click."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from pydantic import Field

from tests.client.conftest import Server
from tests.server.conftest import unique
from tests.ui.conftest import Tab, api
from tests.ui.test_page_security import violations, watch
from vibepiper.input import RunInput, keyset_from_base_key

pytestmark = pytest.mark.slow


class Approval(RunInput):
    approved: bool
    reviewer: str = Field(pattern=r"^[a-z]+$", description="Your login, lowercase.")
    copies: int = Field(default=1, ge=1)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def paused_run(
    client: httpx.Client, *, name: str = "Paused", keyset: dict[str, str] | None = None
) -> str:
    """A flow run put in a PAUSED state (forced) waiting on `keyset`."""
    flow_id = ok(client.post("/flows/", json={"name": unique("approvals")}), 201)["id"]
    run_id: str = ok(client.post("/flow_runs/", json={"flow_id": flow_id}), 201)["id"]
    ok(client.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "RUNNING"}}))
    details: dict[str, Any] = {
        "pause_key": "pause-1",
        "pause_timeout": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(),
        "pause_reschedule": name == "Suspended",
    }
    if keyset is not None:
        details["run_input_keyset"] = keyset
    state = {"type": "PAUSED", "name": name, "state_details": details}
    answer = client.post(f"/flow_runs/{run_id}/set_state", json={"state": state, "force": True})
    assert answer.status_code in (200, 201), answer.text
    return run_id


def store_input(client: httpx.Client, run_id: str, key: str, value: Any) -> None:
    body = {"key": key, "value": json.dumps(value)}
    ok(client.post(f"/flow_runs/{run_id}/input", json=body), 201)


def state_of(client: httpx.Client, run_id: str) -> tuple[str, str]:
    run = ok(client.get(f"/flow_runs/{run_id}"))
    return run["state_type"], run["state_name"]


def test_resume_a_run_waiting_for_input(tab: Tab, ui_server: Server) -> None:
    keyset = keyset_from_base_key("paused-pause-1")
    with api(ui_server) as client:
        run_id = paused_run(client, keyset=keyset)
        schema = Approval.model_json_schema(ref_template="#/definitions/{model}")
        store_input(client, run_id, keyset["schema"], schema)
        store_input(client, run_id, keyset["description"], "Ship **release 1.2**?")

    console = watch(tab)
    page = tab.open(f"/runs/{run_id}")
    panel = page.get_by_test_id("paused-run")
    expect(panel.get_by_role("heading", name="Paused")).to_be_visible()
    expect(panel.get_by_test_id("pause-timeout")).to_contain_text("It fails if not resumed by")
    description = panel.get_by_test_id("pause-description")
    expect(description).to_contain_text("Ship release 1.2?")
    expect(description.locator("strong")).to_have_text("release 1.2")  # Markdown, rendered

    form = page.get_by_role("form", name="Resume flow run")
    expect(form.locator("#input-copies")).to_have_value("1")  # the schema's default
    expect(form).to_contain_text("Your login, lowercase.")

    # the form refuses a missing field and what is not a number, before sending anything
    form.locator("#input-copies").fill("two")
    form.get_by_role("button", name="Resume").click()
    expect(form.get_by_role("alert")).to_have_text(
        ["Reviewer is required", "Copies must be a number"]
    )

    # the server refuses what the schema refuses (a pattern the form does not check)
    form.locator("#input-copies").fill("3")
    form.locator("#input-reviewer").fill("Alice Smith")
    form.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("resume-error")).to_contain_text("reviewer")
    expect(form.locator(".field.invalid")).to_contain_text("Reviewer")
    tab.screenshot("flow-run-resume-form")
    with api(ui_server) as client:
        assert state_of(client, run_id) == ("PAUSED", "Paused")
        assert client.get(f"/flow_runs/{run_id}/input/{keyset['response']}").status_code == 404

    form.locator("#input-reviewer").fill("alice")
    form.locator("#input-approved").check()
    form.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("paused-run")).to_have_count(0)  # the run left Paused
    with api(ui_server) as client:
        state_type, _ = state_of(client, run_id)
        assert state_type != "PAUSED"
        stored = client.get(f"/flow_runs/{run_id}/input/{keyset['response']}")
        assert stored.status_code == 200
        assert json.loads(stored.text) == {"approved": True, "reviewer": "alice", "copies": 3}
    # the one console line is the browser's own note of the refused request
    assert [line for line in console if "status of 422" not in line] == []
    assert violations(tab) == [] and tab.errors == []


def test_resume_a_suspended_run_waiting_for_nothing(tab: Tab, ui_server: Server) -> None:
    with api(ui_server) as client:
        run_id = paused_run(client, name="Suspended")

    page = tab.open(f"/runs/{run_id}")
    panel = page.get_by_test_id("paused-run")
    expect(panel.get_by_role("heading", name="Suspended")).to_be_visible()
    expect(panel.get_by_test_id("pause-summary")).to_contain_text("process has exited")
    form = page.get_by_role("form", name="Resume flow run")
    expect(form.locator("input, textarea, select")).to_have_count(0)  # no input asked
    form.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("paused-run")).to_have_count(0)
    with api(ui_server) as client:
        assert state_of(client, run_id)[0] != "PAUSED"
    assert tab.errors == []

"""The Automations pages in a real Chromium against a real server whose evaluator runs:
an automation made with the form's templates and actions, listed, switched off and on,
fired by a failed run (its log and action runs appear on its page), edited, refused with
the server's reason, deleted."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server, new_server
from tests.ui.conftest import Tab, api, new_tab
from tests.ui.test_page_security import violations, watch

pytestmark = pytest.mark.slow

FIRING_TIMEOUT_MS = 15_000  # the evaluator looks every 0.05 s; a loaded machine is slower


@pytest.fixture(scope="module")
def automation_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with its services on (the shared `ui_server` has them off): its evaluator
    fires automations and its runner carries out their actions."""
    server = new_server(tmp_path_factory.mktemp("automation-ui"))
    server.start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture
def tab(browser: Any, automation_server: Server) -> Iterator[Tab]:
    tab = new_tab(browser, automation_server)
    yield tab
    tab.page.context.close()


@pytest.fixture(scope="module")
def deployment(automation_server: Server) -> dict[str, Any]:
    with api(automation_server) as client:
        created = client.post(
            "/deployments/", json={"name": "ui-cleanup", "flow_name": "ui-cleanup-flow"}
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body


def find_automation(server: Server, name: str) -> dict[str, Any] | None:
    with api(server) as client:
        answer = client.post(
            "/automations/filter", json={"automations": {"name": {"any_": [name]}}}
        )
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found[0] if found else None


def until(check: Callable[[], Any], seconds: float = 10) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def fail_a_run(server: Server, flow_name: str) -> str:
    """A flow run of `flow_name` that runs, then fails (through the API): the server
    records its vibepiper.flow-run.Failed event, the flow a related resource."""
    with api(server) as client:
        flow = client.post("/flows/", json={"name": flow_name})
        assert flow.is_success, flow.text
        run = client.post(
            "/flow_runs/", json={"flow_id": flow.json()["id"], "state": {"type": "RUNNING"}}
        )
        assert run.status_code == 201, run.text
        run_id: str = run.json()["id"]
        failed = client.post(
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "FAILED", "message": "rows did not add up"}},
        )
        assert failed.json()["status"] == "ACCEPT", failed.text
        return run_id


def test_create_list_toggle_fire_edit_and_delete(
    tab: Tab, automation_server: Server, deployment: dict[str, Any]
) -> None:
    console = watch(tab)
    page = tab.open("/automations")
    expect(page.get_by_test_id("automations").locator("h2")).to_have_text(
        re.compile(r"^Automations \(\d+\)$")
    )
    page.get_by_role("button", name="New automation").click()
    expect(page).to_have_url(re.compile(r"/automations/new$"))
    form = page.get_by_role("form", name="Create automation")
    form.locator("#automation-name").fill("ui-page-on-failure")
    form.locator("#automation-description").fill("Clean up after the nightly run fails")
    form.locator("#automation-tags").fill("ops")
    # the default template: a flow run enters a state (Failed ticked); add Crashed, a flow
    expect(form.locator("#trigger-template")).to_have_value("flow-run-state")
    states = form.get_by_role("group", name="States")
    expect(states.get_by_label("Failed", exact=True)).to_be_checked()
    states.get_by_label("Crashed", exact=True).check()
    form.locator("#trigger-flow-name").fill("ui-nightly")
    expect(form.locator("#trigger-json")).to_have_value(
        re.compile(r'"vibepiper\.resource\.name": "ui-nightly"')
    )
    # a do-nothing action and a run-deployment action with its deployment picked
    form.get_by_role("button", name="Add action").first.click()
    form.get_by_role("button", name="Add action").first.click()
    expect(form.get_by_label("Action 1 type")).to_have_value("do-nothing")
    form.get_by_label("Action 2 type").select_option("run-deployment")
    form.get_by_label("Action 2 deployment").select_option(label="ui-cleanup-flow/ui-cleanup")
    form.locator("#action-2-parameters").fill('{"reason": "nightly failed"}')
    form.get_by_role("button", name="Create").click()

    expect(page.get_by_test_id("automation-name")).to_have_text("ui-page-on-failure")
    automation = find_automation(automation_server, "ui-page-on-failure")
    assert automation is not None
    assert page.url.endswith(f"/automations/{automation['id']}")
    trigger = automation["trigger"]
    assert (trigger["type"], trigger["posture"], trigger["threshold"]) == ("event", "Reactive", 1)
    assert trigger["match"] == {"vibepiper.resource.id": "vibepiper.flow-run.*"}
    assert trigger["match_related"] == {
        "vibepiper.resource.role": "flow",
        "vibepiper.resource.name": "ui-nightly",
    }
    assert trigger["expect"] == ["vibepiper.flow-run.Crashed", "vibepiper.flow-run.Failed"]
    assert [action["type"] for action in automation["actions"]] == [
        "do-nothing",
        "run-deployment",
    ]
    run_deployment = automation["actions"][1]
    assert run_deployment["source"] == "selected"
    assert run_deployment["deployment_id"] == deployment["id"]
    assert run_deployment["parameters"] == {"reason": "nightly failed"}
    assert (automation["enabled"], automation["tags"]) == (True, ["ops"])

    # listed: trigger in one line, action types, never fired
    page.get_by_role("link", name="Automations", exact=True).first.click()
    row = page.locator("tr[data-automation='ui-page-on-failure']")
    expect(row).to_contain_text("Reactive: vibepiper.flow-run.Crashed or vibepiper.flow-run.Failed")
    expect(row).to_contain_text("do-nothing, run-deployment")
    expect(row.get_by_test_id("last-firing")).to_have_text("never")

    # the switch: off, then on again, each time what the server holds
    switch = row.get_by_role("switch")
    expect(switch).to_be_checked()
    switch.click()
    expect(switch).not_to_be_checked()
    assert until(
        lambda: find_automation(automation_server, "ui-page-on-failure")["enabled"] is False
    )
    expect(switch).to_be_enabled()
    switch.click()
    expect(switch).to_be_checked()
    assert until(
        lambda: find_automation(automation_server, "ui-page-on-failure")["enabled"] is True
    )

    # its page: fields, trigger, actions; a failed run fires it
    row.get_by_role("link", name="ui-page-on-failure").click()
    expect(page.get_by_test_id("automation-status")).to_have_text("enabled")
    expect(page.get_by_test_id("trigger-summary")).to_have_text(
        "Reactive: vibepiper.flow-run.Crashed or vibepiper.flow-run.Failed"
    )
    expect(page.get_by_test_id("automation-trigger")).to_contain_text(
        "vibepiper.resource.name: ui-nightly"
    )
    actions = page.get_by_test_id("automation-actions")
    expect(actions.locator("li[data-action-type='run-deployment']")).to_contain_text(
        "reason: nightly failed"
    )
    expect(page.get_by_test_id("automation-log")).to_contain_text("Nothing yet")
    fail_a_run(automation_server, "ui-nightly")
    triggered = page.locator("tr[data-log-kind='triggered']")
    expect(triggered).to_have_count(1, timeout=FIRING_TIMEOUT_MS)
    done = page.locator("[data-testid=action-runs-table] tr[data-status='done']")
    expect(done).to_have_count(2, timeout=FIRING_TIMEOUT_MS)
    run_row = page.locator("[data-testid=action-runs-table] tr[data-action-type='run-deployment']")
    expect(run_row.locator(".badge")).to_have_text("done")
    expect(run_row.get_by_role("link")).to_contain_text("flow run")
    with api(automation_server) as client:
        started = client.post("/flow_runs/filter", json={"deployment_id": [deployment["id"]]})
        assert [run["parameters"] for run in started.json()] == [{"reason": "nightly failed"}]
    tab.screenshot("automation")

    # the log links the event it took in
    event_link = page.locator("tr[data-log-kind='evaluated'] a.event-link").first
    expect(event_link).to_have_attribute("href", re.compile(r"^/events/[0-9a-f-]{36}$"))
    event_link.click()
    expect(page.get_by_test_id("event-name")).to_have_text("vibepiper.flow-run.Failed")
    page.go_back()

    # the list shows when it fired
    page.get_by_role("link", name="Automations", exact=True).first.click()
    expect(row.get_by_test_id("last-firing")).to_have_text(re.compile(r"ago$"))

    # edit: the form reads the trigger back into its template; the change is saved
    row.get_by_role("link", name="ui-page-on-failure").click()
    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit automation")
    expect(form.locator("#trigger-template")).to_have_value("flow-run-state")
    expect(form.locator("#trigger-flow-name")).to_have_value("ui-nightly")
    expect(form.get_by_label("Crashed", exact=True)).to_be_checked()
    expect(form.get_by_label("Action 2 deployment")).to_have_value(deployment["id"])
    expect(form.locator("#action-2-parameters")).to_have_value(
        re.compile(r'"reason": "nightly failed"')
    )
    form.locator("#automation-description").fill("Page and clean up")
    form.get_by_label("Crashed", exact=True).uncheck()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("trigger-summary")).to_have_text(
        "Reactive: vibepiper.flow-run.Failed"
    )
    edited = find_automation(automation_server, "ui-page-on-failure")
    assert edited is not None
    assert edited["description"] == "Page and clean up"
    assert edited["trigger"]["expect"] == ["vibepiper.flow-run.Failed"]
    assert edited["actions"][1]["deployment_id"] == deployment["id"]

    # Disable on its page
    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_test_id("automation-status")).to_have_text("disabled")
    assert find_automation(automation_server, "ui-page-on-failure")["enabled"] is False

    # delete from the list asks first
    page.get_by_role("link", name="Automations", exact=True).first.click()
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="No").click()
    assert find_automation(automation_server, "ui-page-on-failure") is not None
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Yes, delete").click()
    expect(row).to_have_count(0)
    with api(automation_server) as client:
        assert client.get(f"/automations/{automation['id']}").status_code == 404
    assert violations(tab) == [] and console == [] and tab.errors == []


def test_a_refused_trigger_shows_the_servers_reason_and_keeps_the_input(
    tab: Tab, automation_server: Server, deployment: dict[str, Any]
) -> None:
    page = tab.open("/automations/new")
    form = page.get_by_role("form", name="Create automation")
    form.locator("#automation-name").fill("ui-deployment-watch")
    form.get_by_role("button", name="Add action").first.click()
    # Advanced: a proactive trigger watching only 5 s, which the server refuses
    form.locator("#trigger-template").select_option("advanced")
    eager = {
        "type": "event",
        "match": {"vibepiper.resource.id": "vibepiper.flow-run.*"},
        "expect": ["vibepiper.flow-run.Completed"],
        "posture": "Proactive",
        "within": 5,
    }
    form.locator("#trigger-json").fill(json.dumps(eager))
    form.get_by_role("button", name="Create").click()
    error = form.get_by_test_id("form-error")
    expect(error).to_have_text(
        re.compile(
            r"^trigger[\w.]*: `within` for Proactive triggers must be greater than or equal "
            r"to 10 seconds$"
        )
    )
    expect(form.locator("#automation-name")).to_have_value("ui-deployment-watch")
    assert json.loads(form.locator("#trigger-json").input_value()) == eager
    assert find_automation(automation_server, "ui-deployment-watch") is None

    # not JSON: refused before anything is sent
    form.locator("#trigger-json").fill("{oops")
    form.get_by_role("button", name="Create").click()
    expect(error).to_contain_text("The trigger is not valid JSON")

    # the deployment template asks for its deployment, then builds the proactive trigger
    form.locator("#trigger-template").select_option("deployment-no-completed")
    form.get_by_role("button", name="Create").click()
    expect(error).to_have_text("Trigger: choose a deployment.")
    form.locator("#trigger-deployment").select_option(label="ui-cleanup-flow/ui-cleanup")
    form.locator("#trigger-minutes").fill("10")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("trigger-summary")).to_have_text(
        "Proactive: no vibepiper.flow-run.Completed within 600s"
    )
    automation = find_automation(automation_server, "ui-deployment-watch")
    assert automation is not None
    trigger = automation["trigger"]
    assert (trigger["posture"], trigger["within"], trigger["expect"]) == (
        "Proactive",
        600.0,
        ["vibepiper.flow-run.Completed"],
    )
    assert trigger["match_related"] == {
        "vibepiper.resource.id": f"vibepiper.deployment.{deployment['id']}"
    }

    # delete from its page
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(re.compile(r"/automations$"))
    expect(page.locator("tr[data-automation='ui-deployment-watch']")).to_have_count(0)
    assert find_automation(automation_server, "ui-deployment-watch") is None


def test_the_work_pool_and_custom_templates_build_their_triggers(
    tab: Tab, automation_server: Server
) -> None:
    with api(automation_server) as client:
        pool = client.post("/work_pools/", json={"name": "ui-auto-pool"})
        assert pool.status_code == 201, pool.text
    page = tab.open("/automations/new")
    form = page.get_by_role("form", name="Create automation")
    form.locator("#trigger-template").select_option("work-pool-not-ready")
    form.locator("#trigger-work-pool").select_option(label="ui-auto-pool")
    built = json.loads(form.locator("#trigger-json").input_value())
    assert built["match"] == {"vibepiper.resource.id": f"vibepiper.work-pool.{pool.json()['id']}"}
    assert (built["expect"], built["posture"]) == (["vibepiper.work-pool.not-ready"], "Reactive")

    form.locator("#trigger-template").select_option("custom-event")
    form.locator("#trigger-events").fill("orders.loaded, orders.checked")
    form.locator("#trigger-resource").fill("warehouse.*")
    form.locator("#trigger-threshold").fill("3")
    form.locator("#trigger-within").fill("120")
    form.locator("#automation-name").fill("ui-orders")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("trigger-summary")).to_have_text(
        "Reactive: 3 of orders.checked or orders.loaded within 120s"
    )
    automation = find_automation(automation_server, "ui-orders")
    assert automation is not None
    assert automation["actions"] == []
    trigger = automation["trigger"]
    assert trigger["match"] == {"vibepiper.resource.id": "warehouse.*"}
    assert (trigger["threshold"], trigger["within"]) == (3, 120.0)
    assert sorted(trigger["expect"]) == ["orders.checked", "orders.loaded"]
    # read back into the custom template on edit
    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit automation")
    expect(form.locator("#trigger-template")).to_have_value("custom-event")
    expect(form.locator("#trigger-threshold")).to_have_value("3")

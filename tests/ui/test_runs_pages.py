"""Runs and Flow run pages in a real Chromium, over runs recorded by real flows."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server
from tests.ui.conftest import Recorder, Tab, api
from tests.ui.flows import XSS_NAME

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(recorder: Recorder) -> dict[str, str]:
    """One run of each kind, recorded once for the module."""
    return {
        "etl": recorder.run("etl", "3"),
        "failing": recorder.run("failing"),
        "xss": recorder.run("xss"),
    }


def test_runs_page_filters_by_state_and_keeps_the_filter_in_the_url(
    tab: Tab, runs: dict[str, str], ui_server: Server
) -> None:
    page = tab.open("/runs")
    table = page.get_by_test_id("run-table")
    expect(table.locator(f"tr[data-run-id='{runs['etl']}']")).to_be_visible()
    expect(table.locator(f"tr[data-run-id='{runs['failing']}']")).to_be_visible()
    tab.screenshot("runs")

    page.locator("button.chip[data-state='FAILED']").click()
    expect(page).to_have_url(re.compile(r"/runs\?state=FAILED$"))
    expect(table.locator(f"tr[data-run-id='{runs['failing']}']")).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("page-info")).to_contain_text("1 runs")

    # the URL alone restores the filter
    page.goto(tab.base + "/runs?flow=ui-etl")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(f"tr[data-run-id='{runs['etl']}']")).to_be_visible()
    # search by name
    with api(ui_server) as client:
        name = client.get(f"/flow_runs/{runs['xss']}").json()["name"]
    page.goto(tab.base + "/runs")
    page.locator("input[name='q']").fill(name)
    page.locator("input[name='q']").press("Enter")
    expect(page).to_have_url(re.compile(r"q="))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(f"tr[data-run-id='{runs['xss']}']")).to_be_visible()


def test_a_run_page_shows_its_graph_logs_states_and_subflow(
    tab: Tab, runs: dict[str, str], ui_server: Server
) -> None:
    page = tab.open("/runs?flow=ui-etl")
    page.locator(f"tr[data-run-id='{runs['etl']}'] a.run-link").click()
    expect(page).to_have_url(re.compile(f"/runs/{runs['etl']}$"))
    expect(page.get_by_test_id("run-name")).to_be_visible()
    expect(page.locator(".run-header .badge")).to_have_text("Completed")

    with api(ui_server) as client:
        task_runs = client.post("/task_runs/count", json={"flow_run_id": [runs["etl"]]}).json()
    assert task_runs == 3 + 1 + 1  # three extracts, combine, the subflow's task run
    nodes = page.get_by_test_id("graph-node")
    expect(nodes).to_have_count(task_runs)
    expect(page.locator("[data-testid=graph-node][data-subflow=true]")).to_have_count(1)
    expect(page.locator("[data-testid=graph-node][data-state=COMPLETED]")).to_have_count(task_runs)
    expect(page.get_by_test_id("timeline-bar")).to_have_count(task_runs)
    expect(page.get_by_test_id("logs")).to_contain_text("etl started with 3 sources")
    expect(page.get_by_test_id("state-history")).to_contain_text("Running")
    expect(page.get_by_test_id("state-history")).to_contain_text("Completed")
    expect(page.locator(".json")).to_contain_text('"sources": 3')
    tab.screenshot("flow-run")

    # the subflow node leads to the subflow's own run, which links back
    page.locator("[data-testid=graph-node][data-subflow=true]").click()
    expect(page.get_by_test_id("logs")).to_contain_text("child got 30")
    expect(page.get_by_text("parent run")).to_be_visible()


def test_a_failed_run_shows_why_and_offers_the_retry_command(
    tab: Tab, runs: dict[str, str]
) -> None:
    page = tab.open(f"/runs/{runs['failing']}")
    expect(page.locator(".run-header .badge")).to_have_text("Failed")
    expect(page.locator(".state-message")).to_contain_text("the source table is empty")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_test_id("retry-command")).to_have_text(
        f"vibepiper flow-run retry {runs['failing']}"
    )
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()


def test_names_and_log_text_render_as_text_never_as_markup(tab: Tab, runs: dict[str, str]) -> None:
    page = tab.open(f"/runs/{runs['xss']}")
    expect(page.get_by_test_id("graph-node")).to_have_count(1)
    expect(page.get_by_test_id("graph-node").locator("title")).to_contain_text(XSS_NAME)
    expect(page.get_by_test_id("logs")).to_contain_text("<script>alert('log')</script>")
    expect(page.get_by_test_id("logs")).to_contain_text("<b>not bold</b>")
    expect(page.locator(".json")).to_contain_text("{}")
    page.wait_for_timeout(500)  # an onerror handler would have fired by now
    assert page.locator("img").count() == 0
    assert page.locator("main script, main b").count() == 0
    assert tab.dialogs == []
    assert tab.errors == []


def test_a_running_flow_updates_without_reload(
    tab: Tab, recorder: Recorder, ui_server: Server, tmp_path: object
) -> None:
    release = f"{tmp_path}/release"
    run_id, process = recorder.start("waiting", release)
    page = tab.open(f"/runs/{run_id}")
    expect(page.locator(".run-header .badge")).to_have_text("Running")
    expect(page.get_by_test_id("logs")).to_contain_text("waiting for")
    expect(page.get_by_test_id("graph-node")).to_have_count(1)
    expect(page.locator("[data-testid=graph-node][data-state=RUNNING]")).to_have_count(1)
    tab.screenshot("flow-run-live")

    open(release, "w").close()
    with api(ui_server) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/flow_runs/{run_id}").json()["state_type"] != "COMPLETED":
            assert time.monotonic() < deadline, "the flow did not finish"
            time.sleep(0.02)
    completed_at = time.monotonic()
    expect(page.locator(".run-header .badge")).to_have_text("Completed", timeout=2000)
    assert time.monotonic() - completed_at < 2.0
    expect(page.get_by_test_id("logs")).to_contain_text("released by", timeout=2000)
    expect(page.locator("[data-testid=graph-node][data-state=COMPLETED]")).to_have_count(1)
    process.communicate(timeout=30)


def test_the_dashboard_charts_runs_and_lists_failures(tab: Tab, runs: dict[str, str]) -> None:
    page = tab.open("/")
    expect(page.get_by_test_id("history-chart")).to_be_visible()
    failures = page.get_by_test_id("failures-table")
    expect(failures.locator(f"tr[data-run-id='{runs['failing']}']")).to_be_visible()
    expect(page.locator(".stat").first).not_to_contain_text("Runs (24h)0")
    tab.screenshot("dashboard")


def test_the_flows_page_lists_each_flow_with_its_latest_run(tab: Tab, runs: dict[str, str]) -> None:
    page = tab.open("/flows")
    table = page.get_by_test_id("flows-table")
    for name in ("ui-etl", "ui-failing", "ui-xss"):
        expect(table).to_contain_text(name)
    table.get_by_role("link", name="ui-failing").click()
    expect(page).to_have_url(re.compile(r"/runs\?flow=ui-failing$"))
    expect(page.get_by_test_id("run-table").locator("tbody tr")).to_have_count(1)
    tab.page.goto(tab.base + "/flows")
    tab.screenshot("flows")

"""Before the API answers, the pages show placeholders ("…", "Loading…"), never a made-up
0; when it fails they show the error. The API is held back or failed with `page.route`
in a real Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server
from tests.ui.conftest import Tab, api

pytestmark = pytest.mark.slow

API = "**/api/**"
DOWN = "the database is down"


@pytest.fixture(scope="module")
def flow_run(ui_server: Server) -> dict[str, Any]:
    """A finished flow run with one task run, made through the API."""
    with api(ui_server) as client:
        flow_id = client.post("/flows/", json={"name": "ui-loading"}).json()["id"]
        created = client.post(
            "/flow_runs/", json={"flow_id": flow_id, "state": {"type": "COMPLETED"}}
        )
        assert created.status_code == 201, created.text
        run: dict[str, Any] = created.json()
        task = client.post(
            "/task_runs/",
            json={"flow_run_id": run["id"], "name": "load-1", "task_key": "load"},
        )
        assert task.status_code == 201, task.text
    return run


class HeldApi:
    """Holds every matching request unanswered until `release()`."""

    def __init__(self, tab: Tab, pattern: str) -> None:
        self.page = tab.page
        self.pattern = pattern
        self.held: list[Any] = []
        self.page.route(pattern, self.hold)

    def hold(self, route: Any) -> None:
        self.held.append(route)

    def release(self) -> None:
        for route in self.held:
            route.continue_()
        self.page.unroute(self.pattern)  # which lets through any request held since


@pytest.fixture
def failing_api(tab: Tab) -> Iterator[Tab]:
    """Every API call answers 500 with a detail, until the test unroutes it."""

    def fail(route: Any) -> None:
        route.fulfill(status=500, content_type="application/json", body=f'{{"detail": "{DOWN}"}}')

    tab.page.route(API, fail)
    yield tab


def test_the_dashboard_shows_placeholders_until_the_api_answers(
    tab: Tab, flow_run: dict[str, Any]
) -> None:
    held = HeldApi(tab, API)
    page = tab.open("/")
    stats = page.get_by_test_id("stats")
    expect(stats).to_contain_text("Runs (24h)")
    expect(page.locator(".stat-value")).to_have_text(["…"] * 5)
    expect(stats).not_to_contain_text("0")
    expect(page.get_by_test_id("loading")).to_have_count(3)  # chart, failures, late runs
    expect(page.get_by_text("No failed runs.")).to_have_count(0)
    assert held.held, "the page asked the API for nothing"

    held.release()
    expect(page.locator(".stat-value").first).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    expect(page.get_by_test_id("history-chart")).to_be_visible()
    expect(page.get_by_test_id("loading")).to_have_count(0)


def test_the_flows_and_run_pages_show_placeholders_not_zero_counts(
    tab: Tab, flow_run: dict[str, Any]
) -> None:
    held = HeldApi(tab, API)
    page = tab.open("/flows")
    title = page.get_by_test_id("flows-card").locator("h2")
    expect(title).to_have_text("Flows (…)")
    expect(page.get_by_test_id("loading")).to_be_visible()
    held.release()
    expect(title).to_have_text(re.compile(r"^Flows \([1-9][\d,]*\)$"))
    row = page.get_by_test_id("flows-table").locator("tr", has_text="ui-loading")
    expect(row).to_contain_text(flow_run["name"])

    # the run itself answers, its task graph does not (yet)
    held = HeldApi(tab, "**/api/flow_runs/*/graph")
    page.goto(f"{tab.base}/runs/{flow_run['id']}")
    expect(page.get_by_test_id("run-name")).to_have_text(flow_run["name"])
    graph = page.get_by_test_id("graph-card")
    expect(graph.locator("h2")).to_have_text("Task graph (… task runs)")
    expect(graph.get_by_test_id("loading")).to_be_visible()
    expect(page.get_by_test_id("state-history")).to_contain_text("Completed")
    held.release()
    expect(graph.locator("h2")).to_have_text("Task graph (1 task runs)")
    expect(graph.get_by_test_id("graph-node")).to_have_count(1)


def test_a_failing_api_shows_the_error_not_zeros(
    failing_api: Tab, flow_run: dict[str, Any]
) -> None:
    tab = failing_api
    page = tab.open("/")
    expect(page.get_by_role("alert")).to_have_text(DOWN)
    expect(page.locator(".stat-value")).to_have_text(["—"] * 5)
    expect(page.get_by_test_id("load-failed")).to_have_count(3)
    expect(page.get_by_test_id("stats")).not_to_contain_text("0")

    for path in ("/flows", "/runs", "/deployments", "/work-pools", "/concurrency"):
        page.goto(tab.base + path)
        expect(page.get_by_role("alert").first).to_have_text(DOWN)
        expect(page.get_by_test_id("load-failed").first).to_be_visible()
        expect(page.get_by_test_id("loading")).to_have_count(0)
    page.goto(tab.base + "/flows")
    expect(page.get_by_test_id("flows-card").locator("h2")).to_have_text("Flows (—)")

    page.goto(f"{tab.base}/runs/{flow_run['id']}")
    expect(page.get_by_role("heading", name="Flow run")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(DOWN)

    # the API comes back: the next poll replaces the error with the data
    page.unroute(API)
    page.goto(tab.base + "/")
    expect(page.locator(".stat-value").first).to_have_text(re.compile(r"^[1-9][\d,]*$"))
    expect(page.get_by_role("alert")).to_have_count(0)


def test_a_failing_task_graph_leaves_the_rest_of_the_run_page(
    tab: Tab, flow_run: dict[str, Any]
) -> None:
    tab.page.route(
        "**/api/flow_runs/*/graph",
        lambda route: route.fulfill(
            status=500, content_type="application/json", body=f'{{"detail": "{DOWN}"}}'
        ),
    )
    page = tab.open(f"/runs/{flow_run['id']}")
    expect(page.get_by_test_id("run-name")).to_have_text(flow_run["name"])
    graph = page.get_by_test_id("graph-card")
    expect(graph.locator("h2")).to_have_text("Task graph (— task runs)")
    expect(graph.get_by_test_id("load-failed")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text(DOWN)
    expect(page.get_by_test_id("state-history")).to_contain_text("Completed")

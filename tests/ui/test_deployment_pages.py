"""Deployments (Run form, pause/resume), cancel and retry, work pools, concurrency limits
and the API-key prompt, in a real Chromium against a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server, new_server
from tests.ui.conftest import Tab, api, new_tab

pytestmark = pytest.mark.slow

SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "sources": {"title": "sources", "type": "integer", "minimum": 1},
        "label": {"title": "label", "type": "string", "default": "nightly"},
        "full": {"title": "full", "type": "boolean", "default": False},
    },
    "required": ["sources"],
}


@pytest.fixture(scope="module")
def deployment(ui_server: Server) -> dict[str, Any]:
    with api(ui_server) as client:
        pool = client.post("/work_pools/", json={"name": "ui-pool"})
        assert pool.status_code == 201, pool.text
        created = client.post(
            "/deployments/",
            json={
                "name": "nightly",
                "flow_name": "ui-etl",
                "work_pool_name": "ui-pool",
                "parameter_openapi_schema": SCHEMA,
                "parameters": {"sources": 2},
                "tags": ["etl"],
                "schedules": [{"schedule": {"interval": 3600}}],
            },
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body


def deployment_runs(server: Server, deployment_id: str, **filters: Any) -> list[dict[str, Any]]:
    with api(server) as client:
        answer = client.post(
            "/flow_runs/filter", json={"deployment_id": [deployment_id], **filters}
        )
        assert answer.status_code == 200, answer.text
        runs: list[dict[str, Any]] = answer.json()
        return runs


def test_the_run_form_validates_then_creates_a_run(
    tab: Tab, ui_server: Server, deployment: dict[str, Any]
) -> None:
    page = tab.open("/deployments")
    expect(page.get_by_test_id("deployments-table")).to_contain_text("every 60 min")
    tab.screenshot("deployments")
    page.get_by_role("link", name="nightly").click()
    expect(page.get_by_test_id("deployment-name")).to_have_text("nightly")
    expect(page.get_by_test_id("schedules")).to_contain_text("every 60 min")
    tab.screenshot("deployment")
    before = len(deployment_runs(ui_server, deployment["id"]))

    page.get_by_role("button", name="Run", exact=True).click()
    form = page.get_by_role("form", name="Run deployment")
    expect(form.locator("#param-sources")).to_have_value("2")  # the deployment's default
    expect(form.locator("#param-label")).to_have_value("nightly")  # the schema's default
    form.locator("#param-sources").fill("0")
    form.get_by_role("button", name="Run", exact=True).click()
    expect(form.locator(".field-error")).to_have_text("sources must be at least 1")
    form.locator("#param-sources").fill("two")
    form.get_by_role("button", name="Run", exact=True).click()
    expect(form.locator(".field-error")).to_have_text("sources must be a number")
    assert len(deployment_runs(ui_server, deployment["id"])) == before  # nothing was sent
    tab.screenshot("deployment-run-form")

    form.locator("#param-sources").fill("5")
    form.locator("#param-full").check()
    form.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    with api(ui_server) as client:
        run = client.get(f"/flow_runs/{run_id}").json()
    assert run["deployment_id"] == deployment["id"]
    assert run["parameters"] == {"sources": 5, "label": "nightly", "full": True}
    assert run["state_type"] == "SCHEDULED"
    expect(page.locator(".json")).to_contain_text('"sources": 5')
    expect(page.get_by_test_id("run-job-variables")).to_have_text("none (the deployment's)")


def test_a_deployment_runs_page_shows_its_own_job_variables(
    tab: Tab, ui_server: Server, deployment: dict[str, Any]
) -> None:
    with api(ui_server) as client:
        created = client.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"job_variables": {"env": {"TIER": "gold"}}},
        )
        assert created.status_code == 201, created.text
    page = tab.open(f"/runs/{created.json()['id']}")
    expect(page.get_by_test_id("run-job-variables")).to_have_text('{"env":{"TIER":"gold"}}')


MODELS_SCHEMA = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "points": {"title": "points", "type": "array", "items": {"$ref": "#/definitions/Point"}},
    },
    "required": ["points"],
    "definitions": {
        "Point": {
            "title": "Point",
            "type": "object",
            "properties": {"x": {"title": "X", "type": "integer"}},
            "required": ["x"],
        }
    },
}


def test_the_run_form_checks_the_items_of_a_list_of_models(tab: Tab, ui_server: Server) -> None:
    with api(ui_server) as client:
        created = client.post(
            "/deployments/",
            json={
                "name": "points",
                "flow_name": "ui-points",
                "parameter_openapi_schema": MODELS_SCHEMA,
            },
        )
        assert created.status_code == 201, created.text
        deployment_id = created.json()["id"]
    page = tab.open(f"/deployments/{deployment_id}")
    page.get_by_role("button", name="Run", exact=True).click()
    form = page.get_by_role("form", name="Run deployment")
    form.locator("#param-points").fill('[{"x": 1}, 5]')
    form.get_by_role("button", name="Run", exact=True).click()
    # the items' $ref is followed to the root's definitions: item 1 is not an object
    expect(form.locator(".field-error")).to_have_text("points item 1 must be object")
    assert deployment_runs(ui_server, deployment_id) == []
    form.locator("#param-points").fill('[{"x": 1}, {"x": 2}]')
    form.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    [run] = deployment_runs(ui_server, deployment_id)
    assert run["parameters"] == {"points": [{"x": 1}, {"x": 2}]}


def test_cancel_then_retry_a_deployment_run(
    tab: Tab, ui_server: Server, deployment: dict[str, Any]
) -> None:
    with api(ui_server) as client:
        created = client.post(
            f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": {"sources": 1}}
        )
        assert created.status_code == 201, created.text
        run_id = created.json()["id"]
    page = tab.open(f"/runs/{run_id}")
    expect(page.locator(".run-header .badge")).to_have_text("Scheduled")
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".run-header .badge")).to_have_text("Cancelled")
    with api(ui_server) as client:
        assert client.get(f"/flow_runs/{run_id}").json()["state_type"] == "CANCELLED"

    # a finished deployment run goes back to Scheduled, for a worker to pick up
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".run-header .badge")).to_have_text("Scheduled")
    expect(page.get_by_test_id("state-history")).to_contain_text("Retried from the dashboard")
    with api(ui_server) as client:
        assert client.get(f"/flow_runs/{run_id}").json()["state_type"] == "SCHEDULED"


def test_pause_and_resume_a_deployment(
    tab: Tab, ui_server: Server, deployment: dict[str, Any]
) -> None:
    page = tab.open(f"/deployments/{deployment['id']}")
    expect(page.get_by_test_id("deployment-status")).to_have_text("active")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("deployment-status")).to_have_text("paused")
    with api(ui_server) as client:
        assert client.get(f"/deployments/{deployment['id']}").json()["paused"] is True
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("deployment-status")).to_have_text("active")
    with api(ui_server) as client:
        assert client.get(f"/deployments/{deployment['id']}").json()["paused"] is False


def test_work_pools_show_queues_and_worker_heartbeats(
    tab: Tab, ui_server: Server, deployment: dict[str, Any]
) -> None:
    with api(ui_server) as client:
        beat = client.post(
            "/workers/heartbeat", json={"worker_name": "ui-worker-1", "work_pool_name": "ui-pool"}
        )
        assert beat.status_code == 200, beat.text
    page = tab.open("/work-pools")
    pool = page.get_by_test_id("work-pool").filter(has_text="ui-pool")
    expect(pool).to_contain_text("default")
    expect(pool.get_by_test_id("workers")).to_contain_text("ui-worker-1")
    expect(pool.get_by_test_id("workers")).to_contain_text("online")
    tab.screenshot("work-pools")


def test_concurrency_limits_show_slots_in_use(tab: Tab, ui_server: Server) -> None:
    with api(ui_server) as client:
        made = client.post(
            "/concurrency_limits/", json={"name": "tag:db", "kind": "tag", "limit": 3}
        )
        assert made.status_code == 201, made.text
        grant = client.post(
            "/concurrency_limits/acquire",
            json={"names": ["tag:db"], "occupy": 2, "holder": "ui-test", "lease_seconds": 300},
        )
        assert grant.json()["granted"] is True, grant.text
    page = tab.open("/concurrency")
    row = page.locator("tr[data-limit='tag:db']")
    expect(row.get_by_test_id("slots")).to_have_text("2 / 3")
    expect(row).to_contain_text("ui-test")
    tab.screenshot("concurrency")
    with api(ui_server) as client:
        client.post("/concurrency_limits/tag:db/reset")
    expect(row.get_by_test_id("slots")).to_have_text("0 / 3", timeout=2000)


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = new_server(tmp_path_factory.mktemp("keyed"))
    server.start({"VIBEPIPER_SERVER_API_KEY": "s3cret", "VIBEPIPER_SERVER_SERVICES": "false"})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_with_an_api_key_the_dashboard_asks_for_it(browser: Any, keyed_server: Server) -> None:
    with api(keyed_server) as client:  # the dashboard's own endpoints are protected too
        assert client.get("/ui/concurrency_limits").status_code == 401
        assert client.post("/ui/flow_runs/history", json={}).status_code == 401
    tab = new_tab(browser, keyed_server)
    try:
        page = tab.open("/runs")
        form = page.get_by_role("form", name="API key")
        expect(form).to_be_visible()
        tab.screenshot("api-key-prompt")
        form.locator("input[name='api-key']").fill("wrong")
        form.get_by_role("button", name="Sign in").click()
        expect(form.get_by_role("alert")).to_have_text("That key was refused by the server.")
        form.locator("input[name='api-key']").fill("s3cret")
        form.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        expect(page.get_by_text("No runs match.")).to_be_visible()
        assert page.evaluate("localStorage.getItem('vibepiper.apiKey')") == "s3cret"
        page.reload()  # the key is remembered
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        # the API docs page sends the stored key, which the schema needs as well
        page.goto(tab.base + "/api/docs")  # (its first section: Swagger UI renders it first)
        expect(page.locator(".opblock", has_text="/api/version").first).to_be_visible()
    finally:
        tab.page.context.close()


def test_with_an_api_key_the_api_docs_need_it(browser: Any, keyed_server: Server) -> None:
    with api(keyed_server) as client:
        assert client.get("/openapi.json").status_code == 401
    tab = new_tab(browser, keyed_server)
    try:
        page = tab.open("/api/docs")  # no key stored: the schema is refused
        expect(page.get_by_text("Failed to load API definition")).to_be_visible()
        assert page.locator(".opblock").count() == 0
    finally:
        tab.page.context.close()


def test_the_server_serves_client_routes_and_keeps_api_404s(ui_server: Server) -> None:
    import httpx

    base = f"http://127.0.0.1:{ui_server.port}"
    page = httpx.get(f"{base}/runs/0b6e0c2a-0000-0000-0000-000000000000")
    assert page.status_code == 200 and '<div id="root">' in page.text
    assert page.headers["cache-control"] == "no-cache"
    asset = re.search(r'src="(/assets/[^"]+\.js)"', page.text)
    assert asset is not None
    served = httpx.get(base + asset.group(1))
    assert served.status_code == 200
    assert "immutable" in served.headers["cache-control"]
    missing = httpx.get(f"{base}/api/no_such_route")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
    assert httpx.get(f"{base}/assets/nope.js").status_code == 404
    assert httpx.get(f"{base}/..%2f..%2fpyproject.toml").status_code in (200, 404)
    assert "[project]" not in httpx.get(f"{base}/..%2f..%2fpyproject.toml").text
    assert Path(__file__).exists()

"""The dashboard and the API docs under their Content-Security-Policy, in a real Chromium:
every page renders with no policy violation and no console error, and `/api/docs` works
with every request to another origin blocked (offline)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server
from tests.ui.conftest import Recorder, Tab, api
from vibepiper.server.headers import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.slow

# Records each `securitypolicyviolation` event: an init script runs before the page's
# own scripts and is not itself subject to the page's policy.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def recorded(recorder: Recorder, ui_server: Server) -> dict[str, str]:
    """A real run (graph, timeline, logs, subflow), a deployment on a pool with a worker,
    and a held concurrency limit: every page has something to draw."""
    etl = recorder.run("etl", "2")
    with api(ui_server) as client:
        pool = client.post("/work_pools/", json={"name": "csp-pool"})
        assert pool.status_code == 201, pool.text
        deployment = client.post(
            "/deployments/",
            json={
                "name": "csp",
                "flow_name": "ui-etl",
                "work_pool_name": "csp-pool",
                "parameter_openapi_schema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "default": 1}},
                },
                "schedules": [{"schedule": {"interval": 3600}}],
            },
        )
        assert deployment.status_code == 201, deployment.text
        beat = client.post(
            "/workers/heartbeat", json={"worker_name": "csp-worker", "work_pool_name": "csp-pool"}
        )
        assert beat.status_code == 200, beat.text
        limit = client.post(
            "/concurrency_limits/", json={"name": "tag:csp", "kind": "tag", "limit": 2}
        )
        assert limit.status_code == 201, limit.text
        grant = client.post(
            "/concurrency_limits/acquire",
            json={"names": ["tag:csp"], "occupy": 1, "holder": "csp-test", "lease_seconds": 300},
        )
        assert grant.json()["granted"] is True, grant.text
    return {"etl": etl, "deployment": deployment.json()["id"]}


def watch(tab: Tab) -> list[str]:
    """Console errors and warnings of `tab` from now on (a blocked resource or a policy
    violation is logged as one)."""
    messages: list[str] = []
    tab.page.add_init_script(WATCH_VIOLATIONS)
    tab.page.on(
        "console",
        lambda message: (
            messages.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning")
            else None
        ),
    )
    return messages


def violations(tab: Tab) -> list[str]:
    found: list[str] = tab.page.evaluate("window.__violations")
    return found


def test_every_page_renders_under_the_policy_without_a_violation(
    tab: Tab, recorded: dict[str, str]
) -> None:
    console = watch(tab)
    pages: list[tuple[str, str]] = [
        ("/", "[data-testid=history-chart] rect"),
        ("/runs", "[data-testid=run-table] .badge"),
        (f"/runs/{recorded['etl']}", "[data-testid=timeline-bar]"),
        ("/flows", "[data-testid=flows-table] .badge"),
        ("/deployments", "[data-testid=deployments-table]"),
        (f"/deployments/{recorded['deployment']}", "[data-testid=schedules]"),
        ("/work-pools", "[data-testid=workers]"),
        ("/concurrency", "tr[data-limit='tag:csp'] .bar"),
        ("/artifacts", "h1:has-text('Artifacts')"),
        ("/automations", "h1:has-text('Automations')"),
        ("/automations/new", "button:has-text('Create')"),
        ("/no-such-page", "h1:has-text('Not found')"),
    ]
    for path, drawn in pages:
        response = tab.page.goto(tab.base + path)
        assert response is not None
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        expect(tab.page.locator(drawn).first).to_be_visible()
        tab.page.wait_for_timeout(200)  # a late violation (a lazy style, an image) lands
        assert violations(tab) == [], path
    # React's `style` props (state colours, bars) are CSSOM writes, which the policy allows
    tab.page.goto(tab.base + f"/runs/{recorded['etl']}")
    expect(tab.page.locator(".run-header .badge")).to_have_css(
        "background-color", "rgb(46, 158, 91)"
    )
    assert violations(tab) == []
    assert console == []
    assert tab.errors == []


def test_the_policy_is_enforced_inline_script_does_not_run(tab: Tab, ui_server: Server) -> None:
    console = watch(tab)
    page = tab.open("/runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    ran = page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__inline = true";
          document.head.appendChild(script);
          const element = document.createElement("div");
          element.setAttribute("onclick", "window.__inline = true");
          document.body.appendChild(element);
          element.click();
          return window.__inline === true;
        }"""
    )
    assert ran is False
    page.wait_for_timeout(100)
    assert [v.split(" blocked ")[0] for v in violations(tab)] == [
        "script-src-elem",
        "script-src-attr",
    ]
    assert any("Content Security Policy" in message for message in console)


def test_the_api_docs_work_offline(tab: Tab, ui_server: Server) -> None:
    console = watch(tab)
    outside: list[str] = []

    def only_this_server(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    tab.page.context.route("**/*", only_this_server)
    response = tab.page.goto(tab.base + "/api/docs")
    assert response is not None
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = tab.page
    # an operation of the first section Swagger UI renders (it renders the others as the
    # page scrolls)
    operation = page.locator(".opblock").filter(has_text="/api/version")
    expect(operation.first).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("VibePiper")
    # open an operation and try it: the request goes to this server, under the policy
    operation.first.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(
        operation.first.locator(".live-responses-table tr.response td.response-col_status").first
    ).to_have_text("200")
    page.wait_for_timeout(200)
    assert outside == []
    assert violations(tab) == []
    assert console == []
    assert tab.errors == []

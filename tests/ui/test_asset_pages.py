"""The asset pages in a real Chromium against a real server whose catalogue is built from
asset events posted to `POST /api/events` in the shapes the SDK emits: `/assets` lists the
assets with their health and pages and searches them; an asset's page shows its
properties, freshness, metadata, materialization and check history with links to the
runs, and links to its upstream and downstream assets; Materialize answers the 409
sentence when no deployment materializes it; Delete removes it; the lineage graph colours
nodes by health, highlights a node's lineage on hover, zooms, pans and opens an asset on
a click, and draws 500 assets and 2,000 edges."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server, new_server
from tests.ui.conftest import Tab, api, new_tab
from tests.ui.test_page_security import violations, watch

pytestmark = pytest.mark.slow

RAW = "s3://lake/raw/orders.csv"
CLEAN = "s3://lake/clean/orders.parquet"
REVENUE = "postgres://warehouse/analytics/daily_revenue"
LOOKUP = "s3://lake/ref/regions.csv"
DEPLOYED = "s3://lake/reports/weekly.csv"
HISTORIC = "warehouse://bulk/item-000"  # materialized 25 times
BULK = 60
PWNED = '<img src=x onerror="window.__pwned = 1">'


def at(minutes_ago: float) -> str:
    """A time that long before now (now, not at import: a long test run would push
    events made from an import-time clock out of the page's last-hour range)."""
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat()


def run_labels(run: dict[str, Any]) -> list[dict[str, str]]:
    """The flow-run, task-run and flow (and deployment) a materialization's event relates to."""
    deployment = run.get("deployment_id")
    return [
        *(
            [
                {
                    "vibepiper.resource.id": f"vibepiper.deployment.{deployment}",
                    "vibepiper.resource.role": "deployment",
                }
            ]
            if deployment
            else []
        ),
        {
            "vibepiper.resource.id": f"vibepiper.flow-run.{run['flow_run_id']}",
            "vibepiper.resource.role": "flow-run",
            "vibepiper.resource.name": run["flow_run_name"],
        },
        {
            "vibepiper.resource.id": f"vibepiper.task-run.{run['task_run_id']}",
            "vibepiper.resource.role": "task-run",
        },
        {
            "vibepiper.resource.id": f"vibepiper.flow.{run['flow_id']}",
            "vibepiper.resource.role": "flow",
            "vibepiper.resource.name": run["flow_name"],
        },
    ]


def materialized(
    key: str,
    run: dict[str, Any] | None,
    minutes_ago: float,
    *,
    status: str = "succeeded",
    upstream: tuple[str, ...] = (),
    by: str | None = None,
    metadata: dict[str, Any] | None = None,
    error: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    related = [{"vibepiper.resource.id": u, "vibepiper.resource.role": "asset"} for u in upstream]
    if by:
        related.append(
            {
                "vibepiper.resource.id": f"vibepiper.asset-materialized-by.{by}",
                "vibepiper.resource.role": "asset-materialized-by",
            }
        )
    payload: dict[str, Any] = {"metadata": metadata or {}}
    if error is not None:
        payload["error"] = error
    return {
        "id": str(uuid.uuid4()),
        "occurred": at(minutes_ago),
        "event": f"vibepiper.asset.materialization.{status}",
        "resource": {"vibepiper.resource.id": key, **labels},
        "related": related + (run_labels(run) if run else []),
        "payload": payload,
    }


def checked(
    key: str,
    run: dict[str, Any],
    minutes_ago: float,
    name: str,
    passed: bool,
    *,
    severity: str = "error",
    blocking: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": at(minutes_ago - 0.01),
        "event": f"vibepiper.asset.check.{'passed' if passed else 'failed'}",
        "resource": {"vibepiper.resource.id": key},
        "related": [
            {
                "vibepiper.resource.id": f"vibepiper.asset-check.{name}",
                "vibepiper.resource.role": "asset-check",
            },
            *run_labels(run),
        ],
        "payload": {
            "check": name,
            "severity": severity,
            "blocking": blocking,
            "description": description,
            "metadata": {},
        },
    }


def referenced(
    upstream: str, downstream: str, run: dict[str, Any], minutes_ago: float
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": at(minutes_ago),
        "event": "vibepiper.asset.referenced",
        "resource": {"vibepiper.resource.id": upstream},
        "related": [
            {"vibepiper.resource.id": downstream, "vibepiper.resource.role": "asset"},
            *run_labels(run),
        ],
        "payload": {},
    }


def post_events(server: Server, events: list[dict[str, Any]]) -> None:
    with api(server) as client:
        answer = client.post("/events", json=events)
        assert answer.status_code == 204, answer.text


def new_run(
    server: Server, flow_name: str, task_name: str, deployment_id: str | None = None
) -> dict[str, Any]:
    """A finished flow run with one task run, made through the API (what the events name)."""
    with api(server) as client:
        flow = client.post("/flows/", json={"name": flow_name})
        assert flow.is_success, flow.text
        body = {"flow_id": flow.json()["id"], "state": {"type": "COMPLETED"}}
        if deployment_id:
            body["deployment_id"] = deployment_id
        run = client.post("/flow_runs/", json=body)
        assert run.status_code == 201, run.text
        task = client.post(
            "/task_runs/",
            json={"flow_run_id": run.json()["id"], "name": task_name, "task_key": task_name},
        )
        assert task.is_success, task.text
        return {
            "flow_id": flow.json()["id"],
            "flow_name": flow_name,
            "flow_run_id": run.json()["id"],
            "flow_run_name": run.json()["name"],
            "task_run_id": task.json()["id"],
            "task_run_name": task_name,
            "deployment_id": deployment_id,
        }


def asset_url(key: str) -> str:
    return f"/assets?key={quote(key, safe='')}"


def detail_status(server: Server, key: str) -> int:
    with api(server) as client:
        return client.get("/assets/detail", params={"key": key}).status_code


@pytest.fixture(scope="module")
def catalogue(ui_server: Server) -> dict[str, Any]:
    """Raw orders (materialized twice, the first time failing; one check passed, one
    warned), clean orders read from it and from a referenced lookup (a failed error
    check), daily revenue read from clean orders (a freshness policy no server has
    evaluated), and a bulk of unrelated assets for paging."""
    ingest = new_run(ui_server, "ui-ingest", "load_orders")
    retry = new_run(ui_server, "ui-ingest", "load_orders")
    transform = new_run(ui_server, "ui-transform", "clean_orders")
    report = new_run(ui_server, "ui-report", "daily_revenue")
    with api(ui_server) as client:
        deployment = client.post(
            "/deployments/", json={"name": "weekly", "flow_name": "ui-weekly-report"}
        )
        assert deployment.status_code == 201, deployment.text
    weekly = new_run(ui_server, "ui-weekly-report", "write_report", deployment.json()["id"])
    events = [
        materialized(RAW, ingest, 30, status="failed", error="bucket not reachable"),
        materialized(
            RAW,
            retry,
            20,
            by="dbt",
            metadata={"rows": 120, "columns": ["id", "total"]},
            **{
                "vibepiper.resource.name": "Raw orders",
                "vibepiper.asset.url": "https://example.com/lake/orders",
                "vibepiper.asset.description": f"**Orders** as they land.\n\n{PWNED}",
                "vibepiper.asset.owners": json.dumps(["data-team", "alice"]),
            },
        ),
        checked(RAW, retry, 20, "not_empty", True, description="at least one row"),
        checked(RAW, retry, 20, "recent_rows", False, severity="warn"),
        referenced(LOOKUP, CLEAN, transform, 10),
        materialized(CLEAN, transform, 10, upstream=(RAW, LOOKUP)),
        checked(CLEAN, transform, 10, "unique_ids", False, blocking=True, description="ids repeat"),
        materialized(
            REVENUE,
            report,
            5,
            upstream=(CLEAN,),
            **{"vibepiper.asset.freshness": json.dumps({"within_seconds": 3600.0})},
        ),
    ]
    events.append(materialized(DEPLOYED, weekly, 3))
    events += [materialized(HISTORIC, None, 40 + i, metadata={"i": i}) for i in range(1, 25)]
    events += [materialized(f"warehouse://bulk/item-{i:03d}", None, 40) for i in range(BULK)]
    post_events(ui_server, events)
    with api(ui_server) as client:
        total = client.post("/assets/count", json={})
        assert total.status_code == 200, total.text
        assert total.json() == BULK + 5
    return {
        "ingest": ingest,
        "retry": retry,
        "transform": transform,
        "report": report,
        "weekly": weekly,
    }


def row(page: Any, key: str) -> Any:
    return page.locator(f"[data-testid=assets-table] tr[data-asset-key='{key}']")


def test_the_catalogue_lists_assets_with_health_and_pages(
    tab: Tab, catalogue: dict[str, Any]
) -> None:
    page = tab.open("/assets")
    expect(page.locator(".sidebar a.active")).to_have_text("Assets")
    expect(page.get_by_test_id("page-info")).to_have_text("Page 1 of 2 · 65 assets")
    expect(page.locator("[data-testid=assets-table] tbody tr")).to_have_count(50)
    healths = {RAW: "warning", CLEAN: "failing", REVENUE: "healthy", LOOKUP: "unknown"}
    for key, health in healths.items():
        expect(row(page, key).locator(".badge")).to_have_text(health)
    raw = row(page, RAW)
    expect(raw).to_contain_text("Raw orders")
    expect(raw.get_by_test_id("check-counts")).to_have_text("1 passed1 warned")
    expect(raw).to_contain_text("succeeded")
    expect(raw.get_by_role("link", name="ui-ingest")).to_have_attribute(
        "href", f"/runs/{catalogue['retry']['flow_run_id']}"
    )
    expect(row(page, CLEAN).get_by_test_id("check-counts")).to_have_text("0 passed1 failed")
    expect(row(page, REVENUE)).to_contain_text("not evaluated")
    expect(row(page, LOOKUP)).to_contain_text("never")
    tab.screenshot("assets-catalogue")

    page.get_by_role("button", name=re.compile("^Next")).click()
    expect(page).to_have_url(re.compile(r"/assets\?page=2$"))
    expect(page.get_by_test_id("page-info")).to_have_text("Page 2 of 2 · 65 assets")
    expect(page.locator("[data-testid=assets-table] tbody tr")).to_have_count(15)
    expect(row(page, "warehouse://bulk/item-059")).to_be_visible()  # sorted by key
    assert tab.errors == []


def test_search_narrows_the_catalogue(tab: Tab, catalogue: dict[str, Any]) -> None:
    page = tab.open("/assets")
    expect(row(page, RAW)).to_be_visible()
    page.get_by_label("Search assets").fill("orders")
    expect(page).to_have_url(re.compile(r"/assets\?q=orders$"))
    expect(page.locator("[data-testid=assets-table] tbody tr")).to_have_count(2)
    expect(row(page, RAW)).to_be_visible()
    expect(row(page, CLEAN)).to_be_visible()
    expect(page.get_by_test_id("page-info")).to_have_text("Page 1 of 1 · 2 assets")
    page.get_by_label("Search assets").fill("Raw ord")  # names match too
    expect(page.locator("[data-testid=assets-table] tbody tr")).to_have_count(1)
    page.get_by_label("Search assets").fill("no-such-asset")
    expect(page.get_by_text("No asset matches.")).to_be_visible()
    assert tab.errors == []


def test_an_asset_page_shows_properties_history_and_checks_with_run_links(
    tab: Tab, catalogue: dict[str, Any]
) -> None:
    console = watch(tab)
    page = tab.open("/assets?q=raw")
    row(page, RAW).get_by_role("link", name=RAW).click()
    expect(page).to_have_url(re.compile(re.escape(asset_url(RAW)) + "$"))
    expect(page.get_by_test_id("asset-name")).to_have_text("Raw orders")
    expect(page.get_by_test_id("asset-key")).to_have_text(RAW)
    expect(page.get_by_test_id("asset-health").locator(".badge")).to_have_text("warning")
    link = page.get_by_test_id("asset-url").get_by_role("link")
    expect(link).to_have_attribute("href", "https://example.com/lake/orders")
    expect(page.get_by_test_id("asset-owners")).to_have_text("data-team, alice")
    description = page.get_by_test_id("asset-description")
    expect(description.locator("strong")).to_have_text("Orders")
    expect(description).to_contain_text("as they land.")
    expect(page.get_by_test_id("asset-properties")).to_contain_text("dbt")
    expect(page.get_by_test_id("freshness-policy")).to_contain_text("No freshness policy")
    expect(page.get_by_test_id("asset-metadata")).to_contain_text('"rows": 120')

    history = page.get_by_test_id("materialization")
    expect(history).to_have_count(2)
    latest, first = history.nth(0), history.nth(1)
    expect(latest).to_have_attribute("data-status", "succeeded")
    expect(latest).to_contain_text("load_orders")  # the task run's name
    expect(latest).to_contain_text("dbt")
    run = latest.get_by_role("link", name=catalogue["retry"]["flow_run_name"])
    expect(run).to_have_attribute("href", f"/runs/{catalogue['retry']['flow_run_id']}")
    expect(first).to_have_attribute("data-status", "failed")
    expect(first).to_contain_text("bucket not reachable")

    checks = page.get_by_test_id("check-result")
    expect(checks).to_have_count(2)
    passed = page.locator("[data-testid=check-result][data-check=not_empty]")
    expect(passed).to_have_attribute("data-passed", "true")
    expect(passed).to_contain_text("at least one row")
    warned = page.locator("[data-testid=check-result][data-check=recent_rows]")
    expect(warned).to_have_attribute("data-passed", "false")
    expect(warned).to_contain_text("warn")
    expect(warned.get_by_role("link")).to_have_attribute(
        "href", f"/runs/{catalogue['retry']['flow_run_id']}"
    )
    tab.screenshot("asset-page")
    assert page.evaluate("window.__pwned") is None
    assert violations(tab) == [] and console == [] and tab.errors == []
    run.click()
    expect(page).to_have_url(re.compile(f"/runs/{catalogue['retry']['flow_run_id']}$"))


def test_a_long_history_shows_more_on_demand(tab: Tab, catalogue: dict[str, Any]) -> None:
    page = tab.open(asset_url(HISTORIC))
    rows = page.get_by_test_id("materialization")
    expect(rows).to_have_count(20)  # what the detail holds
    more = page.get_by_test_id("asset-materializations").get_by_role("button", name="Show more")
    more.click()
    expect(rows).to_have_count(25)
    expect(more).to_have_count(0)
    expect(page.get_by_test_id("asset-checks").get_by_role("button")).to_have_count(0)
    assert tab.errors == []


def test_freshness_says_when_no_server_evaluated_it(tab: Tab, catalogue: dict[str, Any]) -> None:
    page = tab.open(asset_url(REVENUE))
    expect(page.get_by_test_id("asset-name")).to_have_text(REVENUE)
    expect(page.get_by_test_id("asset-freshness")).to_have_text("not evaluated")
    policy = page.get_by_test_id("freshness-policy")
    expect(policy).to_contain_text("Expected materialized within 1h 0m.")
    expect(policy).to_contain_text("No server has evaluated it yet")
    blocking = tab.open(asset_url(CLEAN)).locator(
        "[data-testid=check-result][data-check=unique_ids]"
    )
    expect(blocking).to_contain_text("yes")  # blocking
    expect(blocking).to_contain_text("ids repeat")


def test_upstream_and_downstream_links_navigate(tab: Tab, catalogue: dict[str, Any]) -> None:
    page = tab.open(asset_url(CLEAN))
    upstream = page.get_by_test_id("upstream-assets")
    expect(upstream.get_by_role("link")).to_have_text(sorted([RAW, LOOKUP]), ignore_case=False)
    expect(page.get_by_test_id("downstream-assets").get_by_role("link")).to_have_text([REVENUE])
    upstream.get_by_role("link", name=RAW).click()
    expect(page).to_have_url(re.compile(re.escape(asset_url(RAW)) + "$"))
    expect(page.get_by_test_id("asset-name")).to_have_text("Raw orders")
    expect(page.get_by_test_id("upstream-assets")).to_have_count(0)
    page.get_by_test_id("downstream-assets").get_by_role("link", name=CLEAN).click()
    expect(page.get_by_test_id("asset-name")).to_have_text(CLEAN)
    page.go_back()
    expect(page.get_by_test_id("asset-name")).to_have_text("Raw orders")
    assert tab.errors == []


def test_materialize_without_a_deployment_shows_why(tab: Tab, catalogue: dict[str, Any]) -> None:
    page = tab.open(asset_url(RAW))
    page.get_by_role("button", name="Materialize").click()
    error = page.get_by_test_id("asset-action-error")
    expect(error).to_contain_text("cannot be materialized from here")
    expect(error).to_contain_text("deploy the flow")


def test_materialize_runs_the_deployment_that_last_materialized_it(
    tab: Tab, ui_server: Server, catalogue: dict[str, Any]
) -> None:
    page = tab.open(asset_url(DEPLOYED))
    page.get_by_role("button", name="Materialize").click()
    started = page.get_by_test_id("materialize-started")
    expect(started).to_contain_text("Started a run of its deployment.")
    deployment = catalogue["weekly"]["deployment_id"]
    expect(started.get_by_role("link", name="deployment")).to_have_attribute(
        "href", f"/deployments/{deployment}"
    )
    href = started.get_by_role("link", name="a run").get_attribute("href") or ""
    run_id = href.removeprefix("/runs/")
    with api(ui_server) as client:
        run = client.get(f"/flow_runs/{run_id}")
        assert run.status_code == 200, run.text
        assert run.json()["deployment_id"] == deployment
    assert tab.errors == []


def test_delete_asks_then_removes_the_asset(
    tab: Tab, ui_server: Server, catalogue: dict[str, Any]
) -> None:
    key = "file:///scratch/delete-me.csv"
    post_events(ui_server, [materialized(key, None, 1)])
    page = tab.open(asset_url(key))
    page.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("group", name="Confirm delete")
    expect(confirm).to_contain_text(f"Delete {key} and its history?")
    confirm.get_by_role("button", name="No").click()
    assert detail_status(ui_server, key) == 200
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(re.compile(r"/assets$"))
    expect(page.get_by_test_id("page-info")).to_contain_text("65 assets")
    assert detail_status(ui_server, key) == 404
    page = tab.open(asset_url(key))
    expect(page.get_by_text(f"No asset has the key {key}.")).to_be_visible()


def test_the_lineage_graph_highlights_zooms_pans_and_opens_assets(
    tab: Tab, ui_server: Server, catalogue: dict[str, Any]
) -> None:
    console = watch(tab)
    page = tab.open("/assets")
    page.get_by_role("tab", name="Lineage").click()
    expect(page).to_have_url(re.compile(r"/assets\?view=lineage$"))
    graph = page.get_by_test_id("lineage-graph")
    nodes = page.get_by_test_id("lineage-node")
    with api(ui_server) as client:  # every asset, whatever the tests before left
        expected = client.post("/assets/count", json={}).json()
    assert expected >= BULK + 5
    expect(nodes).to_have_count(expected)
    for key, health in {RAW: "warning", CLEAN: "failing", REVENUE: "healthy"}.items():
        expect(page.locator(f"[data-testid=lineage-node][data-key='{key}']")).to_have_attribute(
            "data-health", health
        )
    expect(page.get_by_test_id("lineage-summary")).to_contain_text("3 edges")
    tab.screenshot("assets-lineage")
    assert violations(tab) == [] and console == []

    clean = page.locator(f"[data-testid=lineage-node][data-key='{CLEAN}']")
    clean.hover()
    highlight = page.get_by_test_id("lineage-highlight")
    expect(highlight).to_have_attribute("data-upstream", "2")
    expect(highlight).to_have_attribute("data-downstream", "1")
    expect(graph).to_have_class(re.compile("dimmed"))

    # a drag pans the graph (starting on a node: it does not open it)
    before = clean.bounding_box()
    assert before is not None
    page.mouse.move(before["x"] + 20, before["y"] + 5)
    page.mouse.down()
    page.mouse.move(before["x"] + 80, before["y"] + 45, steps=5)
    page.mouse.up()
    after = clean.bounding_box()
    assert after is not None
    assert after["x"] - before["x"] == pytest.approx(60, abs=2)
    assert after["y"] - before["y"] == pytest.approx(40, abs=2)
    expect(page).to_have_url(re.compile(r"/assets\?view=lineage$"))

    scale = float(graph.get_attribute("data-scale") or 0)
    page.get_by_role("button", name="Zoom in").click()
    expect(graph).not_to_have_attribute("data-scale", f"{scale:.3f}")
    zoomed = float(graph.get_attribute("data-scale") or 0)
    assert zoomed > scale
    box = graph.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 40, box["y"] + 40)
    page.mouse.wheel(0, 300)  # wheel down zooms out
    expect(graph).not_to_have_attribute("data-scale", f"{zoomed:.3f}")
    assert float(graph.get_attribute("data-scale") or 0) < zoomed

    page.get_by_role("button", name="Fit").click()
    clean.click()
    expect(page).to_have_url(re.compile(re.escape(asset_url(CLEAN)) + "$"))
    expect(page.get_by_test_id("asset-name")).to_have_text(CLEAN)
    assert tab.errors == []


def test_the_lineage_centres_on_an_asset_and_finds_one(tab: Tab, catalogue: dict[str, Any]) -> None:
    page = tab.open(asset_url(CLEAN))
    page.get_by_role("link", name="Show in lineage").click()
    expect(page).to_have_url(
        re.compile(r"/assets\?view=lineage&focus=" + re.escape(quote(CLEAN, safe="")) + "$")
    )
    highlight = page.get_by_test_id("lineage-highlight")
    expect(highlight).to_have_attribute("data-key", CLEAN)
    expect(highlight).to_have_attribute("data-upstream", "2")
    expect(page.get_by_test_id("lineage-graph")).to_have_attribute("data-scale", "1.000")
    find = page.get_by_label("Find an asset")
    find.fill("daily_rev")
    find.press("Enter")
    expect(page).to_have_url(re.compile(r"focus=" + re.escape(quote(REVENUE, safe="")) + "$"))
    expect(highlight).to_have_attribute("data-key", REVENUE)
    expect(highlight).to_have_attribute("data-upstream", "3")
    expect(highlight).to_have_attribute("data-downstream", "0")
    find.fill("nothing-like-this")
    find.press("Enter")
    expect(page.get_by_test_id("lineage").get_by_role("status")).to_have_text("No asset matches.")
    assert tab.errors == []


def lineage_events(
    assets: int, edges: int, layers: int = 10, seed: int = 7
) -> list[dict[str, Any]]:
    """One materialization per asset, `layers` layers deep, `edges` upstream links: most
    from the layer before, some from two layers before."""
    rng = random.Random(seed)
    per = assets // layers
    keys = [
        f"s3://lake/layer{layer}/table{i:03d}.parquet"
        for layer in range(layers)
        for i in range(per)
    ]
    upstream: dict[str, set[str]] = {key: set() for key in keys}
    made = 0
    while made < edges:
        layer = rng.randrange(1, layers)
        span = 2 if layer >= 2 and rng.random() < 0.2 else 1
        source = keys[(layer - span) * per + rng.randrange(per)]
        target = keys[layer * per + rng.randrange(per)]
        if source not in upstream[target]:
            upstream[target].add(source)
            made += 1
    health = ["succeeded", "succeeded", "succeeded", "failed"]
    return [
        materialized(key, None, 1, status=health[i % 4], upstream=tuple(sorted(upstream[key])))
        for i, key in enumerate(keys)
    ]


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = new_server(tmp_path_factory.mktemp("lineage-500"))
    server.start({"VIBEPIPER_SERVER_SERVICES": "false"})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_the_lineage_of_500_assets_and_2000_edges_renders(
    browser: Any, big_server: Server, record_property: Any
) -> None:
    post_events(big_server, lineage_events(500, 2000))
    with api(big_server) as client:  # the catalogue catches up with the events here
        lineage = client.get("/assets/lineage", params={"limit": 5000})
        assert lineage.status_code == 200, lineage.text
        assert len(lineage.json()["nodes"]) == 500
        assert len(lineage.json()["edges"]) == 2000
    tab = new_tab(browser, big_server)
    try:
        page = tab.open("/flows")  # the app's files are cached, as for a user
        start = time.perf_counter()
        page.goto(tab.base + "/assets?view=lineage")
        expect(page.get_by_test_id("lineage-node")).to_have_count(500, timeout=30_000)
        elapsed = time.perf_counter() - start
        graph = page.get_by_test_id("lineage-graph")
        expect(page.get_by_test_id("lineage-summary")).to_contain_text("500 assets · 2,000 edges")
        expect(page.locator("[data-testid=lineage-graph] .lineage-edges path")).to_have_count(2000)
        expect(page.locator("[data-testid=lineage-node][data-health=failing]")).to_have_count(125)
        expect(graph).to_have_attribute("data-drawn-ms", re.compile(r"^\d+$"))
        drawn = int(graph.get_attribute("data-drawn-ms") or 0) / 1000
        record_property("lineage_500_render_s", round(elapsed, 3))
        record_property("lineage_500_drawn_s", drawn)
        record_property("lineage_500_layout_ms", graph.get_attribute("data-layout-ms"))
        print(
            f"lineage 500/2000: all nodes found in {elapsed:.2f} s, drawn {drawn:.2f} s "
            "after navigation, layout "
            f"{graph.get_attribute('data-layout-ms')} ms ({graph.get_attribute('data-engine')})"
        )
        # still usable: a hover highlights, a click opens the asset
        node = page.locator(
            "[data-testid=lineage-node][data-key='s3://lake/layer5/table010.parquet']"
        )
        node.hover(force=True)
        expect(page.get_by_test_id("lineage-highlight")).to_be_visible()
        node.click(force=True)
        expect(page.get_by_test_id("asset-name")).to_have_text("s3://lake/layer5/table010.parquet")
        assert tab.errors == []
    finally:
        tab.page.context.close()

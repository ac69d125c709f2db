"""The artifact views in a real Chromium against a real server: a run's Artifacts tab
renders each type (markdown, a sortable table, a link, a live progress bar, HTML in an
empty sandbox, a stored image and file, JSON for other types) and runs none of the HTML
or script a user put in them; `/artifacts` lists the latest version of each key and a
key's page its versions; with an API key, stored images and files are fetched with it."""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server, new_server
from tests.ui.conftest import Tab, api, new_tab
from tests.ui.test_page_security import violations, watch

pytestmark = pytest.mark.slow

PWNED_MARKDOWN = "<script>window.__pwned=1</script>"
PWNED_CELL = '<img src=x onerror="window.__pwned=2">'
# a sandboxed frame's blocked script is reported on the console; nothing else may be
SANDBOX_NOTICE = "Blocked script execution in 'about:srcdoc'"
CSV = b"region,total\neu,12\nus,30\n"


def png(width: int, height: int) -> bytes:
    """A valid PNG of red pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def new_run(server: Server, flow_name: str) -> str:
    """A running flow run (its page polls every second), made through the API."""
    with api(server) as client:
        flow = client.post("/flows/", json={"name": flow_name})
        assert flow.is_success, flow.text
        run = client.post(
            "/flow_runs/", json={"flow_id": flow.json()["id"], "state": {"type": "RUNNING"}}
        )
        assert run.status_code == 201, run.text
        run_id: str = run.json()["id"]
        return run_id


def create(server: Server, **body: Any) -> dict[str, Any]:
    with api(server) as client:
        created = client.post("/artifacts/", json=body)
        assert created.status_code == 201, created.text
        made: dict[str, Any] = created.json()
        return made


def stored(storage: Path, name: str, content: bytes, content_type: str) -> dict[str, str]:
    """The metadata of a file the SDK stored under `storage`."""
    target = storage / "artifacts" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return {
        "storage": str(storage),
        "storage_key": f"artifacts/{name}",
        "filename": name,
        "content_type": content_type,
        "size": str(len(content)),
    }


def at(second: int) -> str:
    """A creation time: the artifacts' order is fixed, not left to the clock."""
    return f"2025-01-01T00:00:{second:02d}Z"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifact-storage")


@pytest.fixture(scope="module")
def published(ui_server: Server, storage: Path) -> dict[str, Any]:
    """A run that published one artifact of each type, oldest first."""
    run = new_run(ui_server, "ui-artifacts")
    made: dict[str, Any] = {"run": run}
    bodies: list[tuple[str, dict[str, Any]]] = [
        (
            "markdown",
            {
                "type": "markdown",
                "key": "ui-quarterly",
                "description": "The *quarterly* numbers",
                "data": f"# Quarterly report\n\nSales were **up**.\n\n{PWNED_MARKDOWN}\n\n"
                "Inline <b>bold</b> stays text.",
            },
        ),
        (
            "table",
            {
                "type": "table",
                "data": json.dumps(  # JSON text, as the SDK records a table
                    [
                        {"region": "eu", "total": 12},
                        {"region": "us", "total": 3},
                        {"region": PWNED_CELL, "total": 100},
                    ]
                ),
            },
        ),
        ("link", {"type": "link", "data": "[Runbook](https://example.com/runbook)"}),
        ("progress", {"type": "progress", "data": 30.0}),
        (
            "html",
            {
                "type": "html",
                "data": '<h1>Rich report</h1><p id="flag">static</p>'
                "<script>document.getElementById('flag').textContent = 'script ran';"
                "parent.__pwned = 3</script>",
            },
        ),
        (
            "file",
            {"type": "file", "metadata_": stored(storage, "totals.csv", CSV, "text/csv")},
        ),
        (
            "image",
            {"type": "image", "metadata_": stored(storage, "chart.png", png(4, 3), "image/png")},
        ),
        ("image-url", {"type": "image", "data": "https://example.com/chart.png"}),
        ("custom", {"type": "custom", "data": {"rows": 3, "note": "<i>kept as text</i>"}}),
    ]
    for second, (name, body) in enumerate(bodies):
        made[name] = create(ui_server, flow_run_id=run, created=at(second), **body)
    return made


def open_artifacts_tab(tab: Tab, run: str) -> Any:
    page = tab.open(f"/runs/{run}")
    page.get_by_role("tab", name=re.compile(r"^Artifacts")).click()
    expect(page).to_have_url(re.compile(r"\?tab=artifacts$"))
    return page


def test_the_run_tab_renders_each_type_newest_first(tab: Tab, published: dict[str, Any]) -> None:
    console = watch(tab)
    page = open_artifacts_tab(tab, published["run"])
    expect(page.get_by_role("tab", name="Artifacts (9)")).to_have_attribute("aria-selected", "true")
    cards = page.get_by_test_id("run-artifacts").get_by_test_id("artifact")
    expect(cards).to_have_count(9)
    ids = cards.evaluate_all("cards => cards.map(card => card.dataset.artifactId)")
    newest_first = ["custom", "image-url", "image", "file", "html", "progress", "link", "table"]
    assert ids == [published[name]["id"] for name in [*newest_first, "markdown"]]

    markdown = page.locator("[data-artifact-type=markdown]")
    expect(markdown.locator("h1")).to_have_text("Quarterly report")
    expect(markdown.locator("strong")).to_have_text("up")
    expect(markdown.locator("em")).to_have_text("quarterly")  # the description
    expect(markdown.get_by_role("link", name="ui-quarterly")).to_have_attribute(
        "href", "/artifacts/key/ui-quarterly"
    )

    link = page.locator("[data-artifact-type=link]").get_by_role("link", name="Runbook")
    expect(link).to_have_attribute("href", "https://example.com/runbook")
    expect(link).to_have_attribute("target", "_blank")

    progress = page.locator("[data-artifact-type=progress]")
    expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "30")
    expect(progress.get_by_test_id("progress-value")).to_have_text("30%")

    html = page.locator("[data-artifact-type=html] iframe")
    expect(html).to_have_attribute("sandbox", "")
    frame = page.frame_locator("[data-artifact-type=html] iframe")
    expect(frame.locator("h1")).to_have_text("Rich report")
    expect(frame.locator("#flag")).to_have_text("static")

    download = page.locator("[data-artifact-type=file]").get_by_test_id("artifact-download")
    expect(download).to_have_attribute("href", f"/api/artifacts/{published['file']['id']}/content")
    expect(download).to_contain_text("totals.csv")
    expect(page.locator("[data-artifact-type=file]")).to_contain_text(f"{len(CSV)} B")
    with page.expect_download() as saving:
        download.click()
    saved = saving.value
    assert saved.suggested_filename == "totals.csv"
    assert Path(saved.path()).read_bytes() == CSV

    image = page.locator(f"[data-artifact-id='{published['image']['id']}'] img")
    expect(image).to_have_attribute("src", f"/api/artifacts/{published['image']['id']}/content")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 4", arg=image.element_handle()
    )

    # an image on another site is linked, not loaded: the page's policy would block it
    elsewhere = page.locator(f"[data-artifact-id='{published['image-url']['id']}']")
    expect(elsewhere.get_by_role("link", name="https://example.com/chart.png")).to_be_visible()
    assert elsewhere.locator("img").count() == 0

    expect(page.locator("[data-artifact-type=custom] pre")).to_contain_text('"rows": 3')
    expect(page.locator("[data-artifact-type=custom] pre")).to_contain_text("<i>kept as text</i>")
    tab.screenshot("run-artifacts")
    assert violations(tab) == [] and tab.errors == []
    assert [message for message in console if SANDBOX_NOTICE not in message] == []


def test_html_and_scripts_a_user_wrote_do_not_run(tab: Tab, published: dict[str, Any]) -> None:
    page = open_artifacts_tab(tab, published["run"])
    markdown = page.locator("[data-artifact-type=markdown]")
    expect(markdown.locator("code", has_text=PWNED_MARKDOWN)).to_be_visible()
    expect(markdown.locator("code", has_text="<b>")).to_have_count(1)
    assert markdown.locator("script, b").count() == 0
    table = page.locator("[data-artifact-type=table] table")
    expect(table.locator("td", has_text=PWNED_CELL)).to_have_count(1)
    assert table.locator("img").count() == 0
    expect(page.frame_locator("[data-artifact-type=html] iframe").locator("h1")).to_be_visible()
    page.wait_for_timeout(300)  # an onerror or a late script would have run by now
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_a_table_sorts_on_a_header_click(tab: Tab, published: dict[str, Any]) -> None:
    page = open_artifacts_tab(tab, published["run"])
    table = page.locator("[data-artifact-type=table] table")
    expect(table.locator("thead th")).to_have_text(["region", "total"])

    def column(index: int) -> list[str]:
        texts: list[str] = table.locator(f"tbody tr td:nth-child({index})").all_inner_texts()
        return texts

    assert column(2) == ["12", "3", "100"]  # as published
    total = table.get_by_role("button", name="total")
    total.click()
    expect(table.locator("th").nth(1)).to_have_attribute("aria-sort", "ascending")
    assert column(2) == ["3", "12", "100"]  # numbers by value, not as text
    total.click()
    expect(table.locator("th").nth(1)).to_have_attribute("aria-sort", "descending")
    assert column(2) == ["100", "12", "3"]
    table.get_by_role("button", name="region").click()
    assert column(1) == [PWNED_CELL, "eu", "us"]


def test_a_progress_bar_follows_updates_without_a_reload(
    tab: Tab, ui_server: Server, published: dict[str, Any]
) -> None:
    page = open_artifacts_tab(tab, published["run"])
    progress = page.locator("[data-artifact-type=progress]")
    expect(progress.get_by_test_id("progress-value")).to_have_text("30%")
    page.evaluate("window.__same_page = true")
    with api(ui_server) as client:
        patched = client.patch(f"/artifacts/{published['progress']['id']}", json={"data": 80})
        assert patched.status_code == 204, patched.text
    expect(progress.get_by_test_id("progress-value")).to_have_text("80%")
    expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "80")
    assert page.evaluate("window.__same_page") is True


def test_artifacts_lists_the_latest_of_each_key_and_a_keys_versions(
    tab: Tab, ui_server: Server
) -> None:
    console = watch(tab)
    run = new_run(ui_server, "ui-sales")
    first = create(
        ui_server,
        key="ui-sales",
        type="markdown",
        data="# Sales v1",
        description="first cut",
        flow_run_id=run,
        created=at(1),
    )
    create(
        ui_server,
        key="ui-sales",
        type="markdown",
        data="## Sales v2",
        description="second cut",
        flow_run_id=run,
        created=at(2),
    )
    create(ui_server, type="markdown", data="no key: on the run page only", flow_run_id=run)
    page = tab.open("/artifacts")
    expect(page.locator("nav a.active")).to_have_text("Artifacts")
    rows = page.get_by_test_id("artifacts-table").locator("tbody tr")
    row = page.locator("tr[data-artifact-key='ui-sales']")
    expect(row).to_contain_text("second cut")
    expect(row).to_contain_text("markdown")
    expect(row.locator("a.artifact-run")).to_have_attribute("href", f"/runs/{run}")
    assert "" not in rows.evaluate_all("rows => rows.map(row => row.dataset.artifactKey)")
    expect(page.get_by_test_id("artifacts")).not_to_contain_text("no key: on the run page")
    page.get_by_label("Search artifact keys").fill("sales")
    expect(rows).to_have_count(1)
    tab.screenshot("artifacts")

    row.get_by_role("link", name="ui-sales", exact=True).click()
    expect(page).to_have_url(re.compile(r"/artifacts/key/ui-sales$"))
    expect(page.get_by_test_id("artifact-key")).to_have_text("ui-sales")
    expect(
        page.get_by_test_id("artifact-latest").locator("h2", has_text="Sales v2")
    ).to_be_visible()
    versions = page.get_by_test_id("artifact-version")
    expect(versions).to_have_count(2)
    expect(page.get_by_test_id("artifact-versions").locator("h2").first).to_have_text(
        "Versions (2)"
    )
    expect(versions.nth(0)).to_contain_text("latest")
    expect(versions.nth(1)).to_contain_text("first cut")
    older = page.locator(f"tr[data-artifact-id='{first['id']}']")
    older.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("artifact-version-body").locator("h1")).to_have_text("Sales v1")
    older.get_by_role("button", name="Hide").click()
    expect(page.get_by_test_id("artifact-version-body")).to_have_count(0)
    tab.screenshot("artifact-key")

    # the run's tab lists all three, the keyless one too
    page.goto(tab.base + f"/runs/{run}?tab=artifacts")
    expect(page.get_by_test_id("run-artifacts").get_by_test_id("artifact")).to_have_count(3)

    # delete asks first, then removes every version
    page.goto(tab.base + "/artifacts/key/ui-sales")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(re.compile(r"/artifacts$"))
    expect(page.locator("tr[data-artifact-key='ui-sales']")).to_have_count(0)
    with api(ui_server) as client:
        gone = client.get("/artifacts/key/ui-sales/versions")
        assert gone.status_code == 404 or gone.json() == [], gone.text
    assert violations(tab) == [] and console == [] and tab.errors == []
    page.goto(tab.base + "/artifacts/key/ui-sales")
    expect(page.get_by_text("No artifact has the key ui-sales.")).to_be_visible()
    assert [message for message in console if "404 (Not Found)" not in message] == []


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = new_server(tmp_path_factory.mktemp("keyed-artifacts"))
    server.start(
        {
            "VIBEPIPER_SERVER_API_KEY": "s3cret",
            "VIBEPIPER_SERVER_SERVICES": "false",
            "VIBEPIPER_SERVER_READABLE_STORAGE": str(tmp_path_factory.getbasetemp()),
        }
    )
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def test_with_an_api_key_stored_images_and_files_are_fetched_with_it(
    browser: Any, keyed_server: Server, storage: Path
) -> None:
    headers = {"Authorization": "Bearer s3cret"}
    with api(keyed_server) as client:
        client.headers.update(headers)
        flow = client.post("/flows/", json={"name": "ui-keyed-artifacts"}).json()
        run = client.post("/flow_runs/", json={"flow_id": flow["id"]}).json()["id"]
        made = {}
        for name, meta in (
            ("image", stored(storage, "keyed.png", png(5, 2), "image/png")),
            ("file", stored(storage, "keyed.csv", CSV, "text/csv")),
        ):
            answer = client.post(
                "/artifacts/", json={"type": name, "metadata_": meta, "flow_run_id": run}
            )
            assert answer.status_code == 201, answer.text
            made[name] = answer.json()["id"]
    with api(keyed_server) as client:  # without the key: what a plain <img src> would get
        assert client.get(f"/artifacts/{made['image']}/content").status_code == 401
    tab = new_tab(browser, keyed_server)
    try:
        tab.page.add_init_script("localStorage.setItem('vibepiper.apiKey', 's3cret')")
        page = tab.open(f"/runs/{run}?tab=artifacts")
        image = page.locator("[data-artifact-type=image] img")
        expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 5", arg=image.element_handle()
        )
        with page.expect_download() as saving:
            page.get_by_test_id("artifact-download").click()
        assert saving.value.suggested_filename == "keyed.csv"
        assert Path(saving.value.path()).read_bytes() == CSV
        assert tab.errors == []
    finally:
        tab.page.context.close()

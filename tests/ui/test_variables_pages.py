"""The Variables page in a real Chromium against a real server: create (text and JSON),
the server's refusal shown as one message, edit, delete with confirmation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server
from tests.ui.conftest import Tab, api
from tests.ui.test_loading_states import API, DOWN, HeldApi
from tests.ui.test_page_security import violations, watch

pytestmark = pytest.mark.slow


def fail(route: Any) -> None:
    route.fulfill(status=500, content_type="application/json", body=f'{{"detail": "{DOWN}"}}')


def read_variable(server: Server, name: str) -> tuple[int, dict[str, Any]]:
    with api(server) as client:
        answer = client.get(f"/variables/name/{name}")
        return answer.status_code, answer.json()


def test_create_edit_and_delete_a_variable(tab: Tab, ui_server: Server) -> None:
    console = watch(tab)
    page = tab.open("/variables")
    page.get_by_role("button", name="New variable").click()
    form = page.get_by_role("form", name="Create variable")
    form.locator("#variable-name").fill("ui_region")
    form.locator("#variable-value").fill("eu-west-1")
    form.locator("#variable-tags").fill("prod, eu")
    form.get_by_role("button", name="Create").click()
    row = page.locator("tr[data-variable='ui_region']")
    expect(row).to_contain_text("eu-west-1")
    expect(row).to_contain_text("prod")
    status, body = read_variable(ui_server, "ui_region")
    assert status == 200
    assert body["value"] == "eu-west-1"
    assert sorted(body["tags"]) == ["eu", "prod"]

    # a JSON value keeps its type
    page.get_by_role("button", name="New variable").click()
    form = page.get_by_role("form", name="Create variable")
    form.locator("#variable-name").fill("ui_batch_sizes")
    form.get_by_label("Value type").select_option("json")
    form.locator("#variable-value").fill('[1, 2, {"big": 3}]')
    form.get_by_role("button", name="Create").click()
    expect(page.locator("tr[data-variable='ui_batch_sizes']")).to_contain_text('[1,2,{"big":3}]')
    assert read_variable(ui_server, "ui_batch_sizes")[1]["value"] == [1, 2, {"big": 3}]
    tab.screenshot("variables")

    # edit: the form starts from the stored value; a new value and tags are saved
    row = page.locator("tr[data-variable='ui_region']")
    row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit variable")
    expect(form.locator("#variable-value")).to_have_value("eu-west-1")
    form.locator("#variable-value").fill("eu-central-1")
    form.locator("#variable-tags").fill("prod")
    form.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("eu-central-1")
    status, body = read_variable(ui_server, "ui_region")
    assert (status, body["value"], body["tags"]) == (200, "eu-central-1", ["prod"])

    # delete asks first; "No" keeps it, "Yes, delete" removes it
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="No").click()
    assert read_variable(ui_server, "ui_region")[0] == 200
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Yes, delete").click()
    expect(page.locator("tr[data-variable='ui_region']")).to_have_count(0)
    assert read_variable(ui_server, "ui_region")[0] == 404
    assert violations(tab) == [] and console == [] and tab.errors == []


def test_server_refusals_show_as_one_message(tab: Tab, ui_server: Server) -> None:
    with api(ui_server) as client:
        assert client.post("/variables/", json={"name": "ui_taken", "value": 1}).status_code == 201
    page = tab.open("/variables")
    expect(page.locator("tr[data-variable='ui_taken']")).to_be_visible()
    page.get_by_role("button", name="New variable").click()
    form = page.get_by_role("form", name="Create variable")

    form.locator("#variable-name").fill("Bad Name")
    form.locator("#variable-value").fill("x")
    form.get_by_role("button", name="Create").click()
    error = form.get_by_test_id("form-error")
    expect(error).to_have_count(1)
    expect(error).to_have_text(
        "name: variable name 'Bad Name' must only contain lowercase letters, numbers, "
        "and underscores"
    )

    form.locator("#variable-name").fill("ui_too_big")
    form.locator("#variable-value").fill("x" * 5001)
    form.get_by_role("button", name="Create").click()
    expect(error).to_contain_text("value: a variable's value must be at most 5000 characters")

    form.locator("#variable-name").fill("ui_taken")
    form.locator("#variable-value").fill("2")
    form.get_by_role("button", name="Create").click()
    expect(error).to_contain_text("ui_taken")
    expect(error).not_to_contain_text("HTTP")

    # not JSON: refused before anything is sent
    form.get_by_label("Value type").select_option("json")
    form.locator("#variable-name").fill("ui_not_json")
    form.locator("#variable-value").fill("{oops")
    form.get_by_role("button", name="Create").click()
    expect(error).to_contain_text("The value is not valid JSON")
    assert read_variable(ui_server, "ui_not_json")[0] == 404
    assert read_variable(ui_server, "ui_taken")[1]["value"] == 1
    assert read_variable(ui_server, "ui_too_big")[0] == 404


def test_placeholders_until_the_api_answers_and_its_error_when_it_fails(
    tab: Tab, ui_server: Server
) -> None:
    with api(ui_server) as client:
        client.post("/variables/", json={"name": "ui_waited_for", "value": "v"})
    held = HeldApi(tab, API)
    page = tab.open("/variables")
    title = page.get_by_test_id("variables").locator("h2")
    expect(title).to_have_text("Variables (…)")
    expect(page.get_by_test_id("loading")).to_be_visible()
    expect(page.get_by_text("No variables yet")).to_have_count(0)
    held.release()
    expect(title).to_have_text(re.compile(r"^Variables \([1-9][\d,]*\)$"))
    expect(page.locator("tr[data-variable='ui_waited_for']")).to_be_visible()

    page.route(API, fail)
    page.goto(f"{tab.base}/variables")
    expect(page.get_by_role("alert")).to_have_text(DOWN)
    expect(title).to_have_text("Variables (—)")
    expect(page.get_by_test_id("load-failed")).to_be_visible()

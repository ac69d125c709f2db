"""The Blocks pages in a real Chromium against a real server: a Secret and a Webhook
created through the generated form, their secrets masked on the page and absent from its
HTML, edits that keep a secret nobody retyped, a user's Block subclass saved from Python
rendered with a form of its fields, delete with confirmation; and a deployment page
whose parameters and job variables hold a secret's placeholder."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import pytest
from playwright.sync_api import expect
from pydantic import SecretStr

from tests.client.conftest import Server
from tests.ui.conftest import Tab, api
from tests.ui.test_loading_states import API, DOWN, HeldApi
from tests.ui.test_page_security import violations, watch
from vibepiper.blocks.core import Block
from vibepiper.blocks.system import Secret
from vibepiper.blocks.webhook import Webhook

pytestmark = pytest.mark.slow

MASK = "********"
T = TypeVar("T")


class WarehouseConnection(Block):
    """Where the team's warehouse listens, and how to log in."""

    _block_type_slug = "ui-warehouse-connection"
    _block_schema_capabilities = ["connect"]

    host: str
    port: int = 5432
    mode: Literal["read", "write"] = "read"
    ssl: bool = True
    password: SecretStr
    schemas: list[str] = []
    token: Secret | None = None


@pytest.fixture
def python_client(
    ui_server: Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[], T]], T]]:
    """Runs a function with vibepiper's client pointed at the server, in a thread of its
    own (Playwright's sync API keeps an event loop running in the test's thread)."""
    from vibepiper.settings import reload_settings
    from vibepiper.store import reset_store

    monkeypatch.setenv("VIBEPIPER_API_URL", ui_server.url)
    reload_settings()
    reset_store()
    with ThreadPoolExecutor(1) as pool:

        def run(function: Callable[[], T]) -> T:
            return pool.submit(function).result(timeout=60)

        run(Secret.register_type_and_schema)
        run(Webhook.register_type_and_schema)
        yield run
    reset_store()


def document(server: Server, slug: str, name: str, secrets: bool = False) -> dict[str, Any]:
    with api(server) as client:
        answer = client.get(
            f"/block_types/slug/{slug}/block_documents/name/{name}",
            params={"include_secrets": secrets},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


def test_a_secret_created_in_the_form_is_never_shown(
    tab: Tab, ui_server: Server, python_client: Any
) -> None:
    page = tab.open("/blocks")
    page.locator("tr[data-block-type='secret']").get_by_role("link", name="Create").click()
    form = page.get_by_role("form", name="Create block")
    value = form.locator("#field-value")
    expect(value).to_have_attribute("type", "password")
    # a required secret left empty is caught here; a bad name by the server, in one message
    form.locator("#block-name").fill("UI Token")
    form.get_by_role("button", name="Create").click()
    expect(form.locator(".field-error")).to_have_text("Value is required")
    value.fill("tok-s3cr3t-0042")
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_test_id("form-error")).to_have_text(
        "name: must only contain lowercase letters, numbers, and dashes"
    )
    form.locator("#block-name").fill("ui-api-token")
    form.get_by_role("button", name="Create").click()

    expect(page.get_by_test_id("block-name")).to_have_text("ui-api-token")
    expect(page.locator("[data-field='value'] dd")).to_have_text(MASK)
    expect(page.get_by_test_id("code-example")).to_contain_text('Secret.load("ui-api-token")')
    assert "tok-s3cr3t-0042" not in page.content()
    assert document(ui_server, "secret", "ui-api-token", secrets=True)["data"] == {
        "value": "tok-s3cr3t-0042"
    }

    # edit: the password input starts empty, and saving it empty keeps the secret
    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit block")
    expect(form.locator("#field-value")).to_have_value("")
    assert "tok-s3cr3t-0042" not in page.content()
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("block-fields")).to_be_visible()
    assert document(ui_server, "secret", "ui-api-token", secrets=True)["data"] == {
        "value": "tok-s3cr3t-0042"
    }
    # ...and what is typed replaces it
    page.get_by_role("button", name="Edit").click()
    page.locator("#field-value").fill("tok-rotated-0043")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("block-fields")).to_be_visible()
    assert document(ui_server, "secret", "ui-api-token", secrets=True)["data"] == {
        "value": "tok-rotated-0043"
    }
    assert python_client(lambda: Secret.load("ui-api-token").get()) == "tok-rotated-0043"
    assert "tok-rotated-0043" not in page.content()
    assert tab.errors == []


def test_editing_a_webhook_keeps_the_secrets_nobody_retyped(
    tab: Tab, ui_server: Server, python_client: Any
) -> None:
    page = tab.open("/blocks/new/webhook")
    form = page.get_by_role("form", name="Create block")
    expect(form.locator("#field-url")).to_have_attribute("type", "password")
    expect(form.locator("#field-method")).to_have_value('"POST"')  # the schema's default
    form.locator("#block-name").fill("ui-hook")
    form.locator("#field-url").fill("https://hooks.example.com/T0/s3cr3t-path")
    form.locator("#field-headers").fill('{"Authorization": "Bearer hdr-s3cr3t"}')
    form.get_by_role("button", name="Create").click()
    expect(page.locator("[data-field='url'] dd")).to_have_text(MASK)
    expect(page.locator("[data-field='headers'] dd")).to_contain_text(MASK)
    expect(page.locator("[data-field='method'] dd")).to_have_text("POST")
    html = page.content()
    assert "s3cr3t-path" not in html and "hdr-s3cr3t" not in html

    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit block")
    expect(form.locator("#field-url")).to_have_value("")
    form.locator("#field-method").select_option('"PUT"')
    form.get_by_role("button", name="Save").click()
    expect(page.locator("[data-field='method'] dd")).to_have_text("PUT")
    stored = document(ui_server, "webhook", "ui-hook", secrets=True)["data"]
    assert stored["method"] == "PUT"
    assert stored["url"] == "https://hooks.example.com/T0/s3cr3t-path"
    assert stored["headers"] == {"Authorization": "Bearer hdr-s3cr3t"}
    assert "s3cr3t" not in page.content()


def test_a_python_block_subclass_gets_a_form_of_its_fields(
    tab: Tab, ui_server: Server, python_client: Any
) -> None:
    def save() -> str:
        Secret(value="nested-s3cr3t").save("ui-warehouse-token", overwrite=True)
        token = Secret.load("ui-warehouse-token")
        connection = WarehouseConnection(
            host="db.internal", password=SecretStr("pw-s3cr3t"), schemas=["raw"], token=token
        )
        connection.save("ui-warehouse", overwrite=True)
        return str(connection._block_document_id)

    document_id = python_client(save)
    console = watch(tab)
    page = tab.open("/blocks?type=ui-warehouse-connection")
    expect(page.get_by_test_id("block-type")).to_contain_text("Where the team's warehouse")
    expect(page.get_by_test_id("block-type")).to_contain_text("connect")
    rows = page.get_by_test_id("block-documents-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="ui-warehouse").click()
    expect(page).to_have_url(f"{tab.base}/blocks/document/{document_id}")
    fields = page.get_by_test_id("block-fields")
    expect(fields.locator("[data-field='host'] dd")).to_have_text("db.internal")
    expect(fields.locator("[data-field='port'] dd")).to_have_text("5432")
    expect(fields.locator("[data-field='password'] dd")).to_have_text(MASK)
    expect(fields.locator("[data-field='token'] dd")).to_contain_text("ui-warehouse-token")
    tab.screenshot("block-document")
    assert "s3cr3t" not in page.content()

    page.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit block")
    expect(form.locator("#field-host")).to_have_value("db.internal")
    expect(form.locator("#field-port")).to_have_value("5432")
    expect(form.locator("#field-mode")).to_have_value('"read"')
    expect(form.locator("#field-ssl")).to_be_checked()
    expect(form.locator("#field-password")).to_have_attribute("type", "password")
    expect(form.locator("#field-password")).to_have_value("")
    expect(form.locator("#field-schemas")).to_have_value('["raw"]')
    token_id = document(ui_server, "secret", "ui-warehouse-token")["id"]
    expect(form.locator("#field-token")).to_have_value(token_id)
    expect(form.locator("#field-token option", has_text="ui-warehouse-token")).to_have_count(1)
    tab.screenshot("block-edit-form")
    assert "s3cr3t" not in page.content()

    form.locator("#field-port").fill("6543")
    form.locator("#field-mode").select_option('"write"')
    form.locator("#field-ssl").uncheck()
    form.get_by_role("button", name="Save").click()
    expect(fields.locator("[data-field='port'] dd")).to_have_text("6543")

    loaded = python_client(lambda: WarehouseConnection.load("ui-warehouse"))
    assert (loaded.port, loaded.mode, loaded.ssl) == (6543, "write", False)
    assert loaded.password.get_secret_value() == "pw-s3cr3t"
    assert loaded.token is not None and loaded.token.get() == "nested-s3cr3t"
    stored = document(ui_server, "ui-warehouse-connection", "ui-warehouse", secrets=True)
    assert stored["block_document_references"]["token"]["block_document"]["id"] == token_id
    assert violations(tab) == [] and console == [] and tab.errors == []


def test_filter_by_type_and_delete_with_confirmation(
    tab: Tab, ui_server: Server, python_client: Any
) -> None:
    python_client(lambda: Secret(value="x").save("ui-doomed", overwrite=True))
    python_client(lambda: Webhook(url="https://example.com/h").save("ui-kept", overwrite=True))
    page = tab.open("/blocks")
    table = page.get_by_test_id("block-documents-table")
    expect(table.locator("tr[data-block='ui-kept']")).to_be_visible()
    page.get_by_label("Block type").select_option("secret")
    expect(page).to_have_url(f"{tab.base}/blocks?type=secret")
    expect(table.locator("tr[data-block='ui-doomed']")).to_be_visible()
    expect(table.locator("tr[data-block='ui-kept']")).to_have_count(0)
    tab.screenshot("blocks")

    table.get_by_role("link", name="ui-doomed").click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="No").click()
    assert document(ui_server, "secret", "ui-doomed")["name"] == "ui-doomed"
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page).to_have_url(f"{tab.base}/blocks?type=secret")
    expect(page.get_by_test_id("block-documents-table")).to_be_visible()
    expect(page.locator("tr[data-block='ui-doomed']")).to_have_count(0)
    with api(ui_server) as client:
        gone = client.get("/block_types/slug/secret/block_documents/name/ui-doomed")
        assert gone.status_code == 404

    # a document another one references cannot go: the server's reason is shown
    python_client(lambda: Secret(value="y").save("ui-held", overwrite=True))
    held = document(ui_server, "secret", "ui-held")
    with api(ui_server) as client:
        schema = document(ui_server, "ui-warehouse-connection", "ui-warehouse")
        created = client.post(
            "/block_documents/",
            json={
                "name": "ui-holder",
                "block_type_id": schema["block_type_id"],
                "block_schema_id": schema["block_schema_id"],
                "data": {
                    "host": "h",
                    "password": "p",
                    "token": {"$ref": {"block_document_id": held["id"]}},
                },
            },
        )
        assert created.status_code == 201, created.text
    page = tab.open(f"/blocks/document/{held['id']}")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert document(ui_server, "secret", "ui-held")["id"] == held["id"]


def test_a_deployment_page_shows_placeholders_never_the_secret(
    tab: Tab, ui_server: Server, python_client: Any
) -> None:
    python_client(lambda: Secret(value="dep-s3cr3t-999").save("ui-deploy-token", overwrite=True))
    placeholder = "{{ vibepiper.blocks.secret.ui-deploy-token }}"
    with api(ui_server) as client:
        created = client.post(
            "/deployments/",
            json={
                "name": "with-secret",
                "flow_name": "ui-secret-flow",
                "parameters": {"token": placeholder},
                "job_variables": {"env": {"API_TOKEN": placeholder}},
            },
        )
        assert created.status_code == 201, created.text
    page = tab.open(f"/deployments/{created.json()['id']}")
    expect(page.get_by_test_id("deployment-parameters")).to_contain_text(placeholder)
    expect(page.get_by_test_id("deployment-job-variables")).to_contain_text(placeholder)
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_role("form", name="Run deployment")).to_be_visible()
    assert "dep-s3cr3t-999" not in page.content()


def test_placeholders_until_the_api_answers_and_its_error_when_it_fails(
    tab: Tab, python_client: Any
) -> None:
    python_client(lambda: Secret(value="w").save("ui-waited-for", overwrite=True))
    held = HeldApi(tab, API)
    page = tab.open("/blocks")
    title = page.get_by_test_id("block-documents").locator("h2")
    expect(title).to_have_text("Documents (…)")
    expect(page.get_by_test_id("loading")).to_have_count(2)  # documents, types
    expect(page.get_by_text("No saved blocks")).to_have_count(0)
    held.release()
    expect(title).to_have_text(re.compile(r"^Documents \([1-9][\d,]*\)$"))
    expect(page.locator("tr[data-block='ui-waited-for']")).to_be_visible()

    def fail(route: Any) -> None:
        route.fulfill(status=500, content_type="application/json", body=f'{{"detail": "{DOWN}"}}')

    page.route(API, fail)
    page.goto(f"{tab.base}/blocks")
    expect(page.get_by_role("alert")).to_have_text(DOWN)
    expect(title).to_have_text("Documents (—)")
    expect(page.get_by_test_id("load-failed")).to_have_count(2)

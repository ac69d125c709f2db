"""The send-notification and call-webhook actions against real local servers: an HTTP
server (http.server in a thread) standing in for Slack and a webhook, and an SMTP server
(aiosmtpd), on SQLite and PostgreSQL. Block documents are saved through the REST API as
a user saves them; the run fails through the API, and its `vibepiper.flow-run.Failed`
event (as recorded) is what the action is given.

What the servers received is asserted: the run's name, state and state message, its
last log lines and dashboard link; a webhook payload rendered; and failures that say
whether trying later may help (HTTP 5xx, 429, a refused connection, an SMTP server that
is down) or not (HTTP 4xx, a refused login, a wrong block, a broken template), with no
secret in them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from typing import Any

import pytest

from tests.client.conftest import free_port
from tests.client.test_notifications_email import PASSWORD, Certificate, certificate, smtp_server
from tests.client.test_notifications_webhooks import Recorder, web
from tests.server.conftest import ApiClient, unique
from vibepiper.schemas.automation_actions import CallWebhook, SendNotification
from vibepiper.schemas.events import ReceivedEvent
from vibepiper.server.services.automation_context import ActionContext, ActionFailed
from vibepiper.server.services.automation_delivery import call_webhook, send_notification

__all__ = ["certificate", "web"]  # fixtures, imported to be found

UI = "https://vibepiper.example.com:8443/dash"
SLACK_SECRET = "T0001/B0002/very-secret-slack-path"
TOKEN = "Bearer sekrit-token-8c1e"
HOOK_PATH = "/hooks/on-failure-4f2a9c"


# --- helpers ---------------------------------------------------------------------------------
def save_block(api: ApiClient, slug: str, data: dict[str, Any]) -> uuid.UUID:
    """Save a block document of a built-in type through the REST API; its id."""
    block_type = api.get(f"/api/block_types/slug/{slug}")
    assert block_type.status_code == 200, block_type.text
    type_id = block_type.json()["id"]
    query = {"block_schemas": {"block_type_id": {"any_": [type_id]}}}
    schemas = api.post("/api/block_schemas/filter", json=query).json()
    document = {
        "name": unique(slug),
        "block_type_id": type_id,
        "block_schema_id": schemas[0]["id"],
        "data": data,
    }
    created = api.post("/api/block_documents/", json=document)
    assert created.status_code == 201, created.text
    masked = created.json()["data"]
    assert PASSWORD not in json.dumps(masked) and SLACK_SECRET not in json.dumps(masked)
    return uuid.UUID(created.json()["id"])


def failed_run(api: ApiClient, **fields: Any) -> tuple[dict[str, Any], ReceivedEvent]:
    """A flow run that logged 12 lines and failed; the run and its Failed event."""
    flow = unique("nightly-etl")
    flow_id = api.post("/api/flows/", json={"name": flow}).json()["id"]
    body = {"flow_id": flow_id, "state": {"type": "PENDING"}, **fields}
    run = api.post("/api/flow_runs/", json=body).json()
    url = f"/api/flow_runs/{run['id']}/set_state"
    assert api.post(url, json={"state": {"type": "RUNNING"}}).json()["status"] == "ACCEPT"
    start = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    lines = [
        {
            "flow_run_id": run["id"],
            "name": "vibepiper.flow_runs",
            "level": 40 if number == 12 else 20,
            "message": f"log line {number:02d}",
            "timestamp": (start + dt.timedelta(seconds=number)).isoformat(),
        }
        for number in range(1, 13)
    ]
    assert api.post("/api/logs/", json=lines).status_code == 201
    failed = {"type": "FAILED", "message": "ZeroDivisionError: division by zero in load"}
    assert api.post(url, json={"state": failed}).json()["status"] == "ACCEPT"
    spec = {
        "resource": {"id": [f"vibepiper.flow-run.{run['id']}"]},
        "event": {"name": ["vibepiper.flow-run.Failed"]},
    }
    page = api.post("/api/events/filter", json={"filter": spec}).json()
    (event,) = page["events"]
    return {**run, "flow_name": flow}, ReceivedEvent.model_validate(event)


def firing(event: ReceivedEvent | None = None, ui_base: str | None = UI) -> ActionContext:
    return ActionContext(
        automation_id=uuid.uuid4(),
        automation_name="alert-on-failure",
        firing_id=uuid.uuid4(),
        event=event,
        ui_base=ui_base,
    )


def keys(api: ApiClient) -> Any:
    """The app's key ring (loaded by the API when the first document was saved)."""
    return api.app.state.key_ring


def notify(api: ApiClient, action: SendNotification, context: ActionContext) -> dict[str, Any]:
    call = functools.partial(send_notification, api.database, action, context, keys=keys(api))
    result: dict[str, Any] = api.portal.call(call)
    return result


def hook(api: ApiClient, action: CallWebhook, context: ActionContext) -> dict[str, Any]:
    call = functools.partial(call_webhook, api.database, action, context, keys=keys(api))
    result: dict[str, Any] = api.portal.call(call)
    return result


def failure(call: Any) -> ActionFailed:
    with pytest.raises(ActionFailed) as failed:
        call()
    return failed.value


def slack_block(api: ApiClient, web: Recorder, **data: Any) -> uuid.UUID:
    return save_block(api, "slack-webhook", {"url": f"{web.url}/services/{SLACK_SECRET}", **data})


# --- Slack-style webhooks ----------------------------------------------------------------------
def test_slack_gets_the_failed_run_its_message_logs_and_link(api: ApiClient, web: Recorder) -> None:
    block = slack_block(api, web)
    run, event = failed_run(api, tags=["nightly"])
    # the run moves on after the event (an automatic retry): the message tells of Failed
    api.post(f"/api/flow_runs/{run['id']}/set_state", json={"state": {"type": "SCHEDULED"}})

    result = notify(api, SendNotification(block_document_id=block), firing(event))

    assert result == {
        "block_document_id": str(block),
        "block_type": "slack-webhook",
        "status_code": 200,
    }
    received = web.last
    assert (received.method, received.path) == ("POST", f"/services/{SLACK_SECRET}")
    assert received.headers["content-type"] == "application/json"
    text = received.json()["text"]
    assert text.startswith("*VibePiper automated notification*\n")
    assert f"Flow run {run['flow_name']}/{run['name']} entered state Failed" in text
    assert "State message: ZeroDivisionError: division by zero in load" in text
    assert f"Flow run URL: {UI}/runs/{run['id']}" in text
    last_lines = [f"INFO log line {n:02d}" for n in range(3, 12)] + ["ERROR log line 12"]
    assert text.endswith("Last log lines:\n" + "\n".join(last_lines) + "\n")
    assert "log line 02" not in text


def test_subject_body_variables_and_parameters_are_rendered(api: ApiClient, web: Recorder) -> None:
    block = slack_block(api, web, notify_type="failure")
    variable = unique("oncall").replace("-", "_")
    created = api.post("/api/variables/", json={"name": variable, "value": "alice"})
    assert created.status_code == 201, created.text
    run, event = failed_run(api, parameters={"day": "2024-05-01"}, tags=["etl", "gold"])
    action = SendNotification(
        block_document_id=block,
        subject="{{ flow_run.name }} is {{ flow_run.state.name }}",
        body=(
            "day={{ flow_run.parameters.day }} tags={{ flow_run.tags|join(',') }} "
            f"oncall={{{{ variables.{variable} }}}} by={{{{ automation.name }}}} "
            "link={{ flow_run|ui_url }} logs={{ logs|length }} flow={{ flow.name }}"
        ),
    )
    notify(api, action, firing(event))
    text = web.last.json()["text"]
    assert text == (
        f"*\u274c {run['name']} is Failed*\nday=2024-05-01 tags=etl,gold oncall=alice "
        f"by=alert-on-failure link={UI}/runs/{run['id']} logs=10 flow={run['flow_name']}"
    )


def test_an_event_about_no_run_and_no_dashboard_address(api: ApiClient, web: Recorder) -> None:
    block = slack_block(api, web)
    event = ReceivedEvent.model_validate(
        {"event": "orders.loaded", "resource": {"vibepiper.resource.id": "warehouse.orders"}}
    )
    notify(api, SendNotification(block_document_id=block), firing(event, ui_base=None))
    text = web.last.json()["text"]
    assert text.startswith("*VibePiper automated notification*\nEvent orders.loaded on ")
    assert "warehouse.orders" in text and "http" not in text


# --- email ---------------------------------------------------------------------------------------
def email_data(port: int, **data: Any) -> dict[str, Any]:
    return {
        "smtp_server": "127.0.0.1",
        "smtp_port": port,
        "smtp_type": "INSECURE",
        "username": "robot@example.com",
        "password": PASSWORD,
        "email_from": "alerts@example.com",
        "email_to": ["data@example.com"],
        "email_to_cc": ["lead@example.com"],
        **data,
    }


def test_email_gets_the_failed_run_its_message_logs_and_link(api: ApiClient) -> None:
    run, event = failed_run(api)
    with smtp_server(auth=True, auth_require_tls=False) as (mailbox, port):
        block = save_block(api, "email-notification", email_data(port))
        action = SendNotification(
            block_document_id=block, subject="[etl] {{ flow_run.name }} {{ flow_run.state.name }}"
        )
        result = notify(api, action, firing(event))
    assert result == {
        "block_document_id": str(block),
        "block_type": "email-notification",
        "recipients": ["data@example.com", "lead@example.com"],
    }
    assert mailbox.logins == ["robot@example.com"]
    ((sender, recipients, message),) = mailbox.messages
    assert (sender, recipients) == ("alerts@example.com", ["data@example.com", "lead@example.com"])
    assert (message["To"], message["Cc"]) == ("data@example.com", "lead@example.com")
    assert message["Subject"] == f"[etl] {run['name']} Failed"
    body = message.get_content().replace("\r\n", "\n")
    assert f"{run['flow_name']}/{run['name']} entered state Failed" in body
    assert "State message: ZeroDivisionError: division by zero in load" in body
    assert f"Flow run URL: {UI}/runs/{run['id']}" in body
    assert "INFO log line 03\n" in body and "ERROR log line 12\n" in body
    assert "log line 02" not in body


def test_email_over_starttls_with_a_trusted_certificate(
    api: ApiClient, certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))  # trust the self-signed CA
    tls = certificate.server_context()
    with smtp_server(tls_context=tls, require_starttls=True, auth=True) as (mailbox, port):
        block = save_block(api, "email-notification", email_data(port, smtp_type="STARTTLS"))
        action = SendNotification(block_document_id=block, subject="tls", body="over TLS")
        notify(api, action, firing())
    assert [m["Subject"] for _, _, m in mailbox.messages] == ["tls"]
    assert mailbox.logins == ["robot@example.com"]


def test_smtp_down_is_retryable_a_refused_login_is_not(api: ApiClient) -> None:
    down = save_block(api, "email-notification", email_data(free_port(), timeout=5))
    action = SendNotification(block_document_id=down, body="x")
    failed = failure(lambda: notify(api, action, firing()))
    assert failed.retryable is True
    assert "SMTP 127.0.0.1:" in failed.reason and "cannot connect" in failed.reason
    assert PASSWORD not in failed.reason

    with smtp_server(auth=True, auth_require_tls=False) as (mailbox, port):
        wrong = save_block(api, "email-notification", email_data(port, password="wrong-pass-42"))
        action = SendNotification(block_document_id=wrong, body="x")
        refused = failure(lambda: notify(api, action, firing()))
    assert refused.retryable is False
    assert "login as 'robot@example.com' refused: 535" in refused.reason
    assert "wrong-pass-42" not in refused.reason and mailbox.messages == []


# --- call-webhook ------------------------------------------------------------
PAYLOAD = (
    '{"run": "{{ flow_run.name }}", "state": "{{ flow_run.state.name }}", '
    '"message": {{ flow_run.state.message|tojson }}, "event": "{{ event.event }}"}'
)


def webhook_block(api: ApiClient, web: Recorder, **data: Any) -> uuid.UUID:
    fields = {"url": f"{web.url}{HOOK_PATH}", "method": "PUT", **data}
    return save_block(api, "webhook", {"headers": {"Authorization": TOKEN}, **fields})


def test_call_webhook_sends_the_rendered_payload(api: ApiClient, web: Recorder) -> None:
    block = webhook_block(api, web)
    run, event = failed_run(api)
    result = hook(api, CallWebhook(block_document_id=block, payload=PAYLOAD), firing(event))
    assert result == {"block_document_id": str(block), "block_type": "webhook", "status_code": 200}
    received = web.last
    assert (received.method, received.path) == ("PUT", HOOK_PATH)
    assert received.headers["authorization"] == TOKEN
    assert received.headers["content-type"] == "application/json"
    assert received.json() == {
        "run": run["name"],
        "state": "Failed",
        "message": "ZeroDivisionError: division by zero in load",
        "event": "vibepiper.flow-run.Failed",
    }
    # text that is not JSON goes as it is, with no content type made up
    text = CallWebhook(block_document_id=block, payload="{{ flow_run.name }} failed")
    hook(api, text, firing(event))
    assert web.last.body == f"{run['name']} failed".encode()
    assert "content-type" not in web.last.headers


def test_http_5xx_and_429_are_retryable_4xx_are_not(api: ApiClient, web: Recorder) -> None:
    slack = SendNotification(block_document_id=slack_block(api, web), body="x")
    webhook = CallWebhook(block_document_id=webhook_block(api, web), payload="{}")
    calls = [
        # each endpoint echoes the secrets of its request: none may show in the reason
        (lambda: notify(api, slack, firing()), f"echo {SLACK_SECRET}"),
        (lambda: hook(api, webhook, firing()), f"echo {HOOK_PATH} {TOKEN}"),
    ]
    for status, retryable in ((500, True), (503, True), (429, True), (404, False), (400, False)):
        for call, echo in calls:
            web.status, web.answer = status, echo.encode()
            failed = failure(call)
            assert failed.retryable is retryable, (status, failed.reason)
            assert f"{web.url}/\u2026 answered HTTP {status}" in failed.reason
            assert "echo" in failed.reason
            for secret in (SLACK_SECRET, "very-secret-slack-path", HOOK_PATH, TOKEN, "sekrit"):
                assert secret not in failed.reason, failed.reason


def test_an_unreachable_endpoint_is_retryable(api: ApiClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/{SLACK_SECRET}"
    block = save_block(api, "slack-webhook", {"url": url})
    failed = failure(lambda: notify(api, SendNotification(block_document_id=block), firing()))
    assert failed.retryable is True
    assert "ConnectError" in failed.reason and SLACK_SECRET not in failed.reason


def test_private_urls_refused_when_the_block_says_so(api: ApiClient, web: Recorder) -> None:
    block = slack_block(api, web, allow_private_urls=False)
    failed = failure(lambda: notify(api, SendNotification(block_document_id=block), firing()))
    assert failed.retryable is False and "private address 127.0.0.1" in failed.reason
    assert web.requests == [] and SLACK_SECRET not in failed.reason


# --- blocks and templates that cannot work ------------------------------------------------------
def test_missing_and_unsuitable_blocks_are_not_retryable(api: ApiClient, web: Recorder) -> None:
    missing = uuid.uuid4()
    failed = failure(lambda: notify(api, SendNotification(block_document_id=missing), firing()))
    assert (failed.retryable, failed.reason) == (False, f"block document {missing} does not exist")
    failed = failure(lambda: hook(api, CallWebhook(block_document_id=missing), firing()))
    assert "does not exist" in failed.reason

    webhook = webhook_block(api, web)
    failed = failure(lambda: notify(api, SendNotification(block_document_id=webhook), firing()))
    assert failed.retryable is False
    assert (
        "Webhook block 'webhook-" in failed.reason and "not a notification block" in failed.reason
    )
    slack = slack_block(api, web)
    failed = failure(lambda: hook(api, CallWebhook(block_document_id=slack), firing()))
    assert "Slack Webhook block 'slack-webhook-" in failed.reason
    assert "is not a Webhook block" in failed.reason and failed.retryable is False
    assert web.requests == []


def test_a_template_error_is_not_retryable(api: ApiClient, web: Recorder) -> None:
    block = slack_block(api, web)
    action = SendNotification(block_document_id=block, body="{{ flow_run.name | no_such_filter }}")
    failed = failure(lambda: notify(api, action, firing()))
    assert failed.retryable is False
    assert failed.reason.startswith("body: template") and "no_such_filter" in failed.reason
    payload = CallWebhook(block_document_id=webhook_block(api, web), payload="{{ 1 // 0 }}")
    failed = failure(lambda: hook(api, payload, firing()))
    assert failed.retryable is False and "ZeroDivisionError" in failed.reason
    assert web.requests == []


# --- the server's settings ------------------------------------------------------------
def test_keys_and_dashboard_address_from_the_server_settings(
    start_api: Any, web: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIBEPIPER_SERVER_UI_URL", "http://dash.example.com:4200")
    api = start_api()
    block = slack_block(api, web)
    run, event = failed_run(api)
    action = SendNotification(block_document_id=block, body="{{ flow_run|ui_url }}")
    call = functools.partial(send_notification, api.database, action, firing(event, ui_base=None))
    assert api.portal.call(call)["status_code"] == 200
    assert web.last.json()["text"] == (
        f"*VibePiper automated notification*\nhttp://dash.example.com:4200/runs/{run['id']}"
    )

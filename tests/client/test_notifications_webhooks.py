"""SlackWebhook, MicrosoftTeamsWebhook and CustomWebhookNotificationBlock against a real
HTTP server (http.server in a thread) that records every request: the payloads each
service expects, placeholders and secrets substituted, clear errors that show no secret,
private URLs refused only when asked, and the async twins."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.client.conftest import free_port
from vibepiper import flow
from vibepiper.blocks.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    NotificationError,
    SlackWebhook,
)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Recorder:
    """A local HTTP server: records requests, answers `status` with `answer`."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.answer = b"ok"
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                path, _, query = self.path.partition("?")
                recorder.requests.append(
                    Received(
                        self.command,
                        path,
                        urllib.parse.parse_qs(query),
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                self.send_response(recorder.status)
                self.send_header("content-length", str(len(recorder.answer)))
                self.end_headers()
                self.wfile.write(recorder.answer)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    @property
    def last(self) -> Received:
        return self.requests[-1]


@pytest.fixture
def web() -> Iterator[Recorder]:
    recorder = Recorder()
    thread = threading.Thread(target=recorder.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()
    thread.join(5)


def test_slack_posts_its_text_payload(web: Recorder) -> None:
    block = SlackWebhook(url=f"{web.url}/services/T0001/B0002/secretpart42")
    block.notify("Loaded 1,204 rows", subject="Nightly ETL")
    block.notify("no title")
    SlackWebhook(url=f"{web.url}/services/x", notify_type="failure").notify("broke", "ETL")
    first, second, third = web.requests
    assert (first.method, first.path) == ("POST", "/services/T0001/B0002/secretpart42")
    assert first.headers["content-type"] == "application/json"
    assert first.headers["user-agent"] == "VibePiper Notifications"
    assert first.json() == {"text": "*Nightly ETL*\nLoaded 1,204 rows"}
    assert second.json() == {"text": "no title"}
    assert third.json() == {"text": "*\u274c ETL*\nbroke"}
    assert block.notify_type == "prefect_default" and block.allow_private_urls is True


def test_teams_posts_an_adaptive_card(web: Recorder) -> None:
    MicrosoftTeamsWebhook(
        url=f"{web.url}/workflows/abc/triggers/manual/paths/invoke?sig=s1g"
    ).notify("All 12 tasks completed", subject="Run finished")
    MicrosoftTeamsWebhook(url=f"{web.url}/wf", wrap=False).notify("just a body")
    first, second = web.requests
    assert first.path == "/workflows/abc/triggers/manual/paths/invoke"
    assert first.query == {"sig": ["s1g"]}
    payload = first.json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [(b["id"], b["text"], b["wrap"]) for b in card["body"]] == [
        ("title", "Run finished", True),
        ("body", "All 12 tasks completed", True),
    ]
    body_only = second.json()["attachments"][0]["content"]["body"]
    assert [(b["id"], b["text"], b["wrap"]) for b in body_only] == [("body", "just a body", False)]
    with pytest.raises(ValueError, match="Invalid Microsoft Teams Workflow URL provided"):
        MicrosoftTeamsWebhook(url="not a url")


def test_custom_webhook_substitutes_json_headers_params_cookies_and_secrets(web: Recorder) -> None:
    block = CustomWebhookNotificationBlock(
        name="pager",
        url=web.url + "/hooks/{{channel}}",
        params={"source": "{{name}}", "key": "{{apiKey}}"},
        json_data={
            "text": "{{subject}}\n{{body}}",
            "title": "{{name}}",
            "token": "{{tokenFromSecrets}}",
            "routing": "{{routing}}",  # one whole placeholder: the value itself, not its text
            "nested": [{"who": "{{name}} on call"}],
            "count": 3,
        },
        headers={"Authorization": "Bearer {{tokenFromSecrets}}", "X-Subject": "{{subject}}"},
        cookies={"session": "{{apiKey}}"},
        secrets={
            "tokenFromSecrets": "tok-9f8e7d",
            "apiKey": "key-123456",
            "channel": "ops",
            "routing": {"team": "data", "level": 2},
        },
    )
    block.notify("disk at 91%", subject="Warning")
    block.notify("no subject")
    first, second = web.requests
    assert (first.method, first.path) == ("POST", "/hooks/ops")
    assert first.query == {"source": ["pager"], "key": ["key-123456"]}
    assert first.headers["authorization"] == "Bearer tok-9f8e7d"
    assert first.headers["x-subject"] == "Warning"
    assert first.headers["cookie"] == "session=key-123456"
    assert first.headers["user-agent"] == "VibePiper Notifications"
    assert first.json() == {
        "text": "Warning\ndisk at 91%",
        "title": "pager",
        "token": "tok-9f8e7d",
        "routing": {"team": "data", "level": 2},
        "nested": [{"who": "pager on call"}],
        "count": 3,
    }
    assert second.json()["text"] == "null\nno subject"  # Prefect's rendering of no subject


def test_custom_webhook_form_data_and_method(web: Recorder) -> None:
    CustomWebhookNotificationBlock(
        name="form-hook",
        url=f"{web.url}/form",
        method="PUT",
        form_data={"message": "{{body}}", "title": "{{subject}} ({{name}})", "pw": "{{pw}}"},
        secrets={"pw": "p@ss w0rd&more"},
        timeout=5,
    ).notify("a & b", subject="S")
    request = web.last
    assert request.method == "PUT"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(request.body.decode()) == {
        "message": ["a & b"],
        "title": ["S (form-hook)"],
        "pw": ["p@ss w0rd&more"],
    }


def test_custom_webhook_refuses_unknown_placeholders_at_construction() -> None:
    with pytest.raises(KeyError, match=r"json_data/\{\{ missing \}\}: unknown placeholder"):
        CustomWebhookNotificationBlock(
            name="x", url="http://h/", json_data={"a": {"b": "{{ missing }}"}}
        )
    with pytest.raises(KeyError, match=r"headers/.*'tok'"):
        CustomWebhookNotificationBlock(name="x", url="http://h/", headers={"A": "{{tok}}"})
    with pytest.raises(KeyError, match="url/"):
        CustomWebhookNotificationBlock(name="x", url="http://h/{{ prefect.variables.v }}")
    with pytest.raises(ValueError, match="both `Form Data` and `JSON Data` provided"):
        CustomWebhookNotificationBlock(name="x", url="http://h/", json_data={}, form_data={})
    # a secret's key makes its placeholder known
    CustomWebhookNotificationBlock(
        name="x", url="http://h/", headers={"A": "{{tok}}"}, secrets={"tok": "t0k3n"}
    )


def test_a_refused_delivery_names_the_block_and_the_code_but_no_secret(web: Recorder) -> None:
    web.status, web.answer = 500, b"internal trouble"
    block = SlackWebhook(url=f"{web.url}/services/T0001/B0002/secretpart42")
    with pytest.raises(NotificationError) as failed:
        block.notify("x")
    message = str(failed.value)
    assert message == (
        "SlackWebhook block (unsaved) could not notify: POST "
        f"{web.url}/\u2026 answered HTTP 500 Internal Server Error: internal trouble"
    )
    assert failed.value.log == message

    web.status, web.answer = 403, b"invalid_token for tok-9f8e7d at /hooks/key-123456"
    custom = CustomWebhookNotificationBlock(
        name="n",
        url=web.url + "/hooks/{{key}}",
        headers={"Authorization": "{{token}}"},
        secrets={"key": "key-123456", "token": "tok-9f8e7d"},
    )
    with pytest.raises(NotificationError) as echoed:
        custom.notify("x")
    text = str(echoed.value)
    assert "HTTP 403 Forbidden" in text
    assert "tok-9f8e7d" not in text and "key-123456" not in text
    assert "invalid_token for ******** at /hooks/********" in text

    unreachable = SlackWebhook(url=f"http://127.0.0.1:{free_port()}/services/secretpart42")
    with pytest.raises(
        NotificationError, match=r"could not notify: POST http://127\.0\.0\.1:"
    ) as gone:
        unreachable.notify("x")
    assert "ConnectError" in str(gone.value) and "secretpart42" not in str(gone.value)


def test_private_urls_allowed_by_default_refused_when_asked(web: Recorder) -> None:
    SlackWebhook(url=f"{web.url}/services/ok").notify("private is fine by default")
    strict = SlackWebhook(url=f"{web.url}/services/secretpart42", allow_private_urls=False)
    with pytest.raises(ValueError, match=r"private address 127\.0\.0\.1") as refused:
        strict.notify("x")
    assert not isinstance(refused.value, NotificationError)
    assert "secretpart42" not in str(refused.value)
    with strict.raise_on_failure(), pytest.raises(NotificationError, match="private address"):
        strict.notify("x")
    with pytest.raises(ValueError, match="private address"):
        asyncio.run(strict.anotify("x"))  # the async twin checks too
    teams = MicrosoftTeamsWebhook(url=f"{web.url}/wf", allow_private_urls=False)
    with pytest.raises(ValueError, match="private address"):
        teams.notify("x")
    assert len(web.requests) == 1  # nothing sent to a refused URL


def test_async_twins_and_dispatch(web: Recorder) -> None:
    slack = SlackWebhook(url=f"{web.url}/s")
    custom = CustomWebhookNotificationBlock(
        name="c", url=f"{web.url}/c", json_data={"m": "{{body}}"}
    )

    @flow
    async def notify_all() -> None:
        await slack.notify("dispatched in an async flow")
        await slack.anotify("twin")
        await custom.notify("custom dispatched")

    asyncio.run(notify_all())

    async def failing() -> None:
        web.status = 502
        await slack.anotify("x")

    with pytest.raises(NotificationError, match="HTTP 502 Bad Gateway"):
        asyncio.run(failing())
    assert [r.json() for r in web.requests] == [
        {"text": "dispatched in an async flow"},
        {"text": "twin"},
        {"m": "custom dispatched"},
        {"text": "x"},
    ]

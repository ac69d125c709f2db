"""Notification blocks saved and loaded back, with no server (the in-process API) and
against servers on SQLite and PostgreSQL: secret fields masked in the API's answers,
`Block.load("<slug>/<name>")` finding the class, and a loaded block delivering to a
real local HTTP server with its error naming the saved block."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from vibepiper.blocks.core import Block
from vibepiper.blocks.notifications import (
    CustomWebhookNotificationBlock,
    EmailNotification,
    MicrosoftTeamsWebhook,
    NotificationError,
    SlackWebhook,
)
from vibepiper.client import get_client


@pytest.fixture
def hook() -> Iterator[tuple[str, list[bytes]]]:
    """A local endpoint answering 200, or 500 on paths under /fail; the bodies it got."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
            self.send_response(500 if self.path.startswith("/fail") else 200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", bodies
    server.shutdown()
    server.server_close()
    thread.join(5)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_saved_and_loaded_back_secrets_masked(
    api_target: str | None, hook: tuple[str, list[bytes]]
) -> None:
    base, bodies = hook
    slack_url = f"{base}/services/T01/B02/very-secret-slack-path"
    name = _name("ops-alerts")
    SlackWebhook(url=slack_url, notify_type="warning").save(name)

    loaded = Block.load(f"slack-webhook/{name}")
    assert isinstance(loaded, SlackWebhook)
    assert loaded.url.get_secret_value() == slack_url and loaded.notify_type == "warning"
    assert SlackWebhook.load(name).url.get_secret_value() == slack_url
    loaded.notify("from a loaded block", subject="saved")
    assert bodies == [b'{"text":"*\xe2\x9a\xa0\xef\xb8\x8f saved*\\nfrom a loaded block"}']

    with get_client(sync_client=True) as client:
        masked = client.read_block_document_by_name(name, "slack-webhook", include_secrets=False)
        schema = masked.block_schema
    assert masked.data == {
        "notify_type": "warning",
        "url": "********",
        "allow_private_urls": True,
    }
    assert schema is not None and schema.capabilities == ["notify"]
    assert schema.fields["secret_fields"] == ["url"]
    if api_target is not None:  # the raw answer of the server, as a dashboard reads it
        answer = httpx.get(
            f"{api_target}/block_types/slug/slack-webhook/block_documents/name/{name}"
        )
        assert answer.status_code == 200
        assert answer.json()["data"]["url"] == "********"
        assert "very-secret-slack-path" not in answer.text

    failing = SlackWebhook(url=f"{base}/fail/very-secret-slack-path")
    failing_name = _name("failing")
    failing.save(failing_name)
    with pytest.raises(NotificationError) as failed:
        SlackWebhook.load(failing_name).notify("x")
    assert str(failed.value).startswith(f"SlackWebhook block {failing_name!r} could not notify:")
    assert "HTTP 500" in str(failed.value) and "very-secret" not in str(failed.value)


def test_every_notification_block_round_trips(api_target: str | None) -> None:
    blocks: dict[str, Block] = {
        "ms-teams-webhook": MicrosoftTeamsWebhook(url="https://example.com/wf?sig=abc", wrap=False),
        "custom-webhook": CustomWebhookNotificationBlock(
            name="pager",
            url="https://example.com/{{key}}",
            json_data={"text": "{{body}}", "token": "{{token}}"},
            headers={"X-Team": "data"},
            secrets={"key": "k-123456", "token": "t-654321"},
        ),
        "email-notification": EmailNotification(
            smtp_server="smtp.example.com",
            smtp_type="STARTTLS",
            username="robot@example.com",
            password="smtp-password-1",
            email_to=["data@example.com"],
        ),
    }
    names = {slug: _name(slug) for slug in blocks}
    for slug, block in blocks.items():
        block.save(names[slug])
    with get_client(sync_client=True) as client:
        masked = {
            slug: client.read_block_document_by_name(names[slug], slug, include_secrets=False)
            for slug in blocks
        }
    assert masked["ms-teams-webhook"].data["url"] == "********"
    assert masked["custom-webhook"].data["secrets"] == {"key": "********", "token": "********"}
    assert masked["custom-webhook"].data["url"] == "https://example.com/{{key}}"
    assert masked["email-notification"].data["password"] == "********"
    assert masked["email-notification"].data["smtp_server"] == "smtp.example.com"
    for slug, block in blocks.items():
        loaded = Block.load(f"{slug}/{names[slug]}")
        assert type(loaded) is type(block)
        assert loaded._revealed_data() == block._revealed_data()
    custom = CustomWebhookNotificationBlock.load(names["custom-webhook"])
    assert custom.secrets.get_secret_value() == {"key": "k-123456", "token": "t-654321"}

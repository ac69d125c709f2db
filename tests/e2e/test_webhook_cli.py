"""`vibepiper webhook` as real processes: created with no server (the embedded store) and
called on a real server over the same home; then against a server with an API key (the
CLI needs the key, the hook does not, a secret makes it check signatures)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import new_server

pytestmark = pytest.mark.slow

TEMPLATE = json.dumps(
    {
        "event": "shop.order.{{ body.status }}",
        "resource": {"prefect.resource.id": "shop.order.{{ body.id }}"},
        "payload": {"total": "{{ body.total }}"},
    }
)


def _cli(
    home: Path, *args: str, api_url: str | None = None, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), **extra}
    if "VIBEPIPER_API_KEY" not in extra:
        env.pop("VIBEPIPER_API_KEY", None)
    env.pop("VIBEPIPER_API_URL", None)
    if api_url is not None:
        env["VIBEPIPER_API_URL"] = api_url
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _one_line_error(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], lines


def test_webhooks_made_with_no_server_receive_on_a_server_over_the_same_home(
    tmp_path: Path,
) -> None:
    server = new_server(tmp_path)
    home = server.home
    created = json.loads(
        _ok(_cli(home, "webhook", "create", "orders", "--template", TEMPLATE, "--json"))
    )
    assert created["url"] == f"/hooks/{created['slug']}" and created["enabled"] is True
    text = _ok(_cli(home, "webhook", "inspect", "orders"))
    assert created["url"] in text and "shop.order" in text
    _one_line_error(
        _cli(home, "webhook", "create", "broken", "--template", '{"event": "x"}'),
        "template",
    )
    _one_line_error(_cli(home, "webhook", "create", "orders", "--template", TEMPLATE), "exists")
    _one_line_error(_cli(home, "webhook", "inspect", "nope"), "no webhook 'nope'")

    server.start()
    try:
        server.wait_healthy()
        base = server.url.removesuffix("/api")
        with httpx.Client(base_url=base, timeout=30) as http:
            sent = http.post(created["url"], json={"status": "paid", "id": 7, "total": 30})
            assert sent.status_code == 204, sent.text
            refused = http.post(created["url"], json={"status": "x", "id": "a\u0000"})
            assert refused.status_code == 400 and "NUL" in refused.json()["detail"]

            disabled = json.loads(_ok(_cli(home, "webhook", "disable", "orders", "--json")))
            assert disabled["enabled"] is False
            assert http.post(created["url"], json={"id": 1}).status_code == 404
            _ok(_cli(home, "webhook", "enable", created["id"]))
            rotated = json.loads(_ok(_cli(home, "webhook", "rotate", "orders", "--json")))
            assert http.post(created["url"], json={"id": 1}).status_code == 404
            again = http.post(rotated["url"], json={"status": "sent", "id": 8, "total": 5})
            assert again.status_code == 204, again.text
        listed = _ok(_cli(home, "events", "ls", "--event", "shop.order.", "--json"))
        events = json.loads(listed)
        assert [(e["event"], e["resource"]["vibepiper.resource.id"]) for e in events] == [
            ("shop.order.sent", "shop.order.8"),
            ("shop.order.paid", "shop.order.7"),
        ]
        assert events[1]["payload"] == {"total": "30"}
        # the same commands against the server
        updated = json.loads(
            _ok(
                _cli(
                    home,
                    "webhook",
                    "update",
                    "orders",
                    "--description",
                    "from the shop",
                    "--json",
                    api_url=server.url,
                )
            )
        )
        assert updated["description"] == "from the shop"
        listing = json.loads(_ok(_cli(home, "webhook", "ls", "--json", api_url=server.url)))
        assert [hook["name"] for hook in listing] == ["orders"]
        deleted = json.loads(_ok(_cli(home, "webhook", "delete", "orders", "--json")))
        assert deleted["deleted"] == "orders"
        assert _ok(_cli(home, "webhook", "ls")).strip() == "No webhooks."
    finally:
        server.stop()


def test_a_server_with_an_api_key_and_a_signed_webhook(tmp_path: Path) -> None:
    server = new_server(tmp_path)
    server.start({"VIBEPIPER_SERVER_API_KEY": "s3cret"})
    try:
        server.wait_healthy()
        home = tmp_path / "client-home"
        refused = _cli(home, "webhook", "ls", api_url=server.url)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert "VIBEPIPER_API_KEY" in refused.stderr
        keyed = {"VIBEPIPER_API_KEY": "s3cret"}
        created = json.loads(
            _ok(
                _cli(
                    home,
                    "webhook",
                    "create",
                    "signed",
                    "--template",
                    TEMPLATE,
                    "--secret",
                    "hook-secret",
                    "--json",
                    api_url=server.url,
                    **keyed,
                )
            )
        )
        assert created["secret"] == "********"
        shown = _ok(_cli(home, "webhook", "inspect", "signed", api_url=server.url, **keyed))
        assert "hook-secret" not in shown and "********" in shown
        body = json.dumps({"status": "signed", "id": 1, "total": 2}).encode()
        digest = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        base = server.url.removesuffix("/api")
        with httpx.Client(base_url=base, timeout=30) as http:
            json_type = {"Content-Type": "application/json"}
            assert http.post(created["url"], content=body, headers=json_type).status_code == 401
            signed = http.post(
                created["url"],
                content=body,
                headers={**json_type, "X-VibePiper-Signature": f"sha256={digest}"},
            )
            assert signed.status_code == 204, signed.text
        listed = _cli(
            home, "events", "ls", "--event", "shop.order.", "--json", api_url=server.url, **keyed
        )
        events = json.loads(_ok(listed))
        assert [e["event"] for e in events] == ["shop.order.signed"]
    finally:
        server.stop()

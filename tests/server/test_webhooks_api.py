"""Inbound webhooks on SQLite and PostgreSQL: /api/webhooks (create, refuse bad templates,
read, update, enable/disable, rotate, delete) and /hooks/{slug} (JSON, form and raw
bodies rendered into events, bad bodies, HMAC signatures, the API key, heavy templates)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from typing import Any

import pytest

from tests.server.conftest import ApiClient, unique

ID = "vibepiper.resource.id"

ORDERS = json.dumps(
    {
        "event": "{{ body.kind }}.received",
        "resource": {
            "prefect.resource.id": "shop.order.{{ body.order_id }}",
            "prefect.resource.name": "{{ body.customer|default('anonymous') }}",
        },
        "payload": {"total": "{{ body.total }}", "via": "{{ method }} {{ headers['x-source'] }}"},
    }
)
"""A JSON-object template: each string rendered on its own."""


def _create(api: ApiClient, template: str, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("hook"), "template": template, **fields}
    response = api.post("/api/webhooks/", json=body)
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()
    return hook


def _events(api: ApiClient, **spec: Any) -> list[dict[str, Any]]:
    response = api.post("/api/events/filter", json={"filter": spec, "limit": 50})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def _by_name(api: ApiClient, name: str) -> list[dict[str, Any]]:
    return _events(api, event={"name": [name]})


def test_create_answers_the_url_and_a_json_post_becomes_an_event(api: ApiClient) -> None:
    hook = _create(api, ORDERS, description="orders from the shop")
    slug = hook["slug"]
    assert hook["url"] == f"/hooks/{slug}" and len(slug) >= 20
    assert hook["enabled"] is True and hook["secret"] is None
    kind = unique("orders").replace("-", "_")
    body = {"kind": kind, "order_id": 7, "customer": 'Ann "the" Buyer', "total": 12.5}
    answer = api.post(hook["url"], json=body, headers={"X-Source": "shop"})
    assert answer.status_code == 204, answer.text
    event_id = answer.headers["x-vibepiper-event-id"]
    [event] = _by_name(api, f"{kind}.received")
    assert event["id"] == event_id
    assert event["resource"] == {ID: "shop.order.7", "vibepiper.resource.name": 'Ann "the" Buyer'}
    assert event["payload"] == {"total": "12.5", "via": "POST shop"}
    [related] = event["related"]
    assert related == {
        ID: f"vibepiper.webhook.{hook['id']}",
        "vibepiper.resource.role": "webhook",
        "vibepiper.resource.name": hook["name"],
    }


def test_form_and_raw_text_bodies(api: ApiClient) -> None:
    name = unique("model").replace("-", "_")
    template = (
        '{"event": "model.refreshed", "resource": {"prefect.resource.id": '
        f'"{name}.{{{{ body.model }}}}", "prefect.resource.name": '
        '"{{ body.friendly_name|default(body.model) }}"}}'
    )
    hook = _create(api, template)
    form = api.post(hook["url"], data={"model": "recs", "friendly_name": "Recs [Products]"})
    assert form.status_code == 204, form.text
    [event] = _events(api, resource={"id": [f"{name}.recs"]})
    assert event["resource"]["vibepiper.resource.name"] == "Recs [Products]"
    # no payload in the template: the request itself (Prefect Cloud's default)
    assert event["payload"]["method"] == "POST"
    assert event["payload"]["body"] == {"model": "recs", "friendly_name": "Recs [Products]"}
    assert "authorization" not in event["payload"]["headers"]

    raw_name = unique("raw")
    raw = _create(
        api,
        '{"event": "' + raw_name + '", "resource": {"vibepiper.resource.id": "log.line"}, '
        '"payload": {"line": {{ raw_body|tojson }}, "words": {{ body.split()|length }}}}',
    )
    text = api.post(raw["url"], content=b"disk almost full", headers={"Content-Type": "text/plain"})
    assert text.status_code == 204, text.text
    [event] = _by_name(api, raw_name)
    assert event["payload"] == {"line": "disk almost full", "words": 3}


def test_pass_through_template_and_methods_without_a_body(api: ApiClient) -> None:
    name = unique("direct")
    hook = _create(api, "{{ body|tojson }}")
    sent = {"event": name, "resource": {"prefect.resource.id": "r.1"}, "payload": {"n": 1}}
    assert api.post(hook["url"], json=sent).status_code == 204
    [event] = _by_name(api, name)
    assert event["resource"] == {ID: "r.1"} and event["payload"] == {"n": 1}

    static = unique("static")
    fixed = _create(api, '{"event": "' + static + '", "resource": {"vibepiper.resource.id": "s"}}')
    for method in ("GET", "DELETE", "PUT", "PATCH", "HEAD"):
        answer = api.request(method, fixed["url"] + "?day=monday")
        assert answer.status_code == 204, (method, answer.text)
    methods = sorted(event["payload"]["method"] for event in _by_name(api, static))
    assert methods == ["DELETE", "GET", "HEAD", "PATCH", "PUT"]


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ body.event", "not a valid Jinja template"),
        ("{% for x in body %}", "not a valid Jinja template"),
        ('{"event": "x"}', "resource"),
        ('{"event": "x", "resource": {"vibepiper.resource.id": ""}}', "non-empty"),
        ("hello {{ body }}", "not JSON"),
        ('["a list"]', "not an object"),
        ("{{ ''.__class__.__mro__ }}", "not JSON"),
        ("{{ 'x' * 100000000 }}", "at most"),
    ],
)
def test_a_template_that_cannot_make_an_event_is_refused(
    api: ApiClient, template: str, says: str
) -> None:
    name = unique("bad")
    response = api.post("/api/webhooks/", json={"name": name, "template": template})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["field"] == "template" and says in error["msg"], error
    assert api.get(f"/api/webhooks/name/{name}").status_code == 404


def test_a_body_the_template_cannot_render_is_400_and_records_nothing(api: ApiClient) -> None:
    prefix = unique("strict")
    template = (
        '{"event": "' + prefix + '.{{ body.kind }}", "resource": '
        '{"vibepiper.resource.id": "{{ body.id }}"}, "occurred": "{{ body.when }}"}'
    )
    hook = _create(api, template)
    missing = api.post(hook["url"], json={"kind": "a"})  # no id: an empty resource id
    assert missing.status_code == 400
    assert "vibepiper.resource.id" in missing.json()["detail"]
    bad_time = api.post(hook["url"], json={"kind": "a", "id": "x", "when": "yesterday-ish"})
    assert bad_time.status_code == 400 and "occurred" in bad_time.json()["detail"]
    nul = api.post(hook["url"], json={"kind": "a", "id": "x\u0000y", "when": "2024-01-01T00:00Z"})
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
    not_utf8 = api.post(hook["url"], content=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert not_utf8.status_code == 400
    assert _events(api, event={"prefix": [f"{prefix}."]}) == []
    good = api.post(hook["url"], json={"kind": "a", "id": "x", "when": "2024-06-01T10:00:00Z"})
    assert good.status_code == 204, good.text


def _signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_secret_makes_requests_carry_an_hmac_signature(api: ApiClient) -> None:
    name = unique("signed")
    template = '{"event": "' + name + '", "resource": {"vibepiper.resource.id": "{{ body.id }}"}}'
    hook = _create(api, template, secret="s3cret-value")
    assert hook["secret"] == "********"
    assert "s3cret-value" not in api.get(f"/api/webhooks/{hook['id']}").text
    body = json.dumps({"id": "one"}).encode()
    json_type = {"Content-Type": "application/json"}
    missing = api.post(hook["url"], content=body, headers=json_type)
    assert missing.status_code == 401 and "X-VibePiper-Signature" in missing.json()["detail"]
    wrong = api.post(
        hook["url"],
        content=body,
        headers={**json_type, "X-VibePiper-Signature": _signed("other", body)},
    )
    assert wrong.status_code == 401
    tampered = api.post(
        hook["url"],
        content=body + b" ",
        headers={**json_type, "X-VibePiper-Signature": _signed("s3cret-value", body)},
    )
    assert tampered.status_code == 401
    assert _by_name(api, name) == []
    ours = api.post(
        hook["url"],
        content=body,
        headers={**json_type, "X-VibePiper-Signature": _signed("s3cret-value", body)},
    )
    assert ours.status_code == 204, ours.text
    github = json.dumps({"id": "two"}).encode()
    signed = api.post(
        hook["url"],
        content=github,
        headers={**json_type, "X-Hub-Signature-256": _signed("s3cret-value", github)},
    )
    assert signed.status_code == 204
    assert sorted(e["resource"][ID] for e in _by_name(api, name)) == ["one", "two"]
    # the mask sent back keeps the secret; "" removes it
    kept = api.request("PATCH", f"/api/webhooks/{hook['id']}", json={"secret": "********"})
    assert kept.status_code == 200 and kept.json()["secret"] == "********"
    assert api.post(hook["url"], content=body, headers=json_type).status_code == 401
    cleared = api.request("PATCH", f"/api/webhooks/{hook['id']}", json={"secret": ""})
    assert cleared.json()["secret"] is None
    assert api.post(hook["url"], content=body, headers=json_type).status_code == 204


def test_disable_rotate_update_and_delete(api: ApiClient) -> None:
    name = unique("life")
    template = '{"event": "' + name + '", "resource": {"vibepiper.resource.id": "x"}}'
    hook = _create(api, template)
    url = f"/api/webhooks/{hook['id']}"
    assert api.post(hook["url"]).status_code == 204
    off = api.request("PATCH", url, json={"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert api.post(hook["url"]).status_code == 404
    assert api.request("PATCH", url, json={"enabled": True}).json()["enabled"] is True
    assert api.post(hook["url"]).status_code == 204

    rotated = api.post(f"{url}/rotate")
    assert rotated.status_code == 200
    assert rotated.json()["slug"] != hook["slug"]
    assert api.post(hook["url"]).status_code == 404  # the old URL is gone
    assert api.post(rotated.json()["url"]).status_code == 204
    assert len(_by_name(api, name)) == 3

    bad = api.request("PATCH", url, json={"template": '{"event": "x"}'})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "template"
    renamed = api.request("PATCH", url, json={"name": f"{name}-renamed", "description": "d"})
    assert renamed.json()["name"] == f"{name}-renamed" and renamed.json()["description"] == "d"
    other = _create(api, template)
    taken = api.request("PATCH", url, json={"name": other["name"]})
    assert taken.status_code == 409
    assert (
        api.post("/api/webhooks/", json={"name": other["name"], "template": template}).status_code
        == 409
    )
    listed = api.post("/api/webhooks/filter", json={}).json()
    assert {f"{name}-renamed", other["name"]} <= {h["name"] for h in listed}
    assert api.get(f"/api/webhooks/name/{name}-renamed").json()["id"] == hook["id"]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert api.post(rotated.json()["url"]).status_code == 404
    assert api.post(f"/hooks/{uuid.uuid4().hex}").status_code == 404


def test_a_heavy_template_is_stopped_while_the_server_answers(api: ApiClient) -> None:
    loop = (
        "{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% if i == j %}{{ '' }}{% endif %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    refused = api.post("/api/webhooks/", json={"name": unique("heavy"), "template": loop})
    assert refused.status_code == 422
    assert "took longer than" in refused.json()["detail"][0]["msg"]
    assert time.monotonic() - started < 30

    name = unique("sometimes-heavy")
    template = (
        "{% if body.heavy %}" + loop + "{% endif %}"
        '{"event": "' + name + '", "resource": {"vibepiper.resource.id": "h"}}'
    )
    hook = _create(api, template)
    answers: list[Any] = []
    heavy = threading.Thread(
        target=lambda: answers.append(api.post(hook["url"], json={"heavy": True}))
    )
    heavy.start()
    time.sleep(0.3)
    health_times = []
    while heavy.is_alive():
        begun = time.monotonic()
        assert api.get("/api/health").json() is True
        health_times.append(time.monotonic() - begun)
        time.sleep(0.1)
    heavy.join()
    [answer] = answers
    assert answer.status_code == 400 and "took longer than" in answer.json()["detail"]
    assert health_times and max(health_times) < 1.0
    assert _by_name(api, name) == []
    assert api.post(hook["url"], json={"heavy": False}).status_code == 204


def test_crud_needs_the_api_key_and_the_hook_does_not(start_api: Any) -> None:
    client = start_api(server_api_key="s3cret")
    template = '{"event": "keyed", "resource": {"vibepiper.resource.id": "{{ body.id }}"}}'
    refused = client.post("/api/webhooks/", json={"name": "keyed", "template": template})
    assert refused.status_code == 401
    assert client.post("/api/webhooks/filter", json={}).status_code == 401
    key = {"Authorization": "Bearer s3cret"}
    created = client.post(
        "/api/webhooks/", json={"name": "keyed", "template": template}, headers=key
    )
    assert created.status_code == 201
    hook = created.json()
    assert client.get(f"/api/webhooks/{hook['id']}").status_code == 401
    assert client.post(f"/api/webhooks/{hook['id']}/rotate").status_code == 401
    assert client.post(hook["url"], json={"id": "from-outside"}).status_code == 204
    found = client.post(
        "/api/events/filter", json={"filter": {"event": {"name": ["keyed"]}}}, headers=key
    )
    assert [e["resource"][ID] for e in found.json()["events"]] == ["from-outside"]


def test_a_key_rotation_keeps_the_secrets_of_webhooks(start_api: Any) -> None:
    client = start_api()
    template = '{"event": "rotated", "resource": {"vibepiper.resource.id": "{{ body.id }}"}}'
    created = client.post(
        "/api/webhooks/", json={"name": "rot", "template": template, "secret": "k1"}
    )
    hook = created.json()
    ring = client.app.state.key_ring
    old_key = ring.current_id
    rotation = client.post("/api/block_documents/rotate_key")
    assert rotation.status_code == 200, rotation.text
    assert ring.current_id != old_key and ring.key_ids == [ring.current_id]
    body = b'{"id": "after-rotation"}'
    signed = client.post(
        hook["url"],
        content=body,
        headers={"Content-Type": "application/json", "X-VibePiper-Signature": _signed("k1", body)},
    )
    assert signed.status_code == 204, signed.text


def test_cloud_events_in_structured_and_binary_mode(api: ApiClient) -> None:
    hook = _create(api, "{{ body|from_cloud_event(headers) }}")
    kind = unique("com.example.object.created")
    structured = {
        "specversion": "1.0",
        "type": kind,
        "source": "/storage/bucket",
        "id": "A234",
        "subject": "files/a.csv",
        "time": "2024-06-01T10:00:00Z",
        "data": {"size": 3},
    }
    sent = api.post(
        hook["url"],
        content=json.dumps(structured).encode(),
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert sent.status_code == 204, sent.text
    binary = api.post(
        hook["url"],
        json={"size": 4},
        headers={
            "ce-specversion": "1.0",
            "ce-type": kind,
            "ce-source": "/storage/other",
            "ce-id": "B1",
        },
    )
    assert binary.status_code == 204, binary.text
    found = _events(api, event={"name": [kind]}, occurred={"since": "2024-01-01T00:00:00Z"})
    events = sorted(found, key=lambda e: e["payload"]["data"]["size"])
    assert [e["resource"][ID] for e in events] == ["files/a.csv", "/storage/other"]
    assert events[0]["occurred"].startswith("2024-06-01T10:00:00")
    assert events[0]["payload"]["cloudevents"]["id"] == "A234"
    assert events[1]["payload"] == {
        "data": {"size": 4},
        "cloudevents": {"specversion": "1.0", "type": kind, "source": "/storage/other", "id": "B1"},
    }

"""Webhook templates, the pure part: what a template sees, the two kinds of template, the
sandbox's refusals and bounds, the time limit, and the check made when one is saved."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from vibepiper.orchestration.webhook_templates import (
    TemplateTooSlow,
    WebhookTemplateError,
    check_template,
    parse_body,
    render_event,
)

HOOK = {"id": "4b1c8a52-0000-4000-8000-000000000000", "name": "shop"}
ID = "vibepiper.resource.id"


def _request(body: str = "", content_type: str = "application/json", **extra: Any) -> Any:
    headers = [("Content-Type", content_type), *extra.pop("headers", [])]
    return {"method": "POST", "headers": headers, "raw_body": body, **extra}


def _event(template: str, request: Any) -> dict[str, Any]:
    return render_event(template, request, HOOK)


def test_the_body_is_json_a_form_or_text() -> None:
    assert parse_body('{"a": [1]}', "text/plain") == {"a": [1]}  # JSON whatever the type
    assert parse_body("a=1&b=x%20y&c=", "application/x-www-form-urlencoded; charset=utf-8") == {
        "a": "1",
        "b": "x y",
        "c": "",
    }
    assert parse_body("plain words", "text/plain") == "plain words"
    assert parse_body("  ", "application/json") == {}


def test_headers_in_any_case_without_authorization_and_the_other_variables() -> None:
    template = json.dumps(
        {
            "event": "seen",
            "resource": {ID: "r"},
            "payload": {
                "a": "{{ headers['X-Thing'] }}/{{ headers['x-thing'] }}/"
                "{{ headers.get('X-THING') }}",
                "auth": "{{ headers['authorization'] }}",
                "q": "{{ query.day }}",
                "m": "{{ request.method }} {{ method }}",
                "raw": "{{ raw_body }}",
                "hook": "{{ webhook.name }}",
                "year": "{{ now.year }}",
            },
        }
    )
    request = _request(
        '{"n": 1}',
        headers=[("x-thing", "T"), ("Authorization", "Bearer secret")],
        query={"day": "mon"},
    )
    payload = _event(template, request)["payload"]
    assert payload == {
        "a": "T/T/T",
        "auth": "",
        "q": "mon",
        "m": "POST POST",
        "raw": '{"n": 1}',
        "hook": "shop",
        "year": str(time.gmtime().tm_year),
    }


def test_a_json_object_template_keeps_quotes_inside_strings() -> None:
    template = '{"event": "x", "resource": {"vibepiper.resource.id": "{{ body.name }}"}}'
    event = _event(template, _request(json.dumps({"name": 'a "quoted", {braced} name'})))
    assert event["resource"][ID] == 'a "quoted", {braced} name'


def test_a_text_template_renders_whole_and_the_defaults_are_added() -> None:
    template = (
        '{% set kind = body.kind|default("unknown") %}'
        '{"event": "order.{{ kind }}", "resource": {"prefect.resource.id": "o.{{ body.id }}"}}'
    )
    event = _event(template, _request(json.dumps({"kind": "paid", "id": 3})))
    assert event["event"] == "order.paid" and event["resource"] == {ID: "o.3"}
    assert event["payload"]["method"] == "POST"
    assert event["payload"]["body"] == {"kind": "paid", "id": 3}
    assert event["related"] == [
        {
            ID: f"vibepiper.webhook.{HOOK['id']}",
            "vibepiper.resource.role": "webhook",
            "vibepiper.resource.name": "shop",
        }
    ]


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ body.__class__ }}", "not JSON"),  # underscore attributes read as undefined
        ("{{ body.update({'a': 1}) }}", "not allowed"),  # no mutation
        ("{{ 'x' * 1000000 }}", "at most"),
        ("{{ 2 ** 100000 }}", "exponent"),
        ("{{ range(200000)|list }}", "MAX_RANGE"),
        ("{{ [1] }}", "not an object"),
    ],
)
def test_the_sandbox_refuses(template: str, says: str) -> None:
    with pytest.raises(WebhookTemplateError, match=says):
        _event(template, _request("{}"))


def test_a_slow_template_is_stopped_at_its_time_limit() -> None:
    loop = (
        "{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% if i == j %}{{ '' }}{% endif %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateTooSlow, match=r"longer than 0\.5 s"):
        render_event(loop, _request(), HOOK, time_limit=0.5)
    assert time.monotonic() - started < 3
    with pytest.raises(TemplateTooSlow):
        check_template(loop, time_limit=0.5)


@pytest.mark.parametrize(
    "template",
    [
        '{"event": "x", "resource": {"vibepiper.resource.id": "{{ body.id }}"}}',
        "{{ body|tojson }}",
        '{"event": "{{ raw_body }}", "resource": {"vibepiper.resource.id": "t"}}',
        '{"event": "x", "resource": {"vibepiper.resource.id": "r"}, "occurred": "{{ body.at }}"}',
        "{{ body|from_cloud_event(headers) }}",
    ],
)
def test_templates_that_make_events_of_a_sample_are_accepted(template: str) -> None:
    check_template(template)


def test_an_empty_time_or_id_is_not_given() -> None:
    template = (
        '{"event": "x", "resource": {"vibepiper.resource.id": "r"}, '
        '"occurred": "{{ body.at }}", "id": "{{ body.event_id }}"}'
    )
    event = _event(template, _request("{}"))
    assert event["occurred"] and event["id"]
    given = _event(template, _request(json.dumps({"at": "2024-06-01T10:00:00+02:00"})))
    assert given["occurred"] == "2024-06-01T08:00:00Z"

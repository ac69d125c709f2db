"""Webhook templates: Jinja, in a sandbox, that turns an HTTP request into an event.

The functions here are pure (no I/O) and the server runs them in a child process
(`server.services._deadline.run_with_deadline`), never on its event loop; they take and
return plain, picklable values. `time_limit` stops a template that runs too long (a
timer signal in the child's main thread, so the child is reused); the caller's deadline
is the backstop that kills the child if even that fails (a long call in C).

What a template sees (Prefect Cloud's names, and a few more):

| name | value |
| --- | --- |
| `method` | `GET`, `POST`, ... |
| `headers` | the headers, read in any case (`headers['content-type']`); no `Authorization` |
| `body` | the body parsed: JSON, a form (a flat mapping), else the text; `{}` if empty |
| `raw_body` | the body as text |
| `query` | the URL's query parameters (a flat mapping) |
| `request` | all of the above in one mapping (`request.body`, ...) |
| `now` | the time the request arrived (UTC) |
| `webhook` | `{"id": ..., "name": ...}` of the webhook |

Two kinds of template:
- a JSON object whose strings hold Jinja (`{"event": "x.{{ body.kind }}", ...}`): each
  string is rendered on its own and stays a string, so a value holding quotes cannot
  break the JSON;
- any other text: rendered whole, and its output must be a JSON object (Prefect's
  `{{ body|tojson }}` pass-through is one).

The object is an event (`event`, `resource`, optional `related`, `payload`, `occurred`,
`id`, `follows`; one rendered empty counts as not given); the webhook is added as a
related resource (role `webhook`), and a missing `payload` is the request (method,
headers, body), as Prefect Cloud does. When a template is saved, it must make an event
of one of `SAMPLE_REQUESTS`, where a missing value reads `sample`.

Besides Jinja's filters, `from_cloud_event(headers)` reads a CloudEvent (Prefect's
`{{ body|from_cloud_event(headers) }}`).

Bounds (the sandbox is `_jinja_sandbox.BoundedSandbox`, shared with automation
actions): attributes starting with `_` and anything that changes a value are refused
(jinja2's ImmutableSandboxedEnvironment), `range` is at most 100,000 items, `*` and
`**` cannot build huge values, the output stops at the event size limit, and the
caller's deadline bounds the time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import ChainableUndefined, TemplateError
from jinja2.exceptions import SecurityError

from vibepiper.orchestration import _jinja_sandbox as sandbox
from vibepiper.schemas.events import MAX_EVENT_SIZE_BYTES, Event

__all__ = [
    "SAMPLE_REQUESTS",
    "TemplateTooSlow",
    "WebhookTemplateError",
    "check_template",
    "from_cloud_event",
    "parse_body",
    "render_event",
]

MAX_OUTPUT_CHARS = MAX_EVENT_SIZE_BYTES
HIDDEN_HEADERS = frozenset({"authorization", "cookie"})


class WebhookTemplateError(ValueError):
    """The template cannot make an event of this request; the message says why."""


class TemplateTooSlow(WebhookTemplateError):
    """The template ran past its time limit and was stopped."""


class Headers(Mapping[str, str]):
    """Request headers read in any case (`headers['Content-Type']` or `['content-type']`)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._items:  # a repeated header: its values joined, as HTTP allows
                value = f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def as_dict(self) -> dict[str, str]:
        return {key: value for key, (_, value) in self._items.items()}


class _SampleUndefined(ChainableUndefined):
    """A missing value while a template is checked: it reads `sample`, so a template
    naming fields of the body (`{{ body.id }}`) is judged on a body that has them."""

    def __str__(self) -> str:
        return "sample"


def from_cloud_event(body: Any, headers: Any) -> str:
    """The event (JSON text) of a CloudEvent, in structured mode (its attributes in a
    JSON body) or binary mode (in `ce-*` headers, the body its data), as Prefect Cloud's
    filter makes it: the name is the CloudEvent's `type`, the resource its `subject` (or
    its `source`), the payload `{"data": ..., "cloudevents": {the other attributes}}`.
    """
    attributes: dict[str, Any] = {}
    if isinstance(body, Mapping) and "specversion" in body:
        attributes = {str(key): value for key, value in body.items()}
        data = attributes.pop("data", None)
    else:
        if isinstance(headers, Mapping):
            for name in headers:
                if str(name).lower().startswith("ce-"):
                    attributes[str(name)[3:].lower()] = headers[name]
        data = body
    kind = str(attributes.get("type", ""))
    resource = str(attributes.get("subject") or attributes.get("source") or "")
    event: dict[str, Any] = {
        "event": kind,
        "resource": {"vibepiper.resource.id": resource},
        "payload": {"data": data, "cloudevents": attributes},
    }
    if attributes.get("time"):
        event["occurred"] = str(attributes["time"])
    return json.dumps(event, ensure_ascii=False, default=str)


def _environment(undefined: type[ChainableUndefined]) -> sandbox.BoundedSandbox:
    environment = sandbox.BoundedSandbox(undefined=undefined, autoescape=False)
    environment.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    environment.filters["from_cloud_event"] = from_cloud_event
    return environment


_ENVIRONMENTS: dict[bool, sandbox.BoundedSandbox] = {}


def _env(checking: bool = False) -> sandbox.BoundedSandbox:
    if checking not in _ENVIRONMENTS:
        _ENVIRONMENTS[checking] = _environment(_SampleUndefined if checking else ChainableUndefined)
    return _ENVIRONMENTS[checking]


def parse_body(raw: str, content_type: str) -> Any:
    """The body as a template sees it: JSON when it is JSON, a flat mapping for a form,
    else the text (`{}` when empty)."""
    if not raw.strip():
        return {}
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw, keep_blank_values=True))
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _context(request: Mapping[str, Any], webhook: Mapping[str, Any]) -> dict[str, Any]:
    headers = Headers(
        [(n, v) for n, v in request.get("headers", []) if n.lower() not in HIDDEN_HEADERS]
    )
    raw = str(request.get("raw_body", ""))
    body = parse_body(raw, headers.get("content-type", ""))
    received = request.get("received")
    now = received if isinstance(received, dt.datetime) else dt.datetime.now(dt.UTC)
    parts = {
        "method": str(request.get("method", "POST")).upper(),
        "headers": headers,
        "body": body,
        "raw_body": raw,
        "query": dict(request.get("query", {})),
    }
    return {**parts, "request": parts, "now": now, "webhook": dict(webhook)}


def _render_text(source: str, context: dict[str, Any], env: sandbox.BoundedSandbox) -> str:
    try:
        template = env.from_string(source)
        size = 0
        chunks: list[str] = []
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise WebhookTemplateError(
                    f"the template's output is longer than {MAX_OUTPUT_CHARS} characters"
                )
            chunks.append(chunk)
    except SecurityError as exc:
        raise WebhookTemplateError(f"the template did something not allowed: {exc}") from None
    except TemplateError as exc:
        raise WebhookTemplateError(f"the template failed: {exc}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        if isinstance(exc, WebhookTemplateError):
            raise
        raise WebhookTemplateError(f"the template failed: {type(exc).__name__}: {exc}") from None
    return "".join(chunks)


def _render_strings(value: Any, context: dict[str, Any], env: sandbox.BoundedSandbox) -> Any:
    """A JSON value with each string (keys too) rendered as a template of its own."""
    if isinstance(value, str):
        return _render_text(value, context, env) if ("{{" in value or "{%" in value) else value
    if isinstance(value, list):
        return [_render_strings(item, context, env) for item in value]
    if isinstance(value, dict):
        return {
            _render_strings(key, context, env): _render_strings(item, context, env)
            for key, item in value.items()
        }
    return value


def _json_template(source: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(source)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "event"
        return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
    return str(exc)


def render_event(
    template: str,
    request: Mapping[str, Any],
    webhook: Mapping[str, Any],
    *,
    checking: bool = False,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """The event (JSON-ready) `template` renders from `request`.

    `request`: `method`, `headers` (a list of name/value pairs), `raw_body` (text),
    `query` (a mapping), `received` (a datetime). `webhook`: its `id` and `name`.
    `checking`: a missing value reads `sample` instead of nothing (`check_template`).
    `time_limit`: seconds it may take (`TemplateTooSlow` past them).

    Raises:
        WebhookTemplateError: the template failed, rendered something that is not a JSON
            object, or an object that is not a valid event (the message says which).
    """
    with sandbox.time_limit(time_limit, TemplateTooSlow):
        return _render_event(template, request, webhook, checking)


def _render_event(
    template: str, request: Mapping[str, Any], webhook: Mapping[str, Any], checking: bool
) -> dict[str, Any]:
    context = _context(request, webhook)
    env = _env(checking)
    structured = _json_template(template)
    if structured is not None:
        data: Any = _render_strings(structured, context, env)
    else:
        output = _render_text(template, context, env)
        try:
            data = json.loads(output)
        except ValueError as exc:
            raise WebhookTemplateError(
                f"the template rendered text that is not JSON ({exc}): {_short(output)!r}"
            ) from None
    if not isinstance(data, dict):
        raise WebhookTemplateError(
            f"the template rendered {type(data).__name__} JSON, not an object (an event)"
        )
    for key in ("occurred", "id", "follows"):
        # rendered empty: not given (the defaults apply); while checking, a time or id
        # read from the body cannot be judged on the sample's text
        value = data.get(key)
        if isinstance(value, str) and (not value.strip() or (checking and "sample" in value)):
            del data[key]
    if "payload" not in data:
        data["payload"] = {
            "method": context["method"],
            "headers": context["headers"].as_dict(),
            "body": context["body"],
        }
    hook = {
        "vibepiper.resource.id": f"vibepiper.webhook.{webhook.get('id')}",
        "vibepiper.resource.role": "webhook",
        "vibepiper.resource.name": str(webhook.get("name", "")),
    }
    related = data.get("related", [])
    data["related"] = [*related, hook] if isinstance(related, list) else related
    try:
        event = Event.model_validate(data)
        text = event.model_dump_json()
        size = len(text.encode())
    except Exception as exc:  # pydantic's ValidationError, or a value JSON cannot hold
        raise WebhookTemplateError(f"not a valid event: {_first_error(exc)}") from None
    if "\\u0000" in text:  # databases store no NUL character in text or JSON
        raise WebhookTemplateError("not a valid event: it holds a NUL character")
    if size > MAX_EVENT_SIZE_BYTES:
        raise WebhookTemplateError(
            f"the event is {size} bytes, more than the maximum of {MAX_EVENT_SIZE_BYTES}"
        )
    rendered: dict[str, Any] = event.model_dump(mode="json")
    return rendered


SAMPLE_REQUESTS: tuple[dict[str, Any], ...] = (
    {
        "method": "POST",
        "headers": [("Content-Type", "application/json")],
        "raw_body": json.dumps(
            {
                "event": "sample.event",
                "resource": {"vibepiper.resource.id": "sample.resource"},
                "name": "sample",
            }
        ),
        "query": {},
    },
    {"method": "GET", "headers": [], "raw_body": "", "query": {}},
    {
        "method": "POST",
        "headers": [("Content-Type", "text/plain")],
        "raw_body": "sample text",
        "query": {},
    },
    {
        "method": "POST",
        "headers": [("Content-Type", "application/cloudevents+json")],
        "raw_body": json.dumps(
            {
                "specversion": "1.0",
                "type": "sample.cloud.event",
                "source": "/sample",
                "id": "sample",
                "data": {},
            }
        ),
        "query": {},
    },
)
"""Requests a template is tried on when it is saved: it must make an event of one."""


def check_template(template: str, time_limit: float | None = None) -> None:
    """Refuse a template that is not valid Jinja, or that makes no event of any sample
    request (`SAMPLE_REQUESTS`: a JSON body holding an event, an empty GET, a text body,
    a CloudEvent).

    Raises:
        WebhookTemplateError: saying why (the first sample's reason); `TemplateTooSlow`
            when checking took longer than `time_limit` seconds.
    """
    with sandbox.time_limit(time_limit, TemplateTooSlow):
        _check_template(template)


def _check_template(template: str) -> None:
    structured = _json_template(template)
    sources = _strings(structured) if structured is not None else [template]
    for source in sources:
        try:
            _env().parse(source)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            raise WebhookTemplateError(f"not a valid Jinja template{where}: {exc}") from None
    reasons = []
    webhook = {"id": "00000000-0000-0000-0000-000000000000", "name": "sample"}
    for sample in SAMPLE_REQUESTS:
        try:
            _render_event(template, sample, webhook, checking=True)
        except TemplateTooSlow:
            raise
        except WebhookTemplateError as exc:
            reasons.append(str(exc))
        else:
            return
    raise WebhookTemplateError(f"the template makes no event of a sample request: {reasons[0]}")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    if isinstance(value, dict):
        return [text for pair in value.items() for item in pair for text in _strings(item)]
    return []

"""Automation action templates: Jinja, in a sandbox, filled in when an action runs.

Prefect's templates work unchanged (`{{ flow_run.parameters.x }}`, `{{ event.resource.id }}`,
`{{ deployment.name }}`, `{{ variables.my_var }}`, `{{ flow_run|ui_url }}`). The functions
here are pure (no I/O): the server fetches the rows a template may name, passes them as
plain dicts (`TemplateContext`), and runs `render_action` in a child process
(`server.services._deadline.run_with_deadline`) with a time limit.

What a template sees:
- `event`: the triggering event. `event.event`, `.occurred`, `.id`, `.payload`,
  `.resource` (its labels: `.id`, `.name`, `['vibepiper.resource.name']`, where a
  `prefect.` key reads as `vibepiper.`), `.related` (each with `.role`),
  `.resource_in_role['flow']`;
- `flow_run`, `flow`, `deployment`, `work_pool`, `work_queue`, `task_run`: the objects
  the event is about (`flow_run.parameters.n`, `flow_run.state.name`); the flow run's
  state is the one its event reports, not a later one;
- `variables`: variable name -> value; `result`: the triggering run's persisted result
  when it can be read, else None;
- `automation`, `trigger`: the automation (`automation.name`, `automation.id`) and the
  trigger that fired;
- `logs`: the flow run's last log lines (text); `ui_base`: the dashboard's address,
  from which the filter `ui_url` makes an object's link (`{{ flow_run|ui_url }}`).

A name not given renders empty; reading a missing attribute gives nothing, not an
error. On a mapping a key wins over a method of the same name (a parameter named
`items` is `flow_run.parameters.items`). Iterating labels gives `(label, value)` pairs,
as Prefect's documented `{% for label, value in event.resource %}` expects.

Typed values (`render_value`, for run-deployment `parameters` and `job_variables`): a
string that is exactly one expression (`"{{ flow_run.parameters.n }}"`) is evaluated,
not rendered, so its value keeps its type (an int stays an int, a dict a dict, a missing
value is None; Prefect turned them all into text, PrefectHQ/prefect#18907). Any other
string holding Jinja renders to text. Prefect's wrappers work, spelled
`__prefect_kind` or `__vibepiper_kind`: `jinja` (`template`, as a plain string),
`json` (`value`: JSON text, or a wrapper whose value is JSON text, is parsed; without a
`value` the entry is dropped), `workspace_variable` (`variable_name`), `none`
(`value`, passed through).

Bounds: the sandbox of `_jinja_sandbox` (attributes starting with `_` are refused with
an error, not rendered empty), text output of at most `MAX_OUTPUT_CHARS`, and the
caller's time limit. A single expression cannot loop, so typed values other than text
are as large as the context they come from.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn, TypedDict
from urllib.parse import quote

from jinja2 import ChainableUndefined, Template, TemplateError, Undefined, meta, nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.utils import pass_context
from markupsafe import Markup

from vibepiper.orchestration import _jinja_sandbox as sandbox
from vibepiper.schemas.events import canonical, canonical_labels

__all__ = [
    "CONTEXT_NAMES",
    "DEFAULT_NOTIFICATION_BODY",
    "DEFAULT_NOTIFICATION_SUBJECT",
    "MAX_OUTPUT_CHARS",
    "ActionTemplateError",
    "ActionTemplateTooSlow",
    "TemplateContext",
    "check_action",
    "check_templates",
    "render_action",
    "render_text",
    "render_value",
    "ui_url",
]

MAX_OUTPUT_CHARS = 100_000
"""Longest text a template may render."""

_OBJECTS = ("flow_run", "flow", "deployment", "work_pool", "work_queue", "task_run")
CONTEXT_NAMES = frozenset(
    {"automation", "trigger", "event", *_OBJECTS, "variables", "result", "logs", "ui_base"}
)
"""The names a template may use (besides Jinja's own: `range`, `dict`, `namespace`...)."""

_KINDS = ("__vibepiper_kind", "__prefect_kind")
_TYPED_FIELDS = {"run-deployment": ("parameters", "job_variables")}
_TEXT_FIELDS = {
    "send-notification": ("subject", "body"),
    "call-webhook": ("payload",),
    "change-flow-run-state": ("message",),
}


class TemplateContext(TypedDict, total=False):
    """What the server gives a template (plain, picklable values; all optional)."""

    automation: dict[str, Any]  # its JSON: id, name, description, trigger, ...
    trigger: dict[str, Any]  # the trigger that fired; the automation's own when not given
    event: dict[str, Any]  # the triggering event's JSON (a ReceivedEvent)
    flow_run: dict[str, Any]  # each object as its API JSON; absent (or None) when unknown
    flow: dict[str, Any]
    deployment: dict[str, Any]
    work_pool: dict[str, Any]
    work_queue: dict[str, Any]
    task_run: dict[str, Any]
    variables: dict[str, Any]  # the variables a template names: name -> value
    result: Any  # the triggering run's persisted result value, when it can be read
    logs: list[str]  # the flow run's last log lines
    ui_base: str  # the dashboard's base URL (`ui_url` links are made from it)


class ActionTemplateError(ValueError):
    """A template cannot be rendered; the message names the field, the template and why."""


class ActionTemplateTooSlow(ActionTemplateError):
    """Rendering ran past its time limit and was stopped."""


# --- what a template sees ---------------------------------------------------------------
class _Labels(dict[str, str]):
    """A resource's labels: read by key (a `prefect.` key as `vibepiper.`), `.id`,
    `.name`, `.role`; iterated as `(label, value)` pairs, as Prefect's templates do."""

    def __init__(self, labels: Mapping[str, Any]) -> None:
        super().__init__(canonical_labels({str(k): str(v) for k, v in labels.items()}))

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(canonical(key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(canonical(key))

    def __iter__(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        return iter(dict.items(self))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(canonical(key), default)

    @property
    def id(self) -> str:
        return str(self.get("vibepiper.resource.id", ""))

    @property
    def name(self) -> str:
        return str(self.get("vibepiper.resource.name", ""))

    @property
    def role(self) -> str:
        return str(self.get("vibepiper.resource.role", ""))


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    resource = _Labels(event.get("resource") or {})
    related = [_Labels(item) for item in event.get("related") or []]
    in_role: dict[str, _Labels] = {}
    for item in reversed(related):  # the first of each role wins
        in_role[item.role] = item
    return {**event, "resource": resource, "related": related, "resource_in_role": in_role}


def _with_event_state(flow_run: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The flow run with the state its event reports: the run may have moved on since
    (the notification of `Failed` must not say `Scheduled` after an automatic retry)."""
    labels: _Labels = event["resource"]
    name, kind = labels.get("vibepiper.state-name"), labels.get("vibepiper.state-type")
    if labels.id != f"vibepiper.flow-run.{flow_run.get('id')}" or not (name and kind):
        return flow_run
    state = dict(flow_run.get("state") or {})
    state.update(name=name, type=kind)
    for label, key in (
        ("vibepiper.state-message", "message"),
        ("vibepiper.state-timestamp", "timestamp"),
    ):
        if label in labels:
            state[key] = labels[label]
    return {**flow_run, "state": state}


def _namespace(context: Mapping[str, Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    for name in ("automation", *_OBJECTS):
        if isinstance(context.get(name), Mapping):
            namespace[name] = dict(context[name])
    automation = namespace.get("automation", {})
    trigger = context.get("trigger") or automation.get("trigger")
    if isinstance(trigger, Mapping):
        namespace["trigger"] = dict(trigger)
    if isinstance(context.get("event"), Mapping):
        namespace["event"] = _event(context["event"])
        if "flow_run" in namespace:
            namespace["flow_run"] = _with_event_state(namespace["flow_run"], namespace["event"])
    namespace["variables"] = dict(context.get("variables") or {})
    namespace["result"] = context.get("result")
    namespace["logs"] = [str(line) for line in context.get("logs") or []]
    namespace["ui_base"] = str(context.get("ui_base") or "").rstrip("/")
    return namespace


_UI_PATHS = {
    # the dashboard's own pages (ui/src/App.tsx); a kind without a page of its own links
    # to the list it is shown in
    "flow_run": "runs/{id}",
    "task_run": "runs/{flow_run_id}",
    "deployment": "deployments/{id}",
    "flow": "runs?flow={name}",
    "work_pool": "work-pools",
    "work_queue": "work-pools",
    "event": "events/{id}",
}
_LINK_FIELDS = ("id", "name", "flow_run_id")
_RESOURCE_KINDS = {
    "vibepiper.flow-run": "flow_run",
    "vibepiper.deployment": "deployment",
    "vibepiper.work-pool": "work_pool",
    "vibepiper.work-queue": "work_queue",
}


@pass_context
def ui_url(context: Context, obj: Any) -> str:
    """The dashboard link of a flow run, deployment, flow, work pool or queue, task run
    or event of the template's context (or of a resource of the event), from the
    context's `ui_base`; empty when there is no `ui_base` or no page for `obj`."""
    base = context.get("ui_base") or ""
    kind = next((name for name in _UI_PATHS if context.get(name) is obj), None)
    fields: Mapping[str, Any] = obj if isinstance(obj, Mapping) else {}
    if isinstance(obj, _Labels):
        prefix, _, object_id = obj.id.rpartition(".")
        kind, fields = _RESOURCE_KINDS.get(prefix), {"id": object_id}
    if not base or kind is None:
        return ""
    try:
        values = {key: quote(str(fields[key]), safe="") for key in _LINK_FIELDS if key in fields}
        path = _UI_PATHS[kind].format_map(values)
    except KeyError:  # the object lacks the field its link needs
        return ""
    return f"{base}/{path}"


# --- the environment --------------------------------------------------------------------
class _Environment(sandbox.BoundedSandbox):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict) and attribute in obj:  # a key wins over a dict method
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        # jinja2 renders a refused attribute empty; a template reaching for one is refused
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is not allowed"
        )


_ENV = _Environment(undefined=ChainableUndefined, autoescape=False)
_ENV.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
_ENV.filters["ui_url"] = ui_url


@functools.lru_cache(maxsize=512)
def _template(source: str) -> Template:
    return _ENV.from_string(source)


@functools.lru_cache(maxsize=512)
def _expression(source: str) -> TemplateExpression | None:
    """The compiled expression when `source` is exactly one `{{ ... }}`, else None."""
    if not (source.startswith("{{") and source.endswith("}}")):
        return None
    body = _ENV.parse(source).body
    if len(body) != 1 or not isinstance(body[0], nodes.Output):
        return None
    parts = body[0].nodes
    if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
        return None
    inner = source[2:-2]
    inner = inner[1:] if inner[:1] in ("-", "+") else inner  # whitespace control marks
    inner = inner[:-1] if inner.endswith("-") else inner
    return _ENV.compile_expression(inner, undefined_to_none=False)


def _looks_like_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _short(text: str, limit: int = 80) -> str:
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 4] + "...'"


def _at(where: str) -> str:
    return f"{where}: " if where else ""


@contextlib.contextmanager
def _reported(where: str, source: str) -> Iterator[None]:
    """Turn what a template raises into an `ActionTemplateError` naming it."""
    head = f"{_at(where)}template {_short(source)}"
    try:
        yield
    except ActionTemplateError:
        raise
    except SecurityError as exc:
        raise ActionTemplateError(f"{head} did something not allowed: {exc}") from exc
    except TemplateSyntaxError as exc:
        raise ActionTemplateError(
            f"{head} is not valid Jinja (line {exc.lineno}): {exc.message}"
        ) from None
    except TemplateError as exc:
        raise ActionTemplateError(f"{head} failed: {exc}") from None
    except RecursionError:
        raise ActionTemplateError(f"{head} is nested too deeply") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise ActionTemplateError(f"{head} failed: {type(exc).__name__}: {exc}") from None


def _plain(value: Any) -> Any:
    """A template's value as plain data: what the sandbox wraps unwrapped, a missing
    value None, a time its ISO text, and a value of no data type (a function, say) its
    text."""
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Markup):
        return str(value)
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.date | dt.time):  # as JSON would carry it
        return value.isoformat()
    return str(value)


def _text(source: str, namespace: dict[str, Any], where: str) -> str:
    with _reported(where, source):
        size = 0
        chunks: list[str] = []
        for chunk in _template(source).generate(namespace):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise ActionTemplateError(
                    f"{_at(where)}template {_short(source)} renders more than "
                    f"{MAX_OUTPUT_CHARS} characters"
                )
            chunks.append(chunk)
        return "".join(chunks)


def _typed(source: str, namespace: dict[str, Any], where: str) -> Any:
    if not _looks_like_template(source):
        return source
    with _reported(where, source):
        expression = _expression(source)
        if expression is None:
            return _text(source, namespace, where)
        value = _plain(expression(namespace))
    if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
        raise ActionTemplateError(
            f"{_at(where)}template {_short(source)} renders more than {MAX_OUTPUT_CHARS} characters"
        )
    return value


# --- typed values and Prefect's wrappers ---------------------------------------------------
class _Dropped:
    """A `json` wrapper without a value: the entry holding it is left out (Prefect's)."""


_DROPPED = _Dropped()


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in _KINDS:
            if key in value:
                return str(value[key])
    return None


def _join(where: str, key: object) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


def _hydrate(value: Any, namespace: dict[str, Any], where: str) -> Any:
    kind = _kind(value)
    if kind is not None:
        return _wrapper(kind, value, namespace, where)
    if isinstance(value, str):
        return _typed(value, namespace, where)
    if isinstance(value, dict):
        items = ((key, _hydrate(item, namespace, _join(where, key))) for key, item in value.items())
        return {key: item for key, item in items if item is not _DROPPED}
    if isinstance(value, list):
        entries = (_hydrate(item, namespace, _join(where, i)) for i, item in enumerate(value))
        return [item for item in entries if item is not _DROPPED]
    return value


def _wrapper(kind: str, value: dict[str, Any], namespace: dict[str, Any], where: str) -> Any:
    if kind == "jinja":
        template = value.get("template")
        if isinstance(template, dict):
            template = _hydrate(template, namespace, where)
        if not isinstance(template, str):
            raise ActionTemplateError(f"{_at(where)}a jinja value needs a 'template' (text)")
        if not _looks_like_template(template):
            return template
        return _typed(template, namespace, where)
    if kind == "json":
        if "value" not in value:
            return _DROPPED
        inner = value["value"]
        if not isinstance(inner, dict):
            return _json(inner, where)
        inner = _hydrate(inner, namespace, where)
        return _json(inner, where) if isinstance(inner, str) else inner
    if kind == "workspace_variable":
        name = value.get("variable_name")
        if not isinstance(name, str):
            raise ActionTemplateError(f"{_at(where)}a workspace_variable needs a 'variable_name'")
        if name not in namespace["variables"]:
            raise ActionTemplateError(f"{_at(where)}variable {name!r} does not exist")
        return namespace["variables"][name]
    if kind == "none" and "value" in value:
        return _hydrate(value["value"], namespace, where)
    return value.get("value")


def _json(text: Any, where: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise ActionTemplateError(f"{_at(where)}not valid JSON: {exc}") from None


def render_value(template: Any, context: Mapping[str, Any]) -> Any:
    """`template` (a JSON value) with every template in it filled in from `context`.

    A string that is exactly one `{{ expression }}` becomes the expression's value, of
    its own type; other strings holding Jinja become text; Prefect's `__prefect_kind`
    wrappers (or `__vibepiper_kind`) are applied; anything else is returned as it is.

    Raises:
        ActionTemplateError: a template failed (the message says where and why).
    """
    value = _hydrate(template, _namespace(context), "")
    return None if value is _DROPPED else value


def render_text(template: str, context: Mapping[str, Any]) -> str:
    """`template` rendered to text with `context` (notification subjects and bodies,
    webhook payloads, state messages).

    Raises:
        ActionTemplateError: the template failed or rendered more than
            `MAX_OUTPUT_CHARS` characters.
    """
    if not _looks_like_template(template):
        return template
    return _text(template, _namespace(context), "")


DEFAULT_NOTIFICATION_SUBJECT = "VibePiper automated notification"
"""The subject of a notification whose action gives none."""

DEFAULT_NOTIFICATION_BODY = """\
{% if flow_run -%}
Flow run {% if flow %}{{ flow.name }}/{% endif %}{{ flow_run.name }} entered state \
{{ flow_run.state.name }}
{%- if flow_run.state.timestamp %} at {{ flow_run.state.timestamp }}{% endif %}.
{% if flow_run.state.message -%}
State message: {{ flow_run.state.message }}
{% endif -%}
{% if deployment -%}
Deployment: {{ deployment.name }}
{% endif -%}
{% if flow_run|ui_url -%}
Flow run URL: {{ flow_run|ui_url }}
{% endif -%}
{% if logs -%}
Last log lines:
{% for line in logs -%}
{{ line }}
{% endfor -%}
{% endif -%}
{% elif event -%}
Event {{ event.event }} on {{ event.resource.id }} at {{ event.occurred }}.
{% else -%}
Automation{% if automation.name %} {{ automation.name }}{% endif %} was triggered.
{% endif -%}
"""
"""The body of a notification whose action gives none: the flow run's name, state and
state message, its flow and deployment, its dashboard link and its last log lines (or
the event, when no flow run is involved)."""


def render_action(
    action_json: Mapping[str, Any], context: Mapping[str, Any], *, time_limit: float | None = None
) -> dict[str, Any]:
    """A copy of an automation action's JSON with its templated fields rendered.

    run-deployment: `parameters` and `job_variables` as `render_value` does (typed).
    send-notification: `subject` and `body` as text, the defaults when not given
    (`DEFAULT_NOTIFICATION_SUBJECT`, `DEFAULT_NOTIFICATION_BODY`). call-webhook:
    `payload` as text. change-flow-run-state: `message` as text. Other fields, and other
    actions, are copied as they are. Takes and returns plain values, for
    `run_with_deadline`; `time_limit`: seconds it may take.

    Raises:
        ActionTemplateError: a template failed; the message starts with its field.
        ActionTemplateTooSlow: past `time_limit`.
    """
    with sandbox.time_limit(time_limit, ActionTemplateTooSlow):
        return _render_action(action_json, _namespace(context))


def _render_action(action: Mapping[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    rendered = dict(action)
    kind = str(action.get("type", ""))
    if kind == "send-notification":
        if not rendered.get("body"):
            rendered["body"] = DEFAULT_NOTIFICATION_BODY
        if rendered.get("subject") is None:
            rendered["subject"] = DEFAULT_NOTIFICATION_SUBJECT
    for field in _TYPED_FIELDS.get(kind, ()):
        if rendered.get(field) is not None:
            value = _hydrate(rendered[field], namespace, field)
            rendered[field] = None if value is _DROPPED else value
    for field in _TEXT_FIELDS.get(kind, ()):
        text = rendered.get(field)
        if isinstance(text, str) and _looks_like_template(text):
            rendered[field] = _text(text, namespace, field)
    return rendered


# --- checking when saved ------------------------------------------------------------------
def check_templates(value: Any, where: str = "") -> list[str]:
    """The problems of the templates in `value` (a string or JSON value, wrappers
    included), one line each: Jinja that does not parse, a name a template cannot
    use (not in `CONTEXT_NAMES`), an attribute starting with `_`, an unknown filter,
    a `json` wrapper's text that is not JSON. `[]` when all is well. Renders nothing.

    `where`: the field `value` is, named at the start of each line.
    """
    kind = _kind(value)
    if kind is not None:
        return _check_wrapper(kind, value, where)
    if isinstance(value, str):
        return _check_source(value, where) if _looks_like_template(value) else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in check_templates(item, _join(where, key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in check_templates(item, _join(where, i))]
    return []


def check_action(action_json: Mapping[str, Any]) -> list[str]:
    """`check_templates` over the fields of an action that `render_action` renders."""
    kind = str(action_json.get("type", ""))
    fields = (*_TYPED_FIELDS.get(kind, ()), *_TEXT_FIELDS.get(kind, ()))
    return [p for field in fields for p in check_templates(action_json.get(field), field)]


def _check_wrapper(kind: str, value: dict[str, Any], where: str) -> list[str]:
    if kind == "jinja":
        template = value.get("template")
        if isinstance(template, dict):
            return check_templates(template, where)
        if not isinstance(template, str):
            return [f"{_at(where)}a jinja value needs a 'template' (text)"]
        return _check_source(template, where)
    if kind == "json" and isinstance(value.get("value"), dict):
        return check_templates(value["value"], where)
    if kind == "json" and "value" in value:
        try:
            json.loads(value["value"])
        except (ValueError, TypeError) as exc:
            return [f"{_at(where)}not valid JSON: {exc}"]
    if kind == "workspace_variable" and not isinstance(value.get("variable_name"), str):
        return [f"{_at(where)}a workspace_variable needs a 'variable_name'"]
    if kind == "none":
        return check_templates(value.get("value"), where)
    return []


def _check_source(source: str, where: str) -> list[str]:
    head = f"{_at(where)}template {_short(source)}"
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [f"{head} is not valid Jinja (line {exc.lineno}): {exc.message}"]
    except RecursionError:
        return [f"{head} is nested too deeply"]
    problems = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attribute = node.attr if isinstance(node, nodes.Getattr) else _constant(node)
        if isinstance(attribute, str) and attribute.startswith("_"):
            problems.append(f"{head} reads {attribute!r}: names starting with '_' are not allowed")
    try:
        names = meta.find_undeclared_variables(tree)  # compiles: an unknown filter fails
    except TemplateSyntaxError as exc:
        return [*problems, f"{head} is not valid Jinja (line {exc.lineno}): {exc.message}"]
    known = CONTEXT_NAMES | _ENV.globals.keys()
    for name in sorted(names - known):
        problems.append(
            f"{head} uses an unknown name {name!r} (known: {', '.join(sorted(CONTEXT_NAMES))})"
        )
    return problems


def _constant(node: nodes.Node) -> Any:
    """The key of `x['key']` when it is written as a constant."""
    key = node.arg if isinstance(node, nodes.Getitem) else None
    return key.value if isinstance(key, nodes.Const) else None

"""Automation action templates: typed values, text, Prefect's wrappers, checks, bounds."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pickle
import time
from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from vibepiper.orchestration.action_templates import (
    DEFAULT_NOTIFICATION_BODY,
    DEFAULT_NOTIFICATION_SUBJECT,
    MAX_OUTPUT_CHARS,
    ActionTemplateError,
    ActionTemplateTooSlow,
    TemplateContext,
    check_action,
    check_templates,
    render_action,
    render_text,
    render_value,
)

RUN_ID = "0193a1b2-0000-7000-8000-000000000001"
DEPLOYMENT_ID = "0193a1b2-0000-7000-8000-000000000002"
EVENT_ID = "0193a1b2-0000-7000-8000-000000000003"


def _context(**changes: Any) -> TemplateContext:
    context: TemplateContext = {
        "automation": {"id": "auto-1", "name": "on failure"},
        "event": {
            "id": EVENT_ID,
            "event": "vibepiper.flow-run.Failed",
            "occurred": "2026-01-02T03:04:05Z",
            "resource": {
                "vibepiper.resource.id": f"vibepiper.flow-run.{RUN_ID}",
                "vibepiper.resource.name": "brave-owl",
                "vibepiper.state-name": "Failed",
                "vibepiper.state-type": "FAILED",
                "vibepiper.state-message": "boom",
            },
            "related": [
                {
                    "vibepiper.resource.id": "vibepiper.flow.f-1",
                    "vibepiper.resource.role": "flow",
                    "vibepiper.resource.name": "etl",
                },
                {
                    "vibepiper.resource.id": "vibepiper.tag.nightly",
                    "vibepiper.resource.role": "tag",
                },
            ],
            "payload": {"attempt": 2},
        },
        "flow_run": {
            "id": RUN_ID,
            "name": "brave-owl",
            "tags": ["nightly"],
            # the run has moved on since the event: templates see the event's state
            "state": {"name": "AwaitingRetry", "type": "SCHEDULED", "message": ""},
            "parameters": {
                "n": 5,
                "ratio": 0.5,
                "flag": False,
                "config": {"path": "/data", "depth": [1, 2]},
                "names": ["a", "b"],
                "nothing": None,
                "items": "a parameter named items",
            },
        },
        "flow": {"id": "f-1", "name": "etl"},
        "deployment": {"id": DEPLOYMENT_ID, "name": "nightly", "parameters": {"url": "s3://x"}},
        "work_pool": {"id": "wp-1", "name": "pool"},
        "variables": {"my_var": 42, "my-list": [1, 2], "settings": {"retries": 3}},
        "result": {"rows": 10},
        "logs": ["loading", "Traceback: boom"],
        "ui_base": "http://localhost:4200/",
    }
    context.update(changes)  # type: ignore[typeddict-item]
    return context


# --- typed values -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ flow_run.parameters.n }}", 5),
        ("{{flow_run.parameters.n}}", 5),
        ("{{- flow_run.parameters.n -}}", 5),
        ("{{ flow_run.parameters.n + 1 }}", 6),
        ("{{ flow_run.parameters.ratio }}", 0.5),
        ("{{ flow_run.parameters.flag }}", False),
        ("{{ flow_run.parameters.n > 3 }}", True),
        ("{{ flow_run.parameters.config }}", {"path": "/data", "depth": [1, 2]}),
        ("{{ flow_run.parameters.names }}", ["a", "b"]),
        ("{{ flow_run.parameters.nothing }}", None),
        ("{{ flow_run.name }}", "brave-owl"),
        ("{{ '}}' }}", "}}"),
        ("{{ variables.my_var }}", 42),
        ("{{ variables['my-list'] }}", [1, 2]),
        ("{{ variables.settings.retries }}", 3),
        ("{{ result }}", {"rows": 10}),
        ("{{ result.rows }}", 10),
        ("{{ deployment.parameters }}", {"url": "s3://x"}),
        ("{{ event.payload.attempt }}", 2),
        ("{{ flow_run.parameters|tojson }}", json.dumps(_context()["flow_run"]["parameters"])),
    ],
)
def test_a_single_expression_keeps_its_type(template: str, expected: Any) -> None:
    value = render_value(template, _context())
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "template",
    [
        "{{ flow_run.parameters.missing }}",
        "{{ flow_run.parameters.missing.deeper.still }}",
        "{{ nobody }}",
        "{{ flow_run.name.no_such_attribute }}",
        "{{ work_queue.name }}",  # an object the server did not give
    ],
)
def test_a_missing_value_in_a_single_expression_is_none(template: str) -> None:
    assert render_value(template, _context()) is None


def test_values_of_other_types_become_plain_data() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    context = _context(flow_run={"id": RUN_ID, "start_time": when, "ids": (1, 2)})
    assert render_value("{{ flow_run.start_time }}", context) == "2026-01-02T03:04:05+00:00"
    assert render_value("{{ flow_run.ids }}", context) == [1, 2]
    assert render_value("{{ flow_run.ids|tojson }}", context) == "[1, 2]"
    assert isinstance(render_value("{{ lipsum }}", context), str)  # a function: its text


def test_a_missing_value_inside_a_structure_is_none() -> None:
    assert render_value("{{ [flow_run.missing, 1] }}", _context()) == [None, 1]
    assert render_value("{{ {'a': flow_run.missing} }}", _context()) == {"a": None}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("n={{ flow_run.parameters.n }}", "n=5"),
        ("{{ flow_run.parameters.n }}{{ flow_run.parameters.n }}", "55"),
        (" {{ flow_run.parameters.n }}", " 5"),
        ("{{ flow_run.parameters.n }} runs", "5 runs"),
        ("{% if flow_run.parameters.flag %}yes{% else %}no{% endif %}", "no"),
        ("{{ flow_run.parameters.config }}!", "{'path': '/data', 'depth': [1, 2]}!"),
        ("[{{ flow_run.parameters.missing }}]", "[]"),
        ("[{{ nobody.at.all }}]", "[]"),
    ],
)
def test_any_other_template_renders_to_text(template: str, expected: str) -> None:
    assert render_value(template, _context()) == expected


def test_parameters_are_walked_and_non_templates_pass_through() -> None:
    parameters = {
        "count": "{{ flow_run.parameters.n }}",
        "label": "run {{ flow_run.name }}",
        "plain": "no jinja here",
        "number": 7,
        "nested": {"list": ["{{ flow_run.parameters.ratio }}", {"deep": "{{ flow.name }}"}, None]},
        "flag": True,
    }
    original = copy.deepcopy(parameters)
    assert render_value(parameters, _context()) == {
        "count": 5,
        "label": "run brave-owl",
        "plain": "no jinja here",
        "number": 7,
        "nested": {"list": [0.5, {"deep": "etl"}, None]},
        "flag": True,
    }
    assert parameters == original
    assert render_value(3, _context()) == 3
    assert render_value(None, _context()) is None


def test_a_key_wins_over_a_method_of_the_same_name() -> None:
    context = _context()
    assert render_value("{{ flow_run.parameters.items }}", context) == "a parameter named items"
    assert render_text("{% for k, v in variables.items() %}{{ k }};{% endfor %}", context) == (
        "my_var;my-list;settings;"
    )


# --- Prefect's wrappers --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["__prefect_kind", "__vibepiper_kind"])
def test_prefects_wrappers(kind: str) -> None:
    parameters = {
        "typed": {kind: "jinja", "template": "{{ flow_run.parameters.n }}"},
        "text": {kind: "jinja", "template": "n is {{ flow_run.parameters.n }}"},
        "plain": {kind: "jinja", "template": "just text"},
        "from_json": {kind: "json", "value": '{"a": [1, 2]}'},
        "json_of_jinja": {
            kind: "json",
            "value": {kind: "jinja", "template": "{{ flow_run.parameters.config|tojson }}"},
        },
        "typed_json_of_jinja": {
            kind: "json",
            "value": {kind: "jinja", "template": "{{ flow_run.parameters.names }}"},
        },
        "dropped": {kind: "json"},
        "in_list": [{kind: "json"}, {kind: "json", "value": "3"}],
        "variable": {kind: "workspace_variable", "variable_name": "settings"},
        "passed": {kind: "none", "value": {"inner": "{{ flow.name }}"}},
    }
    assert render_value(parameters, _context()) == {
        "typed": 5,
        "text": "n is 5",
        "plain": "just text",
        "from_json": {"a": [1, 2]},
        "json_of_jinja": {"path": "/data", "depth": [1, 2]},
        "typed_json_of_jinja": ["a", "b"],
        "in_list": [3],
        "variable": {"retries": 3},
        "passed": {"inner": "etl"},
    }


def test_a_wrapper_that_cannot_be_applied_says_where() -> None:
    with pytest.raises(ActionTemplateError, match=r"^a\.b: variable 'nope' does not exist$"):
        render_value(
            {"a": {"b": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}}},
            _context(),
        )
    with pytest.raises(ActionTemplateError, match=r"^x\[1\]: not valid JSON"):
        render_value({"x": [1, {"__prefect_kind": "json", "value": "{oops"}]}, _context())
    with pytest.raises(ActionTemplateError, match="needs a 'template'"):
        render_value({"__prefect_kind": "jinja"}, _context())


# --- what a template sees -------------------------------------------------------------------
def test_the_event() -> None:
    context = _context()
    assert render_value("{{ event.resource.id }}", context) == f"vibepiper.flow-run.{RUN_ID}"
    assert render_value("{{ event.resource['vibepiper.resource.name'] }}", context) == "brave-owl"
    assert render_value("{{ event.resource['prefect.resource.name'] }}", context) == "brave-owl"
    assert render_value("{{ event.resource.name }}", context) == "brave-owl"
    assert render_value("{{ event.related[0].role }}", context) == "flow"
    assert render_value("{{ event.resource_in_role['flow'].name }}", context) == "etl"
    assert render_value("{{ event.id }}", context) == EVENT_ID
    assert render_value("{{ event.occurred }}", context) == "2026-01-02T03:04:05Z"
    listing = "{% for label, value in event.related[1] %}{{ label }}={{ value }} {% endfor %}"
    assert render_text(listing, context) == (
        "vibepiper.resource.id=vibepiper.tag.nightly vibepiper.resource.role=tag "
    )
    dumped = json.loads(render_text("{{ event|tojson }}", context))
    assert dumped["resource"]["vibepiper.resource.name"] == "brave-owl"
    # a Prefect event's labels read as ours
    prefect = _context(
        event={"event": "x", "resource": {"prefect.resource.id": "prefect.flow-run.1"}}
    )
    assert render_value("{{ event.resource.id }}", prefect) == "vibepiper.flow-run.1"


def test_the_flow_run_has_the_state_its_event_reports() -> None:
    context = _context()
    assert render_text("{{ flow_run.state.name }}/{{ flow_run.state.type }}", context) == (
        "Failed/FAILED"
    )
    assert render_value("{{ flow_run.state.message }}", context) == "boom"
    other = _context()
    other["event"]["resource"]["vibepiper.resource.id"] = "vibepiper.flow-run.another"
    assert render_value("{{ flow_run.state.name }}", other) == "AwaitingRetry"


def test_automation_trigger_result_and_tags() -> None:
    trigger = {"type": "event", "expect": ["vibepiper.flow-run.Failed"]}
    context = _context(automation={"id": "auto-1", "name": "on failure", "trigger": trigger})
    assert render_text("{{ automation.name }} ({{ automation.id }})", context) == (
        "on failure (auto-1)"
    )
    assert render_value("{{ trigger.expect }}", context) == ["vibepiper.flow-run.Failed"]
    assert render_value("{{ flow_run.tags }}", context) == ["nightly"]
    no_result = _context()
    del no_result["result"]
    assert render_value("{{ result }}", no_result) is None


def test_ui_url() -> None:
    context = _context()
    assert render_text("{{ flow_run|ui_url }}", context) == f"http://localhost:4200/runs/{RUN_ID}"
    assert render_text("{{ deployment|ui_url }}", context) == (
        f"http://localhost:4200/deployments/{DEPLOYMENT_ID}"
    )
    assert render_text("{{ flow|ui_url }}", context) == "http://localhost:4200/runs?flow=etl"
    assert render_text("{{ work_pool|ui_url }}", context) == "http://localhost:4200/work-pools"
    assert render_text("{{ event|ui_url }}", context) == f"http://localhost:4200/events/{EVENT_ID}"
    assert render_text("{{ event.resource|ui_url }}", context) == (
        f"http://localhost:4200/runs/{RUN_ID}"
    )
    assert render_text("[{{ flow_run.state|ui_url }}]", context) == "[]"
    assert render_text("[{{ flow_run|ui_url }}]", _context(ui_base="")) == "[]"


# --- the default notification ----------------------------------------------------------------
def test_the_default_notification_body() -> None:
    rendered = render_action({"type": "send-notification"}, _context())
    assert rendered["subject"] == DEFAULT_NOTIFICATION_SUBJECT
    assert rendered["body"] == (
        "Flow run etl/brave-owl entered state Failed.\n"
        "State message: boom\n"
        "Deployment: nightly\n"
        f"Flow run URL: http://localhost:4200/runs/{RUN_ID}\n"
        "Last log lines:\n"
        "loading\n"
        "Traceback: boom\n"
    )
    bare = _context(logs=[], ui_base="")
    del bare["deployment"]
    bare["event"]["resource"].pop("vibepiper.state-message")
    bare["flow_run"]["state"] = {"name": "Completed", "type": "COMPLETED", "message": ""}
    bare["event"]["resource"]["vibepiper.state-name"] = "Completed"
    assert render_action({"type": "send-notification", "body": ""}, bare)["body"] == (
        "Flow run etl/brave-owl entered state Completed.\n"
    )
    event_only: TemplateContext = {"event": _context()["event"]}
    assert render_action({"type": "send-notification", "body": None}, event_only)["body"] == (
        f"Event vibepiper.flow-run.Failed on vibepiper.flow-run.{RUN_ID} at 2026-01-02T03:04:05Z.\n"
    )
    assert check_templates(DEFAULT_NOTIFICATION_BODY) == []


# --- checking templates when saved ----------------------------------------------------------------
def test_check_templates_accepts_good_templates() -> None:
    assert check_templates("{{ flow_run.parameters.n }} in {{ deployment.name }}") == []
    assert (
        check_templates(
            {
                "a": ["{% for line in logs %}{{ loop.index }}: {{ line }}{% endfor %}"],
                "b": "{% set x = variables.my_var %}{{ x }}{{ range(3)|list }}",
                "c": {"__prefect_kind": "json", "value": '{"a": 1}'},
                "d": "plain text, {not jinja}",
                "e": 5,
            }
        )
        == []
    )


def test_check_templates_reports_each_problem_on_one_line() -> None:
    problems = check_templates(
        {
            "syntax": "{{ flow_run.name ",
            "unknown": ["ok", "{{ flowrun.name }}\n{{ deploymnt }}"],
            "dunder": "{{ ''.__class__.__mro__ }}",
            "filter": "{{ flow_run|no_such_filter }}",
            "json": {"__prefect_kind": "json", "value": "{bad"},
            "jinja": {"__vibepiper_kind": "jinja", "template": "{% if %}"},
        }
    )
    assert all("\n" not in problem for problem in problems)
    assert problems[0] == (
        "syntax: template '{{ flow_run.name ' is not valid Jinja (line 1): "
        "unexpected end of template, expected 'end of print statement'."
    )
    assert problems[1].startswith(
        "unknown[1]: template '{{ flowrun.name }}\\n{{ deploymnt }}' uses an unknown name "
        "'deploymnt' (known: automation, deployment, event, flow, flow_run, logs, result, "
    )
    assert "uses an unknown name 'flowrun'" in problems[2]
    assert problems[3] == (
        "dunder: template \"{{ ''.__class__.__mro__ }}\" reads '__mro__': "
        "names starting with '_' are not allowed"
    )
    assert "reads '__class__'" in problems[4]
    assert problems[5] == (
        "filter: template '{{ flow_run|no_such_filter }}' is not valid Jinja (line 1): "
        "No filter named 'no_such_filter'."
    )
    assert problems[6].startswith("json: not valid JSON: ")
    assert problems[7].startswith("jinja: template '{% if %}' is not valid Jinja (line 1): ")
    assert len(problems) == 8


def test_check_action_checks_the_fields_that_are_rendered() -> None:
    action = {
        "type": "run-deployment",
        "deployment_id": DEPLOYMENT_ID,
        "parameters": {"n": "{{ flow_run.parameters.n"},
        "job_variables": {"image": "{{ nope }}"},
        "description": "{{ never rendered",
    }
    problems = check_action(action)
    assert [problem.split(":")[0] for problem in problems] == [
        "parameters.n",
        "job_variables.image",
    ]
    assert check_action({"type": "send-notification", "body": "{{ flow_run.name }}"}) == []
    assert check_action({"type": "call-webhook", "payload": "{{ x }"})[0].startswith("payload: ")
    assert check_action({"type": "change-flow-run-state", "message": "{{ oops }}"}) != []


# --- the sandbox and the bounds ----------------------------------------------------------------
@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "text {{ ''.__class__ }} text",
        "{{ flow_run.__class__ }}",
        "{{ ''['__class__'] }}",
        "{{ flow_run.parameters.n.__add__(1) }}",
    ],
)
def test_the_sandbox_refuses_dunder_attributes(template: str) -> None:
    with pytest.raises(ActionTemplateError, match="did something not allowed: access to") as info:
        render_value(template, _context())
    assert isinstance(info.value.__cause__, SecurityError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ flow_run.tags.append(1) }}", "not allowed"),
        ("{{ 'x' * 1000000 }}", "at most 100000"),
        ("{{ 2 ** 100000 }}", "exponent"),
        ("{{ range(200000)|list }}", "MAX_RANGE"),
        ("{{ nobody() }}", "'nobody' is undefined"),
        ("{{ flow_run.parameters.n / 0 }}", "ZeroDivisionError"),
    ],
)
def test_templates_that_fail_raise_a_clear_error(template: str, says: str) -> None:
    with pytest.raises(ActionTemplateError, match=says):
        render_value(template, _context())


def test_output_is_capped() -> None:
    long_text = "{% for i in range(20000) %}0123456789{% endfor %}"
    with pytest.raises(ActionTemplateError, match=f"more than {MAX_OUTPUT_CHARS} characters"):
        render_text(long_text, _context())
    with pytest.raises(ActionTemplateError, match=f"more than {MAX_OUTPUT_CHARS} characters"):
        render_value("{{ 'x' * 100000 ~ 'y' }}", _context())
    assert len(render_value("{{ 'x' * 100000 }}", _context())) == MAX_OUTPUT_CHARS


def test_a_slow_template_is_stopped_at_its_time_limit() -> None:
    loop = (
        "{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% if i == j %}{{ '' }}{% endif %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    with pytest.raises(ActionTemplateTooSlow, match=r"longer than 0\.5 s"):
        render_action({"type": "call-webhook", "payload": loop}, _context(), time_limit=0.5)
    assert time.monotonic() - started < 3


# --- render_action ---------------------------------------------------------------------------
def test_render_action_run_deployment() -> None:
    action = {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": DEPLOYMENT_ID,
        "parameters": {
            "n": "{{ flow_run.parameters.n }}",
            "config": {"__prefect_kind": "json", "value": '{"x": 1}'},
            "upstream": "{{ result }}",
        },
        "job_variables": {"env": {"RUN": "{{ flow_run.name }}"}, "cpu": "{{ variables.my_var }}"},
    }
    original = copy.deepcopy(action)
    assert render_action(action, _context()) == {
        **action,
        "parameters": {"n": 5, "config": {"x": 1}, "upstream": {"rows": 10}},
        "job_variables": {"env": {"RUN": "brave-owl"}, "cpu": 42},
    }
    assert action == original
    defaults = {"type": "run-deployment", "parameters": None, "job_variables": None}
    assert render_action(defaults, _context()) == defaults


def test_render_action_text_fields() -> None:
    context = _context()
    notification = {
        "type": "send-notification",
        "block_document_id": "b-1",
        "subject": "{{ flow_run.name }} {{ flow_run.state.name }}",
        "body": "{{ flow_run.parameters.n }}",
    }
    assert render_action(notification, context) == {
        **notification,
        "subject": "brave-owl Failed",
        "body": "5",
    }
    webhook = {"type": "call-webhook", "block_document_id": "b-2", "payload": "{{ event|tojson }}"}
    assert json.loads(render_action(webhook, context)["payload"])["id"] == EVENT_ID
    change = {
        "type": "change-flow-run-state",
        "state": "CANCELLED",
        "message": "cancelled by {{ automation.name }}",
    }
    assert render_action(change, context)["message"] == "cancelled by on failure"
    assert render_action({**change, "message": None}, context)["message"] is None
    other = {"type": "pause-deployment", "note": "{{ not rendered }}"}
    assert render_action(other, context) == other


def test_render_action_names_the_failing_field() -> None:
    with pytest.raises(ActionTemplateError, match=r"^body: template '\{\{ nobody\(\) \}\}' failed"):
        render_action({"type": "send-notification", "body": "{{ nobody() }}"}, _context())
    with pytest.raises(ActionTemplateError, match=r"^parameters\.x\[0\]: template"):
        render_action({"type": "run-deployment", "parameters": {"x": ["{{ 1 / 0 }}"]}}, _context())


def test_render_action_runs_in_a_child_process() -> None:
    # what run_with_deadline does: the function and its arguments, pickled, and back
    function, args = pickle.loads(
        pickle.dumps(
            (
                render_action,
                ({"type": "call-webhook", "payload": "{{ flow_run.name }}"}, _context()),
            )
        )
    )
    rendered = function(*args)
    assert pickle.loads(pickle.dumps(rendered)) == {"type": "call-webhook", "payload": "brave-owl"}
    error = ActionTemplateError("body: template '{{ x }}' failed: why")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)

"""vibepiper.orchestration.trigger_match: which events an event trigger takes in, its
`for_each` buckets, and automations that would fire themselves."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import pytest

from vibepiper.orchestration import trigger_match
from vibepiper.orchestration.trigger_match import (
    bucket_key,
    bucket_labels,
    event_matches,
    find_feedback_loop,
    is_after,
    is_expected,
)
from vibepiper.schemas.automations import AutomationCreate, EventTrigger
from vibepiper.schemas.events import ReceivedEvent

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"
FLOW = "vibepiper.flow.f1"
DEPLOYMENT = uuid.UUID("6c3b6d5e-5c0e-4a8c-9a8e-2f4a8f0f6a11")


def _event(
    name: str = "vibepiper.flow-run.Failed",
    resource: dict[str, str] | None = None,
    related: list[dict[str, str]] | None = None,
) -> ReceivedEvent:
    return ReceivedEvent.model_validate(
        {
            "event": name,
            "resource": resource or {ID: "vibepiper.flow-run.r1", "team": "data"},
            "related": related
            if related is not None
            else [
                {ID: FLOW, ROLE: "flow", "vibepiper.resource.name": "etl"},
                {ID: "vibepiper.tag.nightly", ROLE: "tag"},
                {ID: "vibepiper.tag.prod", ROLE: "tag"},
            ],
        }
    )


def _trigger(**fields: Any) -> EventTrigger:
    return EventTrigger.model_validate(fields)


# --- event names ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expect", "after", "name", "expected", "covered"),
    [
        ([], [], "anything.at.all", True, True),
        (["vibepiper.flow-run.Failed"], [], "vibepiper.flow-run.Failed", True, True),
        (["prefect.flow-run.Failed"], [], "vibepiper.flow-run.Failed", True, True),
        (["vibepiper.flow-run.Failed"], [], "vibepiper.flow-run.FailedX", False, False),
        (["vibepiper.flow-run.Failed"], [], "vibepiper.flow-run.Crashed", False, False),
        (["vibepiper.flow-run.*"], [], "vibepiper.flow-run.Crashed", True, True),
        (["prefect.flow-run.*"], [], "vibepiper.flow-run.Crashed", True, True),
        (["vibepiper.flow-run.*"], [], "vibepiper.task-run.Crashed", False, False),
        (["*"], [], "x", True, True),
        # an `after` event is covered (it arms the trigger) but not expected
        (
            ["vibepiper.flow-run.Failed"],
            ["vibepiper.flow-run.Pending"],
            "vibepiper.flow-run.Pending",
            False,
            True,
        ),
        (["a"], ["vibepiper.flow-run.*"], "vibepiper.flow-run.Running", False, True),
        # with nothing expected, every event is taken in
        ([], ["vibepiper.flow-run.Pending"], "other", True, True),
    ],
)
def test_event_names(
    expect: list[str], after: list[str], name: str, expected: bool, covered: bool
) -> None:
    trigger = _trigger(expect=expect, after=after)
    event = _event(name)
    assert is_expected(trigger, event) is expected
    assert event_matches(trigger, event) is covered


def test_is_after() -> None:
    trigger = _trigger(expect=["x"], after=["vibepiper.flow-run.Pending", "orders.*"])
    assert is_after(trigger, _event("vibepiper.flow-run.Pending"))
    assert is_after(trigger, _event("orders.loaded"))
    assert not is_after(trigger, _event("vibepiper.flow-run.Running"))
    assert not is_after(_trigger(expect=["x"]), _event("x"))


# --- resources --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, True),
        ({"match": {"prefect.resource.id": "prefect.flow-run.*"}}, True),
        ({"match": {ID: "vibepiper.flow-run.r2"}}, False),
        ({"match": {ID: "!vibepiper.flow-run.r2", "team": ["ops", "data"]}}, True),
        ({"match": {"owner": "!nobody"}}, False),
        ({"match_related": {ROLE: "flow"}}, True),
        ({"match_related": {ROLE: "flow", "vibepiper.resource.name": "etl"}}, True),
        ({"match_related": {ROLE: "flow", "vibepiper.resource.name": "other"}}, False),
        ({"match_related": {ROLE: "deployment"}}, False),
        ({"match_related": {"prefect.resource.id": "prefect.tag.prod"}}, True),
        # each specification of a list names one related resource, not the same one
        ({"match_related": [{ID: "vibepiper.tag.prod"}, {ID: "vibepiper.tag.nightly"}]}, True),
        ({"match_related": [{ID: "vibepiper.tag.prod"}, {ID: "vibepiper.tag.dev"}]}, False),
        ({"match_related": [{ROLE: "flow"}, {}]}, True),
        ({"match_related": []}, True),
        # a role and a label must hold of the same related resource
        ({"match_related": {ROLE: "tag", ID: FLOW}}, False),
    ],
)
def test_resources(fields: dict[str, Any], expected: bool) -> None:
    assert event_matches(_trigger(**fields), _event()) is expected


def test_an_event_without_related_resources() -> None:
    alone = _event(related=[])
    assert event_matches(_trigger(match_related={}), alone)
    assert not event_matches(_trigger(match_related={ROLE: "flow"}), alone)


# --- for_each ---------------------------------------------------------------------------
def test_bucket_key_reads_resource_and_related_labels_in_sorted_order() -> None:
    trigger = _trigger(
        for_each=[
            "prefect.resource.id",
            "related:tag:prefect.resource.id",
            "related:flow:vibepiper.resource.name",
            "related:deployment:vibepiper.resource.id",
            "team",
            "missing",
        ]
    )
    event = _event()
    # sorted: "missing", "related:deployment:...", "related:flow:...", "related:tag:...",
    # "team", "vibepiper.resource.id"; the first related resource in a role counts
    assert bucket_key(trigger, event) == (
        "",
        "",
        "etl",
        "vibepiper.tag.nightly",
        "data",
        "vibepiper.flow-run.r1",
    )
    assert bucket_labels(trigger, event) == {
        "missing": "",
        f"related:deployment:{ID}": "",
        "related:flow:vibepiper.resource.name": "etl",
        f"related:tag:{ID}": "vibepiper.tag.nightly",
        "team": "data",
        ID: "vibepiper.flow-run.r1",
    }
    assert bucket_key(_trigger(), event) == ()
    assert bucket_labels(_trigger(), event) == {}
    other = _event(resource={ID: "vibepiper.flow-run.r2", "team": "ops"})
    assert bucket_key(trigger, other) != bucket_key(trigger, event)


# --- compiling --------------------------------------------------------------------------
def test_a_trigger_is_compiled_once_and_a_changed_copy_afresh() -> None:
    trigger = _trigger(expect=["a"], match_related={ROLE: "flow"})
    copy = trigger.model_copy()
    assert event_matches(trigger, _event("a"))
    compiled = trigger_match._compiled_triggers[id(trigger)]
    assert event_matches(trigger, _event("a"))
    assert trigger_match._compiled_triggers[id(trigger)] is compiled
    # matching leaves the model as it was: it still equals its copy
    assert trigger == copy
    changed = trigger.model_copy(update={"expect": {"b"}})
    assert event_matches(changed, _event("b")) and not event_matches(changed, _event("a"))
    trigger.expect = {"c"}
    assert event_matches(trigger, _event("c")) and not event_matches(trigger, _event("a"))
    key = id(trigger)
    del trigger
    gc.collect()
    assert key not in trigger_match._compiled_triggers


# --- feedback loops ---------------------------------------------------------------------
def _automation(
    trigger: dict[str, Any], *actions: dict[str, Any], **fields: Any
) -> AutomationCreate:
    return AutomationCreate.model_validate(
        {
            "name": "a",
            "trigger": trigger,
            "actions": list(actions or [{"type": "do-nothing"}]),
            **fields,
        }
    )


def _run(source: str = "selected", deployment: uuid.UUID | None = DEPLOYMENT) -> dict[str, Any]:
    if source == "inferred":
        return {"type": "run-deployment", "source": "inferred"}
    return {"type": "run-deployment", "deployment_id": str(deployment)}


RUNS = {"prefect.resource.id": "prefect.flow-run.*"}
OTHER = uuid.uuid4()


@pytest.mark.parametrize(
    ("trigger", "actions", "reason"),
    [
        # its own events
        (
            {"expect": ["prefect.automation.*"]},
            [],
            "vibepiper.automation.triggered events this automation emits",
        ),
        ({}, [], "vibepiper.automation.triggered events this automation emits"),
        (
            {
                "expect": ["vibepiper.automation.action.executed"],
                "match": {ID: "vibepiper.automation.*"},
            },
            [],
            "vibepiper.automation.action.executed events this automation emits",
        ),
        (
            {"expect": ["vibepiper.automation.action.failed"], "match_related": {ROLE: "target"}},
            [{"type": "pause-deployment", "deployment_id": str(DEPLOYMENT)}],
            "action.failed events this automation emits",
        ),
        (
            {"expect": ["vibepiper.automation.*"], "match": {ID: f"vibepiper.automation.{OTHER}"}},
            [],
            None,
        ),
        (
            # every automation has an action (do-nothing here), and acting emits events
            {"expect": ["vibepiper.automation.action.*"], "match": {ID: "vibepiper.automation.*"}},
            [],
            "vibepiper.automation.action.triggered events this automation emits",
        ),
        (
            {"expect": ["vibepiper.automation.triggered"], "match_related": {ROLE: "target"}},
            [],
            None,
        ),
        ({"expect": ["vibepiper.automation.*"], "posture": "Proactive", "within": 60}, [], None),
        # Prefect's rule: runs of the deployment it starts
        (
            {"expect": ["prefect.flow-run.*"], "match": RUNS},
            [_run()],
            "vibepiper.flow-run.Scheduled events of the flow runs that deployment",
        ),
        (
            {"expect": ["vibepiper.flow-run.Running"]},
            [_run()],
            "vibepiper.flow-run.Running events of the flow runs that deployment",
        ),
        ({"expect": ["vibepiper.flow-run.Failed"], "match": RUNS}, [_run()], None),
        (
            {
                "expect": ["vibepiper.flow-run.Pending"],
                "match_related": {ID: f"vibepiper.deployment.{DEPLOYMENT}"},
            },
            [_run()],
            "vibepiper.flow-run.Pending events",
        ),
        (
            {
                "expect": ["vibepiper.flow-run.Pending"],
                "match_related": {ID: f"vibepiper.deployment.{OTHER}"},
            },
            [_run()],
            None,
        ),
        (
            {"expect": ["vibepiper.flow-run.Pending"], "match_related": {ROLE: "flow"}},
            [_run()],
            "vibepiper.flow-run.Pending events",
        ),
        (
            {
                "expect": ["vibepiper.flow-run.Running"],
                "match": {"vibepiper.resource.name": "nightly"},
            },
            [_run()],
            None,
        ),
        (
            {"expect": ["vibepiper.flow-run.*"], "match_related": {ROLE: "flow"}},
            [_run("inferred")],
            "the inferred deployment starts",
        ),
        (
            {
                "expect": ["vibepiper.flow-run.Running"],
                "match_related": {ID: f"vibepiper.deployment.{OTHER}"},
            },
            [_run("inferred")],
            "the inferred deployment starts",
        ),
        ({"expect": ["vibepiper.flow-run.Completed"]}, [_run("inferred")], None),
        (
            {"expect": ["vibepiper.flow-run.*"], "after": ["vibepiper.flow-run.Failed"]},
            [_run()],
            None,
        ),
        # the state its flow-run actions move a run to
        (
            {"expect": ["vibepiper.flow-run.*"], "match": RUNS},
            [{"type": "cancel-flow-run"}],
            "cancel-flow-run action moves the flow run to Cancelling",
        ),
        (
            {"expect": ["vibepiper.flow-run.Failed"], "match": RUNS},
            [{"type": "cancel-flow-run"}],
            None,
        ),
        (
            {"expect": ["vibepiper.flow-run.Suspended"]},
            [{"type": "suspend-flow-run"}],
            "to Suspended",
        ),
        (
            {"expect": ["vibepiper.flow-run.Crashed"], "match": RUNS},
            [{"type": "change-flow-run-state", "state": "CRASHED"}],
            "change-flow-run-state action moves the flow run to Crashed",
        ),
        (
            {"expect": ["vibepiper.flow-run.*"], "match": {"vibepiper.state-type": "FAILED"}},
            [{"type": "change-flow-run-state", "state": "CANCELLED", "name": "Skipped"}],
            None,
        ),
        (
            {"expect": ["vibepiper.flow-run.Crashed"]},
            [{"type": "change-flow-run-state", "state": "FAILED"}],
            None,
        ),
        (
            {"expect": ["vibepiper.flow-run.*"]},
            [{"type": "resume-flow-run"}, {"type": "delete-flow-run"}],
            None,
        ),
    ],
)
def test_feedback_loops(
    trigger: dict[str, Any], actions: list[dict[str, Any]], reason: str | None
) -> None:
    found = find_feedback_loop(_automation(trigger, *actions))
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


def test_feedback_loops_through_composites_and_known_ids() -> None:
    own = {"expect": ["vibepiper.automation.triggered"]}
    other = {"expect": ["orders.loaded"]}
    assert find_feedback_loop(
        _automation({"type": "compound", "require": "any", "triggers": [other, own]})
    )
    assert find_feedback_loop(
        _automation({"type": "compound", "require": 1, "triggers": [other, own]})
    )
    assert find_feedback_loop(_automation({"type": "sequence", "triggers": [own]}))
    assert not find_feedback_loop(
        _automation({"type": "compound", "require": "all", "triggers": [other, own]})
    )
    assert not find_feedback_loop(_automation({"type": "sequence", "triggers": [other, own]}))
    metric = {"type": "metric", "metric": {"name": "lateness", "threshold": 60, "operator": ">"}}
    assert not find_feedback_loop(_automation(metric))
    # an automation's own id, once known, is one its `match` may name
    automation_id = uuid.uuid4()
    itself = _automation(
        {
            "expect": ["vibepiper.automation.*"],
            "match": {ID: f"vibepiper.automation.{automation_id}"},
        }
    )
    assert find_feedback_loop(itself) is None
    assert find_feedback_loop(itself, automation_id) is not None
    # disabled automations are checked too: enabling one is not checked again
    assert find_feedback_loop(_automation(own, enabled=False)) is not None
    # actions_on_trigger and actions_on_resolve count
    hook = _automation(
        {"expect": ["vibepiper.flow-run.Running"]},
        {"type": "do-nothing"},
        actions_on_resolve=[_run()],
    )
    assert find_feedback_loop(hook) is not None

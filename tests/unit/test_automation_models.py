"""vibepiper.schemas.automations: Prefect's JSON accepted, `prefect.` read as
`vibepiper.`, validation errors naming the field, JSON round trips, deployment triggers,
and resource specifications' matching."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from vibepiper.schemas.automations import (
    DEFAULT_NOTIFICATION_BODY,
    ActionTypes,
    AutomationCreate,
    AutomationFilter,
    AutomationPartialUpdate,
    AutomationRead,
    AutomationSort,
    AutomationUpdate,
    CallWebhook,
    ChangeFlowRunState,
    CompoundTrigger,
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
    DeploymentMetricTrigger,
    DeploymentSequenceTrigger,
    DeploymentTriggerTypes,
    EventTrigger,
    MetricTrigger,
    MetricTriggerOperator,
    MetricTriggerQuery,
    Posture,
    ResourceSpecification,
    RunDeployment,
    SendNotification,
    SequenceTrigger,
    TriggerTypes,
)
from vibepiper.schemas.events import Resource
from vibepiper.states import StateType

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"
DEPLOYMENT = uuid.UUID("6c3b6d5e-5c0e-4a8c-9a8e-2f4a8f0f6a11")
BLOCK = uuid.UUID("0b0b0b0b-0000-4000-8000-000000000001")

triggers: TypeAdapter[Any] = TypeAdapter(TriggerTypes)
actions: TypeAdapter[Any] = TypeAdapter(ActionTypes)
deployment_triggers: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)

PREFECT_TRIGGER = {
    "type": "event",
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "expect": ["prefect.flow-run.Failed"],
    "posture": "Reactive",
    "threshold": 1,
    "within": 0,
}


def _automation(trigger: Any = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "on failure",
        "trigger": PREFECT_TRIGGER if trigger is None else trigger,
        "actions": [{"type": "do-nothing"}],
    }
    return {**body, **fields}


# --- Prefect's JSON, canonical spellings ------------------------------------------------
def test_prefect_client_json_is_accepted_and_read_as_vibepiper() -> None:
    automation = AutomationCreate.model_validate(
        _automation(
            owner_resource=f"prefect.deployment.{DEPLOYMENT}",
            actions=[
                {"type": "run-deployment", "source": "selected", "deployment_id": str(DEPLOYMENT)}
            ],
        )
    )
    trigger = automation.trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.match.root == {ID: "vibepiper.flow-run.*"}
    assert trigger.expect == {"vibepiper.flow-run.Failed"}
    assert (trigger.posture, trigger.threshold, trigger.within) == (
        Posture.Reactive,
        1,
        dt.timedelta(0),
    )
    assert automation.owner_resource == f"vibepiper.deployment.{DEPLOYMENT}"
    assert isinstance(automation.actions[0], RunDeployment)
    assert automation.actions[0].deployment_id == DEPLOYMENT


def test_names_labels_and_resource_ids_are_canonical() -> None:
    trigger = EventTrigger.model_validate(
        {
            "match": {
                "prefect.resource.id": ["prefect.flow-run.1", "!prefect.flow-run.2"],
                "prefect.resource.name": "prefect.keeps-values-of-other-labels",
            },
            "match_related": [
                {"prefect.resource.role": "flow", "prefect.resource.id": "prefect.flow.*"},
                {"prefect.resource.role": "tag"},
            ],
            "after": ["prefect.flow-run.Pending"],
            "expect": ["prefect.flow-run.*", "vibepiper.flow-run.*", "orders.loaded"],
            "for_each": ["prefect.resource.id", "related:flow:prefect.resource.id"],
        }
    )
    assert trigger.match.root == {
        ID: ["vibepiper.flow-run.1", "!vibepiper.flow-run.2"],
        "vibepiper.resource.name": "prefect.keeps-values-of-other-labels",
    }
    assert isinstance(trigger.match_related, list)
    assert [spec.root for spec in trigger.match_related] == [
        {ROLE: "flow", ID: "vibepiper.flow.*"},
        {ROLE: "tag"},
    ]
    assert trigger.after == {"vibepiper.flow-run.Pending"}
    assert trigger.expect == {"vibepiper.flow-run.*", "orders.loaded"}
    assert trigger.for_each == {ID, f"related:flow:{ID}"}


def test_within_may_be_seconds_or_iso_and_dumps_as_seconds() -> None:
    assert EventTrigger.model_validate({"within": 90.5}).within == dt.timedelta(seconds=90.5)
    assert EventTrigger.model_validate({"within": "PT2M"}).within == dt.timedelta(minutes=2)
    dumped = EventTrigger(within=dt.timedelta(minutes=1)).model_dump(mode="json")
    assert dumped["within"] == 60.0


def test_a_trigger_without_type_is_read_as_prefect_does() -> None:
    assert isinstance(triggers.validate_python({"expect": ["x"]}), EventTrigger)
    metric = {"posture": "Metric", "metric": {"name": "lateness", "threshold": 60, "operator": ">"}}
    assert isinstance(triggers.validate_python(metric), MetricTrigger)
    compound = triggers.validate_python({"triggers": [{"expect": ["x"]}], "require": "any"})
    assert isinstance(compound, CompoundTrigger)
    sequence = triggers.validate_python({"triggers": [{"expect": ["x"]}]})
    assert isinstance(sequence, SequenceTrigger)
    with pytest.raises(ValidationError, match="'bogus' found using _trigger_kind"):
        triggers.validate_python({"type": "bogus"})


# --- trigger validation -----------------------------------------------------------------
def test_proactive_triggers_watch_at_least_ten_seconds() -> None:
    assert EventTrigger(posture=Posture.Proactive).within == dt.timedelta(seconds=10)
    assert EventTrigger.model_validate({"posture": "Proactive", "within": 0}).within == (
        dt.timedelta(seconds=10)
    )
    with pytest.raises(ValidationError, match="`within` for Proactive triggers must be"):
        EventTrigger.model_validate({"posture": "Proactive", "within": 5})
    assert EventTrigger.model_validate({"posture": "Proactive", "within": 10}).within == (
        dt.timedelta(seconds=10)
    )
    assert EventTrigger.model_validate({"within": 5}).within == dt.timedelta(seconds=5)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"within": -1}, r"within\n.*greater than or equal to 0"),
        ({"within": None}, r"within\n.*valid timedelta"),
        ({"within": 366 * 86400}, r"within\n.*less than or equal to 365 days"),
        ({"threshold": 0}, r"threshold\n.*greater than or equal to 1"),
        ({"posture": "Metric"}, r"posture\n.*'Reactive'"),
        ({"expect": ["!vibepiper.flow-run.Failed"]}, r"expect\.0\n.*cannot be negated"),
        ({"after": ["a.*.b"]}, r"after\.0\n.*`\*` may only end an event name"),
        ({"expect": [""]}, r"expect\.0\n.*at least 1 character"),
        ({"for_each": ["related:flow"]}, r"for_each\.0\n.*related:<role>:<label>"),
        ({"expects": ["typo"]}, r"expects\n.*Extra inputs are not permitted"),
        ({"match": {"a": "\x00"}}, r"match\n.*NUL"),
        ({"match": {"prefect.x": "1", "vibepiper.x": "2"}}, "vibepiper.x is given twice"),
    ],
)
def test_event_trigger_errors_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EventTrigger.model_validate(fields)


def test_compound_require_is_checked_against_its_triggers() -> None:
    two = [{"expect": ["a"]}, {"expect": ["b"]}]
    assert CompoundTrigger.model_validate({"triggers": two, "require": 2}).num_expected_firings == 2
    assert (
        CompoundTrigger.model_validate({"triggers": two, "require": "all"}).num_expected_firings
        == 2
    )
    assert (
        CompoundTrigger.model_validate({"triggers": two, "require": "any"}).num_expected_firings
        == 1
    )
    with pytest.raises(ValidationError, match="`require` must be at least 1"):
        CompoundTrigger.model_validate({"triggers": two, "require": 0})
    with pytest.raises(ValidationError, match=r"`require` \(3\) must be less than or equal"):
        CompoundTrigger.model_validate({"triggers": two, "require": 3})
    with pytest.raises(ValidationError, match=r"require\n|require\.literal"):
        CompoundTrigger.model_validate({"triggers": two, "require": "most"})
    with pytest.raises(ValidationError, match=r"triggers\n.*at least 1 item"):
        SequenceTrigger.model_validate({"triggers": []})


def test_nesting_and_size_are_bounded() -> None:
    nested: dict[str, Any] = {"expect": ["a"]}
    for _ in range(7):
        nested = {"type": "sequence", "triggers": [nested]}
    assert len(triggers.validate_python(nested).all_triggers()) == 8
    with pytest.raises(ValidationError, match="nested more than 8 deep"):
        triggers.validate_python({"type": "sequence", "triggers": [nested]})
    wide = {"type": "sequence", "triggers": [{"expect": ["a"]}] * 60}
    with pytest.raises(ValidationError, match="more than 100 triggers in all"):
        triggers.validate_python({"type": "compound", "require": "any", "triggers": [wide, wide]})


def test_metric_queries() -> None:
    query = MetricTriggerQuery.model_validate(
        {"name": "successes", "threshold": 0.9, "operator": "<"}
    )
    assert (query.range, query.firing_for) == (dt.timedelta(minutes=5), dt.timedelta(minutes=5))
    assert MetricTriggerQuery.model_validate(
        {"name": "duration", "threshold": 30, "operator": ">=", "firing_for": 0}
    ).firing_for == dt.timedelta(0)
    assert query.operator.compare(0.5, 0.9) and not query.operator.compare(0.95, 0.9)
    assert [op.compare(1, 1) for op in MetricTriggerOperator] == [False, True, False, True]
    bad = [
        ({"range": 60}, r"range\n.*greater than or equal to 5 minutes"),
        ({"range": 31 * 86400}, r"range\n.*less than or equal to 30 days"),
        ({"firing_for": -1}, r"firing_for\n"),
        ({"threshold": 1.5}, "`threshold` of the successes metric is a rate from 0 to 1"),
        ({"threshold": "nan"}, r"threshold\n.*finite number"),
        ({"name": "throughput"}, r"name\n.*'duration', 'lateness' or 'successes'"),
        ({"operator": "=="}, r"operator\n"),
    ]
    for fields, message in bad:
        with pytest.raises(ValidationError, match=message):
            MetricTriggerQuery.model_validate(
                {"name": "successes", "threshold": 0.9, "operator": "<", **fields}
            )
    with pytest.raises(ValidationError, match="`threshold` of the lateness metric is seconds"):
        MetricTriggerQuery.model_validate({"name": "lateness", "threshold": -1, "operator": ">"})


# --- actions ----------------------------------------------------------------------------
EVERY_ACTION: list[dict[str, Any]] = [
    {"type": "do-nothing"},
    {
        "type": "run-deployment",
        "source": "selected",
        "deployment_id": str(DEPLOYMENT),
        "parameters": {"day": "{{ event.occurred }}"},
        "job_variables": {"image": "x"},
        "schedule_after": 30,
    },
    {"type": "run-deployment", "source": "inferred"},
    {"type": "pause-deployment", "deployment_id": str(DEPLOYMENT)},
    {"type": "resume-deployment", "source": "inferred"},
    {"type": "cancel-flow-run"},
    {"type": "suspend-flow-run"},
    {"type": "resume-flow-run"},
    {"type": "delete-flow-run"},
    {"type": "change-flow-run-state", "name": "Skipped", "state": "CANCELLED", "message": "m"},
    {"type": "send-notification", "block_document_id": str(BLOCK), "body": "b", "subject": "s"},
    {"type": "call-webhook", "block_document_id": str(BLOCK), "payload": '{"a": 1}'},
    {"type": "pause-work-queue", "work_queue_id": str(uuid.uuid4())},
    {"type": "resume-work-queue", "source": "inferred"},
    {"type": "pause-work-pool", "work_pool_id": str(uuid.uuid4())},
    {"type": "resume-work-pool", "source": "inferred"},
    {"type": "pause-automation", "automation_id": str(uuid.uuid4())},
    {"type": "resume-automation", "source": "inferred"},
]


@pytest.mark.parametrize("body", EVERY_ACTION, ids=[a["type"] for a in EVERY_ACTION])
def test_every_action_round_trips_through_json(body: dict[str, Any]) -> None:
    action = actions.validate_python(body)
    assert action.type == body["type"]
    dumped = actions.dump_python(action, mode="json")
    assert actions.validate_python(dumped) == action
    assert {key: value for key, value in dumped.items() if key in body} == body


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("run-deployment", "deployment_id"),
        ("pause-deployment", "deployment_id"),
        ("resume-deployment", "deployment_id"),
        ("pause-work-queue", "work_queue_id"),
        ("resume-work-queue", "work_queue_id"),
        ("pause-work-pool", "work_pool_id"),
        ("resume-work-pool", "work_pool_id"),
        ("pause-automation", "automation_id"),
        ("resume-automation", "automation_id"),
    ],
)
def test_selected_needs_the_id_and_inferred_refuses_it(kind: str, field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} is required when source is 'selected'"):
        actions.validate_python({"type": kind})
    with pytest.raises(ValidationError, match=f"{field} is not allowed when source is 'inferred'"):
        actions.validate_python({"type": kind, "source": "inferred", field: str(uuid.uuid4())})
    with pytest.raises(ValidationError, match=r"source\n.*'selected' or 'inferred'"):
        actions.validate_python({"type": kind, "source": "chosen"})


def test_action_defaults_and_prefect_payloads() -> None:
    notify = actions.validate_python({"type": "send-notification", "block_document_id": str(BLOCK)})
    assert isinstance(notify, SendNotification)
    assert (notify.subject, notify.body) == (
        "VibePiper automated notification",
        DEFAULT_NOTIFICATION_BODY,
    )
    # older Prefect clients send the payload as an object
    hook = actions.validate_python(
        {"type": "call-webhook", "block_document_id": str(BLOCK), "payload": {"message": "hi"}}
    )
    assert isinstance(hook, CallWebhook)
    assert hook.payload == '{\n  "message": "hi"\n}'
    state = actions.validate_python({"type": "change-flow-run-state", "state": "FAILED"})
    assert isinstance(state, ChangeFlowRunState)
    assert (state.state, state.name, state.message) == (StateType.FAILED, None, None)
    run = actions.validate_python({"type": "run-deployment", "deployment_id": str(DEPLOYMENT)})
    assert (run.source, run.parameters, run.job_variables, run.schedule_after) == (
        "selected",
        None,
        None,
        dt.timedelta(0),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "explode"}, "does not match any of the expected tags"),
        ({"type": "do-nothing", "extra": 1}, r"extra\n.*Extra inputs are not permitted"),
        ({"type": "change-flow-run-state", "state": "DONE"}, r"state\n.*'SCHEDULED'"),
        ({"type": "send-notification"}, r"block_document_id\n.*Field required"),
        (
            {"type": "run-deployment", "deployment_id": str(DEPLOYMENT), "schedule_after": -1},
            r"schedule_after\n.*greater than or equal to 0",
        ),
        (
            {
                "type": "run-deployment",
                "deployment_id": str(DEPLOYMENT),
                "parameters": {"a": "\x00"},
            },
            r"parameters\n.*NUL",
        ),
    ],
)
def test_action_errors_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        actions.validate_python(body)


# --- automations ------------------------------------------------------------------------
def _every_trigger() -> dict[str, Any]:
    return {
        "type": "compound",
        "require": 2,
        "within": 3600,
        "triggers": [
            {
                **PREFECT_TRIGGER,
                "match_related": [{"prefect.resource.role": "flow"}],
                "after": ["prefect.flow-run.Pending"],
                "for_each": ["prefect.resource.id", "related:flow:prefect.resource.id"],
                "threshold": 3,
                "within": 60,
            },
            {"type": "event", "posture": "Proactive", "expect": ["orders.loaded"], "within": 300},
            {
                "type": "metric",
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "metric": {"name": "duration", "threshold": 120, "operator": ">", "range": 600},
            },
            {"type": "sequence", "triggers": [{"expect": ["a"]}, {"expect": ["b"]}], "within": 10},
        ],
    }


def test_a_full_automation_round_trips_through_json() -> None:
    automation = AutomationCreate.model_validate(
        _automation(
            _every_trigger(),
            description="d",
            enabled=False,
            tags=["ops"],
            actions=EVERY_ACTION,
            actions_on_trigger=[{"type": "do-nothing"}],
            actions_on_resolve=[{"type": "cancel-flow-run"}],
        )
    )
    dumped = automation.model_dump(mode="json")
    again = AutomationCreate.model_validate(dumped)
    assert again == automation
    assert again.model_dump(mode="json") == dumped
    # trigger ids are kept, so the stored children keep their identity
    ids = [trigger.id for trigger in automation.trigger.all_triggers()]
    assert ids == [trigger.id for trigger in again.trigger.all_triggers()]
    assert len(set(ids)) == 7
    first = dumped["trigger"]["triggers"][0]
    assert first["for_each"] == sorted(first["for_each"])
    assert (first["within"], dumped["trigger"]["within"]) == (60.0, 3600.0)
    # what the server stores reads back as an AutomationRead
    now = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    row = {**dumped, "id": str(uuid.uuid4()), "created": now, "updated": now.isoformat()}
    read = AutomationRead.model_validate(row)
    assert read.trigger == automation.trigger and read.updated == now
    assert AutomationRead.model_validate(read.model_dump(mode="json")) == read


def test_automation_bodies_refuse_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValidationError, match=r"owner\n.*Extra inputs are not permitted"):
        AutomationCreate.model_validate(_automation(owner="x"))
    with pytest.raises(ValidationError, match=r"owner\n.*Extra inputs are not permitted"):
        AutomationUpdate.model_validate(_automation(owner="x"))
    with pytest.raises(ValidationError, match=r"name\n.*at least 1 character"):
        AutomationCreate.model_validate(_automation(name=""))
    with pytest.raises(ValidationError, match=r"actions\n.*Field required"):
        AutomationCreate.model_validate({"name": "n", "trigger": PREFECT_TRIGGER})
    with pytest.raises(ValidationError, match=r"actions\n.*at most 50 items"):
        AutomationCreate.model_validate(_automation(actions=[{"type": "do-nothing"}] * 51))
    with pytest.raises(ValidationError, match=r"trigger\.event\.expect\.0\n"):
        AutomationCreate.model_validate(_automation({"type": "event", "expect": ["!x"]}))
    update = AutomationUpdate.model_validate(_automation(enabled=False))
    assert update.enabled is False and update.description == ""
    # Prefect's PATCH: enabled only, true by default
    assert AutomationPartialUpdate.model_validate({}).enabled is True
    assert AutomationPartialUpdate.model_validate({"enabled": False}).enabled is False
    with pytest.raises(ValidationError, match=r"name\n.*Extra inputs"):
        AutomationPartialUpdate.model_validate({"enabled": True, "name": "x"})


# --- deployment triggers ----------------------------------------------------------------
def test_a_deployment_trigger_becomes_an_automation_running_the_deployment() -> None:
    trigger = deployment_triggers.validate_python(
        {
            "enabled": False,
            "match": {"prefect.resource.id": "my.external.resource"},
            "expect": ["external.resource.pinged"],
            "parameters": {"param_1": "{{ event }}"},
            "job_variables": {"memory": 512},
        }
    )
    assert isinstance(trigger, DeploymentEventTrigger)
    automation = trigger.as_automation(DEPLOYMENT)
    assert isinstance(automation, AutomationCreate)
    assert automation.name == f"Automation for deployment {DEPLOYMENT}"
    assert automation.enabled is False
    assert automation.owner_resource == f"vibepiper.deployment.{DEPLOYMENT}"
    assert type(automation.trigger) is EventTrigger
    assert automation.trigger.id == trigger.id
    assert automation.trigger.expect == {"external.resource.pinged"}
    assert automation.actions == [
        RunDeployment(
            source="selected",
            deployment_id=DEPLOYMENT,
            parameters={"param_1": "{{ event }}"},
            job_variables={"memory": 512},
        )
    ]
    # the body the server receives is valid as sent
    assert AutomationCreate.model_validate(automation.model_dump(mode="json")) == automation


@pytest.mark.parametrize(
    ("body", "kind", "plain"),
    [
        (
            {"name": "slow", "metric": {"name": "duration", "threshold": 5, "operator": ">"}},
            DeploymentMetricTrigger,
            MetricTrigger,
        ),
        (
            {"type": "compound", "require": "all", "triggers": [{"expect": ["a"]}]},
            DeploymentCompoundTrigger,
            CompoundTrigger,
        ),
        (
            {"triggers": [{"expect": ["a"]}], "description": "d"},
            DeploymentSequenceTrigger,
            SequenceTrigger,
        ),
    ],
)
def test_every_deployment_trigger_kind(body: dict[str, Any], kind: type, plain: type) -> None:
    trigger = deployment_triggers.validate_python(body)
    assert type(trigger) is kind
    automation = trigger.as_automation(DEPLOYMENT)
    assert type(automation.trigger) is plain
    assert automation.name == body.get("name", f"Automation for deployment {DEPLOYMENT}")
    assert automation.description == body.get("description", "")


def test_deployment_triggers_validate_like_plain_ones() -> None:
    with pytest.raises(ValidationError, match="`within` for Proactive triggers"):
        DeploymentEventTrigger.model_validate({"posture": "Proactive", "within": 1})
    with pytest.raises(ValidationError, match=r"paramters\n.*Extra inputs"):
        DeploymentEventTrigger.model_validate({"paramters": {}})


# --- filters ----------------------------------------------------------------------------
def test_the_filter_bodies_prefect_clients_send() -> None:
    assert AutomationFilter.model_validate({}).sort is AutomationSort.NAME_ASC
    page = AutomationFilter.model_validate({"limit": 200, "offset": 400})
    assert (page.limit, page.offset, page.automations) == (200, 400, None)
    by_name = AutomationFilter.model_validate(
        {
            "sort": "CREATED_DESC",
            "automations": {"name": {"any_": ["on failure"]}, "created": None},
        }
    )
    assert by_name.automations is not None and by_name.automations.name is not None
    assert by_name.automations.name.any_ == ["on failure"]
    ours = AutomationFilter.model_validate(
        {
            "automations": {
                "tags": {"all_": ["ops"]},
                "enabled": {"eq_": True},
                "owner_resource": {"any_": [f"prefect.deployment.{DEPLOYMENT}"]},
                "created": {"before_": "2024-01-01T00:00:00"},
            }
        }
    )
    criteria = ours.automations
    assert criteria is not None and criteria.owner_resource is not None
    assert criteria.owner_resource.any_ == [f"vibepiper.deployment.{DEPLOYMENT}"]
    assert criteria.created is not None and criteria.created.before_ is not None
    assert criteria.created.before_.tzinfo is not None
    with pytest.raises(ValidationError, match=r"limit\n.*less than or equal to 1000"):
        AutomationFilter.model_validate({"limit": 5000})
    with pytest.raises(ValidationError, match=r"automations\.nmae\n.*Extra inputs"):
        AutomationFilter.model_validate({"automations": {"nmae": {}}})


# --- resource specifications ------------------------------------------------------------
LABELS = {ID: "vibepiper.flow-run.abc", "vibepiper.resource.name": "nightly-load", "team": "data"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, True),
        ({ID: "vibepiper.flow-run.abc"}, True),
        ({ID: "vibepiper.flow-run.abd"}, False),
        ({ID: "vibepiper.flow-run.*"}, True),
        ({ID: "vibepiper.flow.*"}, False),
        ({"team": "*"}, True),
        ({"owner": "*"}, False),  # a missing label never matches
        ({"team": "!ops"}, True),
        ({"team": "!data"}, False),
        ({"owner": "!ops"}, False),  # not even negated
        ({"vibepiper.resource.name": "!nightly*"}, False),
        ({"vibepiper.resource.name": "!weekly*"}, True),
        ({"team": ["ops", "data"]}, True),
        ({"team": ["ops", "sales"]}, False),
        ({"team": ["ops", "d*"]}, True),
        ({"team": []}, False),
        ({"team": "!*"}, False),
        ({"team": "data", ID: "vibepiper.flow-run.*"}, True),  # every label must hold
        ({"team": "data", ID: "vibepiper.task-run.*"}, False),
        ({"prefect.resource.id": "prefect.flow-run.abc"}, True),
        ({"prefect.resource.id": "!prefect.flow-run.abc"}, False),
    ],
)
def test_resource_specification_truth_table(spec: dict[str, Any], expected: bool) -> None:
    specification = ResourceSpecification.model_validate(spec)
    assert specification.matches(LABELS) is expected
    assert specification.matches(Resource(LABELS)) is expected
    # a resource sent with Prefect's spelling is read the same
    prefect = {
        "prefect.resource.id": "prefect.flow-run.abc",
        **{k: v for k, v in LABELS.items() if k != ID},
    }
    assert specification.matches(prefect) is expected


def test_resource_specification_helpers() -> None:
    everything = ResourceSpecification({})
    assert everything.includes([]) and everything.matches_every_resource()
    runs = ResourceSpecification.model_validate({"prefect.resource.id": "prefect.flow-run.*"})
    assert runs.matches_every_resource_of_kind("prefect.flow-run")
    assert runs.matches_every_resource_of_kind("vibepiper.flow-run")
    assert not runs.matches_every_resource_of_kind("vibepiper.deployment")
    assert not runs.includes([]) and runs.includes([{ID: "x"}, LABELS])
    narrower = ResourceSpecification({ID: "vibepiper.flow-run.*", "team": "data"})
    assert not narrower.matches_every_resource_of_kind("vibepiper.flow-run")
    assert ResourceSpecification.model_validate(runs.model_dump(mode="json")) == runs


def test_vibepiper_events_offers_every_trigger_and_action_model() -> None:
    """The names `vibepiper.events` loads on first use stay those of the triggers and
    actions in `vibepiper.schemas.automations` (Prefect imports them from `prefect.events`)."""
    import vibepiper.events as events
    from vibepiper.schemas import automations

    lazy = set(events.__all__[: events.__all__.index("Event")])
    models = {
        name
        for name in automations.__all__
        if not name.isupper() and (not name.startswith("Automation") or name == "AutomationCore")
    }
    assert lazy == models
    assert all(getattr(events, name) is getattr(automations, name) for name in lazy)

"""Deployment triggers (`to_deployment(triggers=...)`, `flow.deploy(triggers=...)`,
`register`): each trigger becomes an automation owned by the deployment that runs it;
registering again replaces them, fewer triggers remove some, and a bad trigger stops
everything before the first write. Run with no server (the in-process API over the
embedded store) and against servers on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from vibepiper import flow
from vibepiper.client import SyncVibePiperClient, get_client
from vibepiper.deployments.serve import register
from vibepiper.events import (
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
    EventTrigger,
    MetricTrigger,
)
from vibepiper.events.actions import RunDeployment
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.automations import AutomationCreate, AutomationRead
from vibepiper.schemas.deployments import WorkPoolCreate

pytestmark = pytest.mark.slow


@flow(name="ingest")
def ingest(path: str = "", rows: int = 0) -> int:
    return rows


@pytest.fixture
def client(api_target: str | None) -> Iterator[SyncVibePiperClient]:
    with get_client(sync_client=True) as sync_client:
        yield sync_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def owned(client: SyncVibePiperClient, deployment_id: uuid.UUID) -> list[AutomationRead]:
    """The deployment's trigger automations, by name."""
    resource = f"vibepiper.deployment.{deployment_id}"
    found = client.read_resource_related_automations(resource)
    return sorted((a for a in found if a.owner_resource == resource), key=lambda a: a.name)


def on_upload(**fields: object) -> DeploymentEventTrigger:
    return DeploymentEventTrigger(
        match={"prefect.resource.id": "bucket.raw.*"},
        expect={"object.created"},
        parameters={"path": "{{ event.resource.id }}", "rows": "{{ event.payload.rows }}"},
        **fields,
    )


def test_each_trigger_becomes_an_automation_that_runs_the_deployment(
    client: SyncVibePiperClient,
) -> None:
    name = unique("upload")
    deployment = ingest.to_deployment(
        name,
        parameters={"rows": 1},
        triggers=[
            on_upload(name=f"{name}-files", description="one run per file"),
            EventTrigger(expect={"bucket.compacted"}, within=60, threshold=2),  # plain
            {"expect": ["bucket.emptied"], "enabled": False, "job_variables": {"env": {"A": "1"}}},
        ],
    )
    deployment_id = deployment.apply(client)

    files, compacted, emptied = owned(client, deployment_id)
    assert [files.name, compacted.name, emptied.name] == [
        f"{name}-files",
        f"{name}__automation_2",  # Prefect's names for unnamed triggers
        f"{name}__automation_3",
    ]
    for automation in (files, compacted, emptied):
        (action,) = automation.actions
        assert isinstance(action, RunDeployment)
        assert (action.source, action.deployment_id) == ("selected", deployment_id)
    assert files.description == "one run per file"
    assert files.trigger.model_dump(mode="json")["match"] == {
        "vibepiper.resource.id": "bucket.raw.*"
    }
    assert files.actions[0].parameters == {
        "path": "{{ event.resource.id }}",
        "rows": "{{ event.payload.rows }}",
    }
    assert compacted.actions[0].parameters is None  # the deployment's
    assert compacted.trigger.model_dump(mode="json")["threshold"] == 2
    assert (compacted.enabled, emptied.enabled) == (True, False)
    assert emptied.actions[0].job_variables == {"env": {"A": "1"}}


def test_registering_again_replaces_them_and_fewer_triggers_remove_them(
    client: SyncVibePiperClient,
) -> None:
    name = unique("replace")
    two = [on_upload(), EventTrigger(expect={"bucket.compacted"})]
    deployment_id = ingest.to_deployment(name, triggers=two).apply(client)
    first = {a.id for a in owned(client, deployment_id)}
    assert len(first) == 2
    # an automation of the user's own that runs the deployment is not the deployment's
    mine = client.create_automation(
        AutomationCreate(
            name=unique("mine"),
            trigger=EventTrigger(expect={"my.event"}),
            actions=[RunDeployment(source="selected", deployment_id=deployment_id)],
        )
    )

    assert ingest.to_deployment(name, triggers=two).apply(client) == deployment_id
    again = owned(client, deployment_id)
    assert len(again) == 2 and not first & {a.id for a in again}  # replaced, not doubled

    ingest.to_deployment(name, triggers=[on_upload(name="only")]).apply(client)
    assert [a.name for a in owned(client, deployment_id)] == ["only"]

    ingest.to_deployment(name).apply(client)
    assert owned(client, deployment_id) == []
    assert client.read_automation(mine) is not None
    related = client.read_resource_related_automations(f"vibepiper.deployment.{deployment_id}")
    assert [a.id for a in related] == [mine]

    ingest.to_deployment(name, triggers=two).apply(client)
    assert len(owned(client, deployment_id)) == 2
    client.delete_deployment(deployment_id)  # its automations go with it
    assert owned(client, deployment_id) == []


def test_compound_and_metric_triggers_keep_their_kind(client: SyncVibePiperClient) -> None:
    name = unique("kinds")
    metric = MetricTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        metric={"name": "successes", "threshold": 0.5, "operator": "<", "range": 600},
    )
    compound = DeploymentCompoundTrigger(
        name="both",
        require="all",
        triggers=[EventTrigger(expect={"a.done"}), EventTrigger(expect={"b.done"})],
        within=dt.timedelta(hours=1),
        parameters={"rows": 2},
    )
    deployment_id = ingest.to_deployment(name, triggers=[metric, compound]).apply(client)

    by_name = {a.name: a for a in owned(client, deployment_id)}
    assert by_name["both"].trigger.type == "compound"
    assert by_name["both"].actions[0].parameters == {"rows": 2}
    assert by_name[f"{name}__automation_1"].trigger.type == "metric"


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (
            {"name": "soon", "within": "soon"},
            r"^deployment 'ingest/bad': triggers\[1\] \('soon'\): within: Input should be a "
            r"valid timedelta",
        ),
        ({"type": "cron"}, r"triggers\[1\]: type: 'cron' is not a trigger type"),
        ({"expect": ["x"], "bogus": 1}, r"triggers\[1\]: bogus: Extra inputs are not permitted"),
        (
            {"type": "compound", "require": "all", "triggers": [{"threshold": 0}]},
            r"triggers\[1\]: triggers\.0\.threshold: Input should be greater than or equal to 1",
        ),
    ],
)
def test_a_bad_trigger_is_one_line_naming_it_and_its_field(
    trigger: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        ingest.to_deployment("bad", triggers=[on_upload(), trigger])
    assert "\n" not in str(raised.value)


def test_what_is_no_trigger_is_refused() -> None:
    with pytest.raises(TypeError, match=r"triggers\[0\]: expected a trigger .* got str"):
        ingest.to_deployment("bad", triggers=["object.created"])
    with pytest.raises(TypeError, match="triggers must be a list of triggers"):
        ingest.to_deployment("bad", triggers=on_upload())


def test_a_trigger_refused_up_front_registers_nothing(client: SyncVibePiperClient) -> None:
    name = unique("loop")
    # every run the deployment starts would fire it again
    looping = DeploymentEventTrigger(
        name="every-run", match={"prefect.resource.id": "prefect.flow-run.*"}
    )
    with pytest.raises(ValueError, match=r"triggers\[0\] \('every-run'\): the trigger matches"):
        ingest.to_deployment(name, triggers=[looping]).apply(client)
    with pytest.raises(ObjectNotFound):
        client.read_deployment_by_name(f"ingest/{name}")

    # registering several: one bad trigger, and none is registered or changed
    good = ingest.to_deployment(name, triggers=[on_upload(name="kept")])
    deployment_id = good.apply(client)
    other = unique("other")
    with pytest.raises(ValueError, match=f"deployment 'ingest/{other}'"):
        register(
            client,
            [
                ingest.to_deployment(name, parameters={"rows": 5}),
                ingest.to_deployment(other, triggers=[looping]),
            ],
        )
    assert [a.name for a in owned(client, deployment_id)] == ["kept"]
    assert client.read_deployment(deployment_id).parameters == {}
    with pytest.raises(ObjectNotFound):
        client.read_deployment_by_name(f"ingest/{other}")


def test_flow_deploy_takes_triggers(api_target: str | None, client: SyncVibePiperClient) -> None:
    if api_target is None:
        pytest.skip("flow.deploy() needs a server (workers run its runs)")
    pool = unique("pool")
    client.create_work_pool(WorkPoolCreate(name=pool))
    name = unique("deployed")
    deployment_id = ingest.deploy(
        name, work_pool_name=pool, triggers=[on_upload()], print_next_steps=False
    )
    (automation,) = owned(client, deployment_id)
    assert automation.name == f"{name}__automation_1"
    assert automation.actions[0].deployment_id == deployment_id

    ingest.deploy(name, work_pool_name=pool, triggers=[], print_next_steps=False)
    assert owned(client, deployment_id) == []

"""vibepiper.events: the models' rules (Prefect's), `prefect.` aliasing, uuid7, emit_event."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from vibepiper import flow, task
from vibepiper.events import (
    Event,
    EventTooLarge,
    ReceivedEvent,
    RelatedResource,
    Resource,
    emit_event,
)
from vibepiper.schemas.events import MAX_LABELS_PER_RESOURCE, canonical, uuid7
from vibepiper.store.memory import MemoryStore

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"


def test_a_resource_needs_a_non_empty_id() -> None:
    with pytest.raises(ValidationError, match=r"must include the vibepiper\.resource\.id"):
        Resource({"a": "b"})
    with pytest.raises(ValidationError, match="must be non-empty"):
        Resource({ID: ""})
    resource = Resource({ID: "orders", "vibepiper.resource.name": "Orders"})
    assert (resource.id, resource.name, resource["vibepiper.resource.id"]) == (
        "orders",
        "Orders",
        "orders",
    )


def test_a_related_resource_needs_a_role() -> None:
    with pytest.raises(ValidationError, match=r"must include the vibepiper\.resource\.role"):
        RelatedResource({ID: "x"})
    with pytest.raises(ValidationError, match="role label must be non-empty"):
        RelatedResource({ID: "x", ROLE: ""})
    assert RelatedResource({ID: "x", ROLE: "source"}).role == "source"


def test_label_and_related_limits() -> None:
    labels = {f"l{i}": "v" for i in range(MAX_LABELS_PER_RESOURCE)}
    with pytest.raises(ValidationError, match="maximum number of labels per resource is 500"):
        Resource({ID: "x", **labels})
    related = [{ID: f"r{i}", ROLE: "r"} for i in range(501)]
    with pytest.raises(ValidationError, match="maximum number of related resources is 500"):
        Event(event="e", resource={ID: "x"}, related=related)
    assert len(Event(event="e", resource={ID: "x"}, related=related[:500]).related) == 500


def test_prefect_spellings_are_stored_as_vibepiper() -> None:
    event = Event(
        event="prefect.flow-run.Completed",
        resource={"prefect.resource.id": "prefect.flow-run.1", "prefect.resource.name": "n"},
        related=[{"prefect.resource.id": "prefect.flow.2", "prefect.resource.role": "flow"}],
    )
    assert event.event == "vibepiper.flow-run.Completed"
    assert event.resource.root == {ID: "vibepiper.flow-run.1", "vibepiper.resource.name": "n"}
    assert event.related[0].root == {ID: "vibepiper.flow.2", ROLE: "flow"}
    # read with either spelling
    assert event.resource["prefect.resource.name"] == "n"
    assert event.find_resource_label("related:flow:prefect.resource.id") == "vibepiper.flow.2"
    assert canonical("prefectish.x") == "prefectish.x"
    assert canonical("my.prefect.x") == "my.prefect.x"


def test_uuid7_ids_are_time_ordered_and_version_7() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}
    assert {i.variant for i in ids} == {uuid.RFC_4122}
    millis = ids[0].int >> 80
    assert abs(millis / 1000 - dt.datetime.now(dt.UTC).timestamp()) < 5
    assert Event(event="e", resource={ID: "x"}).id.version == 7


def test_received_event_has_received_time() -> None:
    received = ReceivedEvent(event="e", resource={ID: "x"})
    assert received.received.tzinfo is not None
    naive = Event(event="e", resource={ID: "x"}, occurred=dt.datetime(2024, 1, 1))
    assert naive.occurred == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_emit_event_records_in_the_store_and_returns_the_event(store: MemoryStore) -> None:
    event = emit_event(
        "orders.loaded",
        resource={"prefect.resource.id": "orders.2024"},
        payload={"rows": 3},
    )
    assert event is not None
    assert list(store.events) == [event]
    assert (event.event, event.resource.id, event.payload) == (
        "orders.loaded",
        "orders.2024",
        {"rows": 3},
    )


def test_follows_is_kept_only_within_five_minutes(store: MemoryStore) -> None:
    first = emit_event("a", resource={ID: "x"})
    assert first is not None
    close = emit_event("b", resource={ID: "x"}, follows=first)
    far = emit_event(
        "c", resource={ID: "x"}, follows=first, occurred=first.occurred + dt.timedelta(minutes=6)
    )
    assert close is not None and close.follows == first.id
    assert far is not None and far.follows is None


def test_too_large_raises_event_too_large(store: MemoryStore) -> None:
    with pytest.raises(EventTooLarge, match="more than the maximum of 1500000 bytes"):
        emit_event("big", resource={ID: "x"}, payload={"blob": "x" * 1_500_001})
    assert not store.events


def test_a_broken_store_does_not_raise(store: MemoryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(event: Event) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(store, "emit_event", fail)
    assert emit_event("a", resource={ID: "x"}) is not None


def test_inside_a_run_the_run_is_related(store: MemoryStore) -> None:
    @task(tags=["t1"])
    def inner() -> None:
        emit_event("inside.task", resource={ID: "thing"})

    @flow(name="outer-flow")
    def outer() -> None:
        emit_event("inside.flow", resource={ID: "thing"}, related=[{ID: "x", ROLE: "r"}])
        inner()

    outer()
    by_name = {event.event: event for event in store.events}
    flow_roles = [r.role for r in by_name["inside.flow"].related]
    assert flow_roles == ["r", "flow-run", "flow"]
    assert by_name["inside.flow"].resource_in_role["flow"].name == "outer-flow"
    task_related = by_name["inside.task"].resource_in_role
    assert set(task_related) == {"flow-run", "flow", "task-run", "tag"}
    assert task_related["tag"].id == "vibepiper.tag.t1"

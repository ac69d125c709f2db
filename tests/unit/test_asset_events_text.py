"""The engine writes asset events as text (`EncodedEvent`): the text must be the event
the model would make, whatever the names hold, and every store must take it."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from vibepiper import flow
from vibepiper.assets import Asset, AssetProperties, CheckResult, check, materialize
from vibepiper.schemas.encoded_events import EncodedEvent
from vibepiper.schemas.events import Event, RelatedResource, Resource
from vibepiper.store.memory import MemoryStore

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"
NAME = "vibepiper.resource.name"
AWKWARD = 'q"uote \\ back ünï ✓ \x01 end'


def test_an_encoded_event_is_the_event_its_parts_make() -> None:
    event_id = uuid.uuid4()
    encoded = EncodedEvent(
        str(event_id),
        "2026-12-07T03:15:47.123456+00:00",
        "vibepiper.asset.materialization.succeeded",
        "s3://b/x.csv",
        json.dumps({ID: "s3://b/x.csv", NAME: AWKWARD}),
        json.dumps([{ID: "vibepiper.flow-run.1", ROLE: "flow-run"}]),
        json.dumps({"metadata": {"rows": 3}}),
    )
    wire = encoded.wire()
    assert json.loads(json.dumps(wire)) == wire  # JSON-ready as it is
    assert encoded.to_event() == Event(
        occurred=dt.datetime(2026, 12, 7, 3, 15, 47, 123456, tzinfo=dt.UTC),
        event="vibepiper.asset.materialization.succeeded",
        resource=Resource({ID: "s3://b/x.csv", NAME: AWKWARD}),
        related=[RelatedResource({ID: "vibepiper.flow-run.1", ROLE: "flow-run"})],
        payload={"metadata": {"rows": 3}},
        id=event_id,
    )


def test_asset_events_with_awkward_names_reach_the_store_intact(store: MemoryStore) -> None:
    target = Asset("s3://bucket/awkward.csv", properties=AssetProperties(name=AWKWARD))
    upstream = "postgres://db/source"

    @materialize(target, by="tool", asset_deps=[upstream], task_run_name=AWKWARD)
    def build() -> int:
        return 1

    @check(target, name="positive")
    def positive(value: int) -> CheckResult:
        return CheckResult(value > 0, metadata={"note": AWKWARD})

    @flow(name=AWKWARD)
    def pipeline() -> int:
        return build()

    assert pipeline() == 1
    found = {event.event: event for event in store.events}
    assert set(found) == {
        "vibepiper.asset.referenced",
        "vibepiper.asset.materialization.succeeded",
        "vibepiper.asset.check.passed",
    }
    made = found["vibepiper.asset.materialization.succeeded"]
    assert made.resource.root == {ID: target.key, NAME: AWKWARD}
    roles = {related.role: related for related in made.related}
    assert roles["task-run"].name == AWKWARD
    assert roles["flow"].name == AWKWARD
    assert roles["asset"].id == upstream
    assert roles["asset-materialized-by"].id == "vibepiper.asset-materialized-by.tool"
    checked = found["vibepiper.asset.check.passed"]
    assert checked.payload["metadata"] == {"note": AWKWARD}
    assert [r.role for r in checked.related] == ["asset-check", "flow-run", "task-run", "flow"]
    referenced = found["vibepiper.asset.referenced"]
    assert referenced.resource.id == upstream
    assert referenced.related[0].id == target.key
    # one event each, each with its own id
    assert len({event.id for event in store.events}) == 3


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_a_failed_materialization_carries_its_error(store: MemoryStore, status: str) -> None:
    target = Asset(f"s3://bucket/{status}.csv")

    @materialize(target)
    def build() -> int:
        if status == "failed":
            raise ValueError("no rows")
        return 1

    @flow
    def pipeline() -> None:
        build(return_state=True)

    pipeline()
    (event,) = [e for e in store.events if e.event.startswith("vibepiper.asset.materialization")]
    assert event.event == f"vibepiper.asset.materialization.{status}"
    if status == "failed":
        assert "no rows" in event.payload["error"]
    else:
        assert "error" not in event.payload

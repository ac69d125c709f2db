"""vibepiper.assets end to end: flows that materialize assets, run checks and read
assets record the events of the assets contract (names, labels, roles, payloads) on the
run's store, read back through the events API. With no server (the embedded store, read
through the in-process API) and against real servers on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from vibepiper import flow, task
from vibepiper.assets import (
    Asset,
    AssetProperties,
    CheckResult,
    Freshness,
    add_asset_metadata,
    check,
    materialize,
)
from vibepiper.client import get_client
from vibepiper.context import TaskRunContext, get_run_context
from vibepiper.schemas.event_filters import EventFilter, EventResourceFilter
from vibepiper.schemas.events import ReceivedEvent
from vibepiper.states import State
from vibepiper.store import get_store

ID = "vibepiper.resource.id"


def _prefix() -> str:
    return f"s3://t-{uuid.uuid4().hex[:10]}/"


def _events(prefix: str) -> list[ReceivedEvent]:
    """The asset events about assets under `prefix`, oldest first."""
    get_store().flush()
    spec = EventFilter(resource=EventResourceFilter(id_prefix=[prefix]), order="ASC")
    with get_client(sync_client=True) as client:
        page = client.read_events(spec, limit=200)
    return [e for e in page.events if e.event.startswith("vibepiper.asset.")]


def _one(events: list[ReceivedEvent], name: str, key: str) -> ReceivedEvent:
    found = [e for e in events if e.event == name and e.resource.id == key]
    assert len(found) == 1, [(e.event, e.resource.id) for e in events]
    return found[0]


def _roles(event: ReceivedEvent) -> dict[str, list[str]]:
    return {role: [r.id for r in items] for role, items in event.resources_in_role.items()}


def test_materializations_checks_metadata_and_lineage(api_target: str | None) -> None:
    p = _prefix()
    raw = Asset(
        p + "raw.csv",
        properties=AssetProperties(name="Raw", url="https://x.example/raw", owners=["data"]),
        freshness=Freshness(within=dt.timedelta(hours=1), cron="0 6 * * *", timezone="UTC"),
    )
    clean_key, report_key, source_key = p + "clean.parquet", p + "report.html", p + "source"
    seen: dict[str, Any] = {}

    @materialize(raw, by="spark")
    def extract() -> list[int]:
        add_asset_metadata(raw, {"rows": 3, "at": dt.date(2026, 1, 2)})
        raw.add_metadata({"columns": ["n"]})
        return [1, 2, 3]

    @check(raw)
    def has_rows(rows: list[int]) -> bool:
        return len(rows) == 3

    @check(raw, name="sorted", severity="warn")
    def warns(rows: list[int], context: TaskRunContext) -> CheckResult:
        seen["context"] = context.task_run.name
        seen["current"] = get_run_context().task_run.name  # type: ignore[union-attr]
        metadata = {"unsorted": 1, "ratio": float("nan"), "text": "a\x00b"}
        return CheckResult(False, metadata=metadata, description="not sorted")

    @task(asset_deps=[source_key])
    def transform(rows: list[int]) -> list[int]:
        return [r * 2 for r in rows]

    @materialize(clean_key)
    def load(rows: list[int]) -> int:
        return sum(rows)

    @materialize(report_key, asset_deps=[raw])
    def report(total: int) -> str:
        return f"total {total}"

    @flow
    def pipeline() -> tuple[str, uuid.UUID]:
        rows = extract()
        total = load.submit(transform(rows))  # value, then a future
        return report(total), get_run_context().flow_run.id  # type: ignore[union-attr]

    text, flow_run_id = pipeline()
    assert text == "total 12"
    assert seen == {"context": "extract-0", "current": "extract-0"}
    events = _events(p)

    made = _one(events, "vibepiper.asset.materialization.succeeded", raw.key)
    assert made.resource.root == {
        ID: raw.key,
        "vibepiper.resource.name": "Raw",
        "vibepiper.asset.url": "https://x.example/raw",
        "vibepiper.asset.owners": '["data"]',
        "vibepiper.asset.freshness": json.dumps(
            {
                "within_seconds": 3600.0,
                "warn_within_seconds": None,
                "cron": "0 6 * * *",
                "timezone": "UTC",
            }
        ),
    }
    assert made.payload == {"metadata": {"rows": 3, "at": "2026-01-02", "columns": ["n"]}}
    roles = _roles(made)
    assert "asset" not in roles
    assert roles["asset-materialized-by"] == ["vibepiper.asset-materialized-by.spark"]
    assert roles["flow-run"] == [f"vibepiper.flow-run.{flow_run_id}"]
    assert roles["task-run"][0].startswith("vibepiper.task-run.")
    assert roles["flow"][0].startswith("vibepiper.flow.")
    assert made.resource_in_role["flow"].name == "pipeline"
    assert made.resource_in_role["task-run"].name == "extract-0"

    passed = _one(events, "vibepiper.asset.check.passed", raw.key)
    assert passed.payload == {
        "check": "has_rows",
        "severity": "error",
        "blocking": False,
        "description": None,
        "metadata": {},
    }
    assert _roles(passed)["asset-check"] == ["vibepiper.asset-check.has_rows"]
    assert _roles(passed)["task-run"] == roles["task-run"]
    warned = _one(events, "vibepiper.asset.check.failed", raw.key)
    assert warned.payload["severity"] == "warn"
    assert warned.payload["description"] == "not sorted"
    # NaN (which JSON has not) as its text; NUL (which PostgreSQL refuses) dropped
    assert warned.payload["metadata"] == {"unsorted": 1, "ratio": "NaN", "text": "ab"}

    # load read raw through a plain task (by value) and source (the task's asset_deps)
    loaded = _one(events, "vibepiper.asset.materialization.succeeded", clean_key)
    assert sorted(_roles(loaded)["asset"]) == sorted([raw.key, source_key])
    assert loaded.payload == {"metadata": {}}
    for key, labels in ((raw.key, raw.resource_labels()), (source_key, {ID: source_key})):
        ref = [
            e
            for e in events
            if e.event == "vibepiper.asset.referenced"
            and e.resource.id == key
            and clean_key in _roles(e)["asset"]
        ]
        assert len(ref) == 1, key
        assert ref[0].resource.root == labels
        assert _roles(ref[0])["flow-run"] == [f"vibepiper.flow-run.{flow_run_id}"]
    # report read clean (a future's value) and declared raw
    reported = _one(events, "vibepiper.asset.materialization.succeeded", report_key)
    assert sorted(_roles(reported)["asset"]) == sorted([clean_key, raw.key])


def test_a_blocking_check_fails_the_task_and_downstream_do_not_start(
    api_target: str | None,
) -> None:
    p = _prefix()
    orders, totals, by_future, unrelated = (p + n for n in ("orders", "totals", "fut", "other"))
    started: list[str] = []

    @materialize(orders)
    def load_orders() -> list[int]:
        return []

    @check(orders, blocking=True)
    def not_empty(rows: list[int]) -> CheckResult:
        return CheckResult(len(rows) > 0, description=f"{len(rows)} rows", metadata={"n": 0})

    @materialize(totals, asset_deps=[orders])
    def build_totals() -> int:
        started.append("totals")
        return 0

    @materialize(by_future)
    def from_future(rows: list[int]) -> int:
        started.append("future")
        return 0

    @materialize(unrelated)
    def other() -> int:
        started.append("other")
        return 1

    @flow
    def pipeline() -> dict[str, State[Any]]:
        first = load_orders.submit()
        first.wait()
        downstream = from_future.submit(first)  # inferred: it gets orders' future
        downstream.wait()
        return {
            "orders": first.state,
            "totals": build_totals(return_state=True),  # declared: asset_deps
            "future": downstream.state,
            "other": other(return_state=True),
        }

    states = pipeline()
    assert started == ["other"]
    failed = states["orders"]
    assert failed.is_failed()
    assert "Blocking check 'not_empty' failed on asset" in (failed.message or "")
    assert orders in (failed.message or "")
    for name in ("totals", "future"):
        assert states[name].name == "NotReady", states[name]
    assert "check 'not_empty' failed on asset" in (states["totals"].message or "")
    assert states["other"].is_completed()

    events = _events(p)
    made = _one(events, "vibepiper.asset.materialization.failed", orders)
    assert "not_empty" in made.payload["error"] and orders in made.payload["error"]
    assert made.payload["metadata"] == {}
    result = _one(events, "vibepiper.asset.check.failed", orders)
    assert result.payload == {
        "check": "not_empty",
        "severity": "error",
        "blocking": True,
        "description": "0 rows",
        "metadata": {"n": 0},
    }
    assert not [e for e in events if e.resource.id in (totals, by_future)]
    _one(events, "vibepiper.asset.materialization.succeeded", unrelated)


def test_a_failed_body_and_a_run_outside_flows(api_target: str | None) -> None:
    p = _prefix()
    broken, alone = p + "broken", p + "alone"

    @materialize(broken, retries=1, retry_delay_seconds=0)
    def always_broken() -> None:
        raise RuntimeError("disk full")

    @flow
    def pipeline() -> State[Any]:
        return always_broken(return_state=True)

    assert pipeline(return_state=True).is_failed()

    @materialize(alone)
    def outside() -> int:
        return 1

    assert outside() == 1
    events = _events(p)
    failed = _one(events, "vibepiper.asset.materialization.failed", broken)
    assert "disk full" in failed.payload["error"]
    made = _one(events, "vibepiper.asset.materialization.succeeded", alone)
    assert set(_roles(made)) == {"task-run"}


def test_cached_runs_materialize_nothing(api_target: str | None) -> None:
    p = _prefix()
    key = p + "cached"

    @materialize(key, cache_key_fn=lambda ctx, args: f"fixed-{key}")
    def build() -> list[int]:
        return [1]

    @materialize(p + "uses-cached")
    def use(value: list[int]) -> int:
        return value[0] + 1

    @flow
    def pipeline() -> int:
        return use(build())

    assert pipeline() == 2
    assert pipeline() == 2  # build is a cache hit: its value still carries its asset
    events = _events(p)
    assert sorted(e.event for e in events if e.resource.id == key) == [
        "vibepiper.asset.materialization.succeeded",
        "vibepiper.asset.referenced",
        "vibepiper.asset.referenced",
    ]
    uses = [e for e in events if e.resource.id == p + "uses-cached"]
    assert len(uses) == 2
    assert all(_roles(e)["asset"] == [key] for e in uses)


def test_a_retry_that_passes_its_checks_unblocks_downstream(api_target: str | None) -> None:
    p = _prefix()
    flaky, after = p + "flaky", p + "after"
    attempts: list[int] = []

    @materialize(flaky, retries=1, retry_delay_seconds=0)
    def load() -> int:
        attempts.append(1)
        return len(attempts)

    @check(flaky, blocking=True)
    def second_time_lucky(value: int) -> bool:
        return value == 2

    @materialize(after, asset_deps=[flaky])
    def downstream() -> str:
        return "ran"

    @flow
    def pipeline() -> str:
        load()
        return downstream()

    assert pipeline() == "ran"
    events = _events(p)
    made = [e.event for e in events if e.resource.id == flaky and "referenced" not in e.event]
    assert sorted(made) == [
        "vibepiper.asset.check.failed",  # the first attempt's
        "vibepiper.asset.check.passed",
        "vibepiper.asset.materialization.succeeded",
    ]
    _one(events, "vibepiper.asset.materialization.succeeded", after)

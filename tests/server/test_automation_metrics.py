"""Metric triggers over a real app on SQLite and PostgreSQL (its loops off: the test runs
the evaluator's passes and moves its clock): the success rate of one flow's runs fires
once the breach has lasted `firing_for`, resolves when it recovers, each measurement is
taken by one of two evaluators, and the dry run over the stored runs says the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import ok

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"


def _finished_run(api: ApiClient, flow_id: str, state: str, ended: dt.datetime) -> str:
    run = ok(api.post("/api/flow_runs/", json={"flow_id": flow_id}), 201)
    url = f"/api/flow_runs/{run['id']}/set_state"
    started = ended - dt.timedelta(seconds=30)
    for kind, at in (("RUNNING", started), (state, ended)):
        body = {"state": {"type": kind, "timestamp": at.isoformat()}, "force": True}
        assert ok(api.post(url, json=body))["status"] == "ACCEPT"
    return str(run["id"])


def _evaluate(api: ApiClient, now: dt.datetime, evaluator: Any = None) -> int:
    from vibepiper.server.services.triggers import evaluator as shared

    chosen = evaluator or shared(api.database)
    chosen.changed()
    fired: int = api.portal.call(lambda: chosen.one_pass(now))
    return fired


def _events(api: ApiClient, name: str, automation_id: str) -> list[dict[str, Any]]:
    resource = f"vibepiper.automation.{automation_id}"
    spec = {"event": {"name": [name]}, "resource": {"id": [resource]}}
    page = ok(api.post("/api/events/filter", json={"filter": spec, "limit": 50}))
    events: list[dict[str, Any]] = page["events"]
    return events


@pytest.fixture
def success_rate(quiet: ApiClient) -> Iterator[tuple[dict[str, Any], str]]:
    """An automation on the success rate of a new flow's runs (below 50% for 60 s over
    10 minutes); deleted afterwards, so no later pass measures it."""
    flow_id = ok(quiet.post("/api/flows/", json={"name": unique("nightly")}), 201)["id"]
    body = {
        "name": unique("success-rate"),
        "trigger": {
            "type": "metric",
            "match": {ID: "vibepiper.flow-run.*"},
            "match_related": {ID: f"vibepiper.flow.{flow_id}", ROLE: "flow"},
            "metric": {
                "name": "successes",
                "operator": "<",
                "threshold": 0.5,
                "range": 600,
                "firing_for": 60,
            },
        },
        "actions": [{"type": "do-nothing"}],
        "actions_on_resolve": [{"type": "do-nothing"}],
    }
    automation = ok(quiet.post("/api/automations/", json=body), 201)
    yield automation, flow_id
    quiet.request("DELETE", f"/api/automations/{automation['id']}")


def test_a_success_rate_fires_after_firing_for_and_resolves_when_it_recovers(
    quiet: ApiClient, success_rate: tuple[dict[str, Any], str]
) -> None:
    api = quiet
    automation, flow_id = success_rate
    other_flow = ok(api.post("/api/flows/", json={"name": unique("other")}), 201)["id"]
    t0 = dt.datetime.now(dt.UTC)
    _finished_run(api, flow_id, "COMPLETED", t0 - dt.timedelta(seconds=50))
    _finished_run(api, flow_id, "FAILED", t0 - dt.timedelta(seconds=40))
    _finished_run(api, flow_id, "FAILED", t0 - dt.timedelta(seconds=30))
    for _ in range(3):  # another flow's successes are not this trigger's runs
        _finished_run(api, other_flow, "COMPLETED", t0 - dt.timedelta(seconds=20))

    _evaluate(api, t0)  # starts breaching: 1 of 3 completed
    assert _events(api, "vibepiper.automation.triggered", automation["id"]) == []
    _evaluate(api, t0 + dt.timedelta(seconds=30))
    assert _events(api, "vibepiper.automation.triggered", automation["id"]) == []
    _evaluate(api, t0 + dt.timedelta(seconds=61))
    [triggered] = _events(api, "vibepiper.automation.triggered", automation["id"])
    assert triggered["resource"]["vibepiper.trigger-type"] == "metric"
    _evaluate(api, t0 + dt.timedelta(seconds=70))  # still breaching: fires once per breach
    assert len(_events(api, "vibepiper.automation.triggered", automation["id"])) == 1

    for seconds in (10, 12, 14):
        _finished_run(api, flow_id, "COMPLETED", t0 + dt.timedelta(seconds=seconds))
    _evaluate(api, t0 + dt.timedelta(seconds=80))  # 4 of 6: recovered
    assert len(_events(api, "vibepiper.automation.resolved", automation["id"])) == 1

    log = ok(api.get(f"/api/automations/{automation['id']}/log"))
    messages = [entry["message"] for entry in reversed(log)]
    assert any(m.startswith("successes 0.333 (breaches at < 0.5)") for m in messages), messages
    assert any("fired" in m for m in messages)
    assert any("no longer breaching: resolved" in m for m in messages)

    from vibepiper.server.services.automation_runner import one_pass

    api.portal.call(lambda: one_pass(api.database))
    actions = ok(api.get(f"/api/automations/{automation['id']}/actions"))
    assert sorted(run["status"] for run in actions) == ["done", "done"]


def test_two_evaluators_take_each_measurement_once(
    quiet: ApiClient, success_rate: tuple[dict[str, Any], str]
) -> None:
    import asyncio

    from vibepiper.server.services.triggers import Evaluator

    api = quiet
    automation, flow_id = success_rate
    t0 = dt.datetime.now(dt.UTC)
    _finished_run(api, flow_id, "FAILED", t0 - dt.timedelta(seconds=10))
    first, second = Evaluator(api.database), Evaluator(api.database)
    _evaluate(api, t0, first)
    _evaluate(api, t0, second)
    later = t0 + dt.timedelta(seconds=90)

    async def both() -> list[int]:
        return list(await asyncio.gather(first.one_pass(later), second.one_pass(later)))

    api.portal.call(both)
    assert len(_events(api, "vibepiper.automation.triggered", automation["id"])) == 1


def test_the_dry_run_replays_the_stored_runs(
    quiet: ApiClient, success_rate: tuple[dict[str, Any], str]
) -> None:
    api = quiet
    automation, flow_id = success_rate
    now = dt.datetime.now(dt.UTC)
    for minutes in range(50, 30, -2):  # failures from 50 to 32 minutes ago
        _finished_run(api, flow_id, "FAILED", now - dt.timedelta(minutes=minutes))
    for minutes in range(30, 0, -2):  # then successes
        _finished_run(api, flow_id, "COMPLETED", now - dt.timedelta(minutes=minutes))
    since = (now - dt.timedelta(hours=1)).isoformat()
    replayed = ok(api.post(f"/api/automations/{automation['id']}/replay", json={"since": since}))
    assert replayed["runs_read"] == 25
    assert [f["decision"] for f in replayed["firings"]] == ["triggered", "resolved"]
    assert "breaching since" in replayed["firings"][0]["why"]
    # nothing was run or recorded
    assert _events(api, "vibepiper.automation.triggered", automation["id"]) == []

    bad = api.post(f"/api/automations/{automation['id']}/replay", json={"since": "yesterday"})
    assert bad.status_code == 422
    event_trigger = {"name": unique("evt"), "trigger": {"expect": ["x"]}, "actions": []}
    other = ok(api.post("/api/automations/", json=event_trigger), 201)
    refused = api.post(f"/api/automations/{other['id']}/replay", json={"since": since})
    assert refused.status_code == 422
    assert "not a metric trigger" in refused.text
    missing = api.post(
        "/api/automations/00000000-0000-0000-0000-000000000001/replay", json={"since": since}
    )
    assert missing.status_code == 404

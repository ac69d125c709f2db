"""The automations' evaluator over a real app on SQLite and PostgreSQL (its loops off:
the test runs the passes, and moves the clock for proactive windows): events counted
into buckets, firings recorded once with their events and log, actions queued and
carried out, and two evaluators (two replicas) never firing twice on one event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import ok

ID = "vibepiper.resource.id"


def _automation(api: ApiClient, trigger: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": unique("auto"), "trigger": trigger, "actions": [{"type": "do-nothing"}]}
    created: dict[str, Any] = ok(api.post("/api/automations/", json={**body, **fields}), 201)
    return created


def _emit(api: ApiClient, name: str, resource: str, **fields: Any) -> str:
    event_id = str(uuid.uuid4())
    event = {
        "id": event_id,
        "event": name,
        "resource": {ID: resource},
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        **fields,
    }
    assert api.post("/api/events", json=[event]).status_code == 204
    return event_id


def _evaluate(api: ApiClient, evaluator: Any = None, now: dt.datetime | None = None) -> int:
    from vibepiper.server.services.triggers import Evaluator
    from vibepiper.server.services.triggers import evaluator as shared

    chosen = evaluator or shared(api.database)
    assert isinstance(chosen, Evaluator)
    chosen.changed()
    fired: int = api.portal.call(lambda: chosen.one_pass(now))
    return fired


def _run_actions(api: ApiClient) -> int:
    from vibepiper.server.services.automation_runner import one_pass

    done: int = api.portal.call(lambda: one_pass(api.database))
    return done


def _events(api: ApiClient, name: str, resource: str) -> list[dict[str, Any]]:
    spec = {"event": {"name": [name]}, "resource": {"id": [resource]}}
    page = ok(api.post("/api/events/filter", json={"filter": spec, "limit": 50}))
    events: list[dict[str, Any]] = page["events"]
    return events


def test_a_threshold_fires_once_per_bucket_and_says_why_until_then(quiet: ApiClient) -> None:
    api = quiet
    kind = unique("orders")
    automation = _automation(
        api,
        {
            "expect": [f"{kind}.failed"],
            "match": {ID: f"{kind}.*"},
            "for_each": [ID],
            "threshold": 2,
            "within": 60,
        },
    )
    _evaluate(api)  # the evaluator starts reading from now
    _emit(api, f"{kind}.failed", f"{kind}.a")
    _emit(api, f"{kind}.failed", f"{kind}.b")
    _emit(api, f"{kind}.shipped", f"{kind}.a")
    assert _evaluate(api) == 0
    _emit(api, f"{kind}.failed", f"{kind}.a")
    assert _evaluate(api) == 1
    assert _evaluate(api) == 0  # the same events are never evaluated twice

    resource = f"vibepiper.automation.{automation['id']}"
    [triggered] = _events(api, "vibepiper.automation.triggered", resource)
    assert triggered["payload"]["triggering_labels"] == {ID: f"{kind}.a"}
    assert triggered["payload"]["triggering_event"]["resource"][ID] == f"{kind}.a"
    log = ok(api.get(f"/api/automations/{automation['id']}/log"))
    messages = [entry["message"] for entry in reversed(log)]
    assert any("1 of 2" in m for m in messages)
    assert any(m.startswith("triggered: 1 action") for m in messages)

    assert _run_actions(api) == 1
    [run] = ok(api.get(f"/api/automations/{automation['id']}/actions"))
    assert (run["status"], run["attempts"], run["action"]["type"]) == ("done", 1, "do-nothing")
    [executed] = _events(api, "vibepiper.automation.action.executed", resource)
    assert executed["payload"]["action_type"] == "do-nothing"


def test_a_proactive_trigger_fires_when_the_expected_event_does_not_come(
    quiet: ApiClient,
) -> None:
    api = quiet
    kind = unique("job")
    automation = _automation(
        api,
        {
            "match": {ID: f"{kind}.*"},
            "after": [f"{kind}.started"],
            "expect": [f"{kind}.finished"],
            "for_each": [ID],
            "posture": "Proactive",
            "within": 60,
        },
        actions_on_resolve=[{"type": "do-nothing"}],
    )
    _evaluate(api)
    _emit(api, f"{kind}.started", f"{kind}.late")
    _emit(api, f"{kind}.started", f"{kind}.prompt")
    _emit(api, f"{kind}.finished", f"{kind}.prompt")
    assert _evaluate(api) == 0
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
    assert _evaluate(api, now=later) == 1  # only the job that never finished
    resource = f"vibepiper.automation.{automation['id']}"
    [triggered] = _events(api, "vibepiper.automation.triggered", resource)
    assert triggered["payload"]["triggering_labels"] == {ID: f"{kind}.late"}

    _emit(api, f"{kind}.finished", f"{kind}.late")
    assert _evaluate(api) == 1
    assert len(_events(api, "vibepiper.automation.resolved", resource)) == 1
    _run_actions(api)
    runs = ok(api.get(f"/api/automations/{automation['id']}/actions"))
    assert sorted(r["status"] for r in runs) == ["done", "done"]


def test_two_evaluators_never_fire_twice_on_one_event(quiet: ApiClient) -> None:
    from vibepiper.server.services.triggers import Evaluator

    api = quiet
    kind = unique("alarm")
    automation = _automation(api, {"expect": [f"{kind}.rang"]})
    first, second = Evaluator(api.database), Evaluator(api.database)
    _evaluate(api, first)
    _evaluate(api, second)
    for _ in range(5):
        _emit(api, f"{kind}.rang", f"{kind}.bell")

    async def both() -> list[int]:
        import asyncio

        return list(await asyncio.gather(first.one_pass(), second.one_pass()))

    fired = api.portal.call(both)
    assert sum(fired) == 5
    resource = f"vibepiper.automation.{automation['id']}"
    assert len(_events(api, "vibepiper.automation.triggered", resource)) == 5


def test_disabled_and_changed_automations(quiet: ApiClient) -> None:
    api = quiet
    kind = unique("door")
    automation = _automation(api, {"expect": [f"{kind}.opened"], "threshold": 2, "within": 60})
    _evaluate(api)
    _emit(api, f"{kind}.opened", f"{kind}.front")
    _evaluate(api)
    path = f"/api/automations/{automation['id']}"
    assert api.request("PATCH", path, json={"enabled": False}).status_code == 204
    _emit(api, f"{kind}.opened", f"{kind}.front")
    _emit(api, f"{kind}.opened", f"{kind}.front")
    assert _evaluate(api) == 0  # off: nothing counts
    assert api.request("PATCH", path, json={"enabled": True}).status_code == 204
    _emit(api, f"{kind}.opened", f"{kind}.front")
    assert _evaluate(api) == 0  # turning it off forgot the earlier count
    _emit(api, f"{kind}.opened", f"{kind}.front")
    assert _evaluate(api) == 1


def test_an_inferred_pause_automation_pauses_the_automation_itself(quiet: ApiClient) -> None:
    api = quiet
    kind = unique("pause")
    automation = _automation(
        api,
        {"expect": [f"{kind}.now"]},
        actions=[{"type": "pause-automation", "source": "inferred"}],
    )
    _evaluate(api)
    _emit(api, f"{kind}.now", f"{kind}.x")
    assert _evaluate(api) == 1
    _run_actions(api)
    [run] = ok(api.get(f"/api/automations/{automation['id']}/actions"))
    # inferred from an event about no automation: the automation pauses itself (Prefect)
    assert run["status"] == "done", run
    assert ok(api.get(f"/api/automations/{automation['id']}"))["enabled"] is False


def test_a_compound_trigger_fires_once_all_its_triggers_have(quiet: ApiClient) -> None:
    api = quiet
    kind = unique("both")
    automation = _automation(
        api,
        {
            "type": "compound",
            "require": "all",
            "within": 60,
            "triggers": [
                {"expect": [f"{kind}.extracted"]},
                {"expect": [f"{kind}.validated"]},
            ],
        },
    )
    _evaluate(api)
    _emit(api, f"{kind}.extracted", f"{kind}.file")
    _emit(api, f"{kind}.extracted", f"{kind}.file")
    assert _evaluate(api) == 0
    _emit(api, f"{kind}.validated", f"{kind}.file")
    assert _evaluate(api) == 1
    resource = f"vibepiper.automation.{automation['id']}"
    [triggered] = _events(api, "vibepiper.automation.triggered", resource)
    assert triggered["resource"]["vibepiper.trigger-type"] == "compound"
    log = [e["message"] for e in ok(api.get(f"/api/automations/{automation['id']}/log"))]
    assert any("compound: 1 of 2" in m for m in log)
    _emit(api, f"{kind}.validated", f"{kind}.file")  # the firing used up both
    assert _evaluate(api) == 0


def test_a_sequence_trigger_fires_only_in_order(quiet: ApiClient) -> None:
    api = quiet
    kind = unique("steps")
    _automation(
        api,
        {
            "type": "sequence",
            "within": 60,
            "triggers": [{"expect": [f"{kind}.first"]}, {"expect": [f"{kind}.second"]}],
        },
    )
    _evaluate(api)
    _emit(api, f"{kind}.second", f"{kind}.x")
    assert _evaluate(api) == 0
    _emit(api, f"{kind}.first", f"{kind}.x")
    assert _evaluate(api) == 0  # second came before first: not in order
    _emit(api, f"{kind}.second", f"{kind}.x")
    assert _evaluate(api) == 1


def test_an_evaluator_behind_by_more_than_its_look_back_still_takes_every_event(
    quiet: ApiClient,
) -> None:
    import time

    from vibepiper.server.services.triggers import LATE_COMMIT, PAGE, Evaluator

    api = quiet
    kind = unique("burst")
    automation = _automation(api, {"expect": [f"{kind}.tick"]})
    late = Evaluator(api.database)
    _evaluate(api, late)

    def burst(count: int) -> None:
        events = [
            {
                "id": str(uuid.uuid4()),
                "event": f"{kind}.tick",
                "resource": {ID: f"{kind}.r{i}"},
                "occurred": dt.datetime.now(dt.UTC).isoformat(),
            }
            for i in range(count)
        ]
        assert api.post("/api/events", json=events).status_code == 204

    burst(PAGE + 100)
    time.sleep(LATE_COMMIT.total_seconds() + 0.5)  # the evaluator is now far behind
    burst(PAGE + 100)
    fired = sum(_evaluate(api, late) for _ in range(6))
    assert fired == 2 * (PAGE + 100)
    spec = {
        "event": {"name": ["vibepiper.automation.triggered"]},
        "resource": {"id": [f"vibepiper.automation.{automation['id']}"]},
    }
    page = ok(api.post("/api/events/filter", json={"filter": spec, "limit": 1}))
    assert page["total"] == 2 * (PAGE + 100)


def test_last_firings_answers_for_many_automations_in_one_call(quiet: ApiClient) -> None:
    api = quiet
    kind = unique("bell")
    fired = _automation(api, {"expect": [f"{kind}.rang"]})
    never = _automation(api, {"expect": [f"{kind}.never"]})
    _emit(api, f"{kind}.rang", f"{kind}.door")
    for _ in range(10):  # the shared evaluator may be behind the earlier tests' events
        _evaluate(api)
    answer = ok(api.post("/api/automations/last-firings", json={"ids": [fired["id"], never["id"]]}))
    assert [entry["automation_id"] for entry in answer] == [fired["id"]]
    [triggered] = _events(
        api, "vibepiper.automation.triggered", f"vibepiper.automation.{fired['id']}"
    )
    assert abs(
        dt.datetime.fromisoformat(answer[0]["occurred"])
        - dt.datetime.fromisoformat(triggered["occurred"])
    ) < dt.timedelta(seconds=5)
    too_many = {"ids": [str(uuid.uuid4()) for _ in range(201)]}
    assert api.post("/api/automations/last-firings", json=too_many).status_code == 422

"""`/api/automations` over a real app on SQLite and PostgreSQL: Prefect's routes, the
checks made before an automation is saved, and a deployment's automations deleted with
it."""

from __future__ import annotations

import uuid
from typing import Any

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import deploy, ok

FAILED = {
    "type": "event",
    "match": {"prefect.resource.id": "prefect.flow-run.*"},
    "expect": ["prefect.flow-run.Failed"],
    "posture": "Reactive",
    "threshold": 1,
    "within": 0,
}


def _body(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique("auto"),
        "trigger": FAILED,
        "actions": [{"type": "do-nothing"}],
        **fields,
    }


def _errors(response: Any) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["detail"])


def test_an_automation_is_created_read_replaced_switched_and_deleted(api: ApiClient) -> None:
    created = ok(api.post("/api/automations/", json=_body(tags=["ops"])), 201)
    automation_id = created["id"]
    # stored canonically: Prefect's label keys and event names read as ours
    assert created["trigger"]["match"] == {"vibepiper.resource.id": "vibepiper.flow-run.*"}
    assert created["trigger"]["expect"] == ["vibepiper.flow-run.Failed"]
    assert created["enabled"] is True and created["tags"] == ["ops"]
    assert ok(api.get(f"/api/automations/{automation_id}"))["name"] == created["name"]

    replaced = _body(name=created["name"], description="paged", enabled=False)
    assert api.request("PUT", f"/api/automations/{automation_id}", json=replaced).status_code == 204
    after = ok(api.get(f"/api/automations/{automation_id}"))
    assert (after["description"], after["enabled"], after["tags"]) == ("paged", False, [])
    assert after["created"] == created["created"]

    patch = api.request("PATCH", f"/api/automations/{automation_id}", json={"enabled": True})
    assert patch.status_code == 204
    assert ok(api.get(f"/api/automations/{automation_id}"))["enabled"] is True

    assert api.delete(f"/api/automations/{automation_id}").status_code == 204
    assert api.get(f"/api/automations/{automation_id}").status_code == 404
    assert api.delete(f"/api/automations/{automation_id}").status_code == 404
    missing = api.request("PUT", f"/api/automations/{uuid.uuid4()}", json=_body())
    assert missing.status_code == 404


def test_filter_and_count_as_prefects_client_asks(api: ApiClient) -> None:
    tag = unique("tag")
    names = sorted(unique("filtered") for _ in range(3))
    ids = [
        ok(api.post("/api/automations/", json=_body(name=n, tags=[tag])), 201)["id"] for n in names
    ]
    api.request("PATCH", f"/api/automations/{ids[0]}", json={"enabled": False})
    by_tag = {"automations": {"tags": {"all_": [tag]}}}
    found = ok(api.post("/api/automations/filter", json=by_tag))
    assert [a["name"] for a in found] == names  # NAME_ASC by default
    desc = ok(api.post("/api/automations/filter", json={**by_tag, "sort": "NAME_DESC"}))
    assert [a["name"] for a in desc] == names[::-1]
    page = ok(api.post("/api/automations/filter", json={**by_tag, "limit": 1, "offset": 1}))
    assert [a["name"] for a in page] == names[1:2]
    by_name = {"automations": {"name": {"any_": [names[2]]}, "created": None}}
    assert [a["id"] for a in ok(api.post("/api/automations/filter", json=by_name))] == ids[2:]
    enabled = {"automations": {"tags": {"all_": [tag]}, "enabled": {"eq_": True}}}
    assert ok(api.post("/api/automations/count", json=enabled)) == 2
    assert ok(api.post("/api/automations/count", json=by_tag)) == 3
    bad = api.post("/api/automations/filter", json={"sort": "SIDEWAYS"})
    assert bad.status_code == 422


def test_bad_automations_are_refused_naming_the_field(api: ApiClient) -> None:
    assert "threshold" in _errors(
        api.post("/api/automations/", json=_body(trigger={**FAILED, "threshold": 0}))
    )
    proactive = {**FAILED, "posture": "Proactive", "within": 5}
    assert "within" in _errors(api.post("/api/automations/", json=_body(trigger=proactive)))
    selected = [{"type": "run-deployment", "source": "selected"}]
    assert "deployment_id is required" in _errors(
        api.post("/api/automations/", json=_body(actions=selected))
    )
    ghost = str(uuid.uuid4())
    missing = [{"type": "run-deployment", "deployment_id": ghost}]
    detail = _errors(api.post("/api/automations/", json=_body(actions=missing)))
    assert f"no deployment has id {ghost}" in detail and "actions" in detail
    note = [{"type": "send-notification", "block_document_id": ghost, "body": "{{ event.id }}"}]
    assert "no block document" in _errors(
        api.post("/api/automations/", json=_body(actions_on_trigger=note))
    )
    broken = [{"type": "change-flow-run-state", "state": "COMPLETED", "message": "{{ oops"}]
    assert "message" in _errors(api.post("/api/automations/", json=_body(actions=broken)))
    unknown = [{"type": "change-flow-run-state", "state": "COMPLETED", "message": "{{ secrets }}"}]
    assert "secrets" in _errors(api.post("/api/automations/", json=_body(actions=unknown)))
    assert "bogus" in _errors(api.post("/api/automations/", json=_body(bogus=1)))


def test_an_automation_that_would_trigger_itself_is_refused(api: ApiClient) -> None:
    own_events = {
        "type": "event",
        "match": {"prefect.resource.id": "prefect.automation.*"},
        "expect": ["prefect.automation.action.executed"],
        "posture": "Reactive",
    }
    detail = _errors(api.post("/api/automations/", json=_body(trigger=own_events)))
    assert "trigger" in detail


def test_a_deployments_automations_are_related_to_it_and_deleted_with_it(
    api: ApiClient,
) -> None:
    deployment = deploy(api)
    resource = f"prefect.deployment.{deployment['id']}"
    owned = ok(
        api.post(
            "/api/automations/",
            json=_body(
                owner_resource=resource,
                actions=[{"type": "run-deployment", "deployment_id": deployment["id"]}],
            ),
        ),
        201,
    )
    acting = ok(
        api.post(
            "/api/automations/",
            json=_body(actions=[{"type": "pause-deployment", "deployment_id": deployment["id"]}]),
        ),
        201,
    )
    assert owned["owner_resource"] == f"vibepiper.deployment.{deployment['id']}"
    related = ok(api.get(f"/api/automations/related-to/{resource}"))
    assert {a["id"] for a in related} == {owned["id"], acting["id"]}

    assert api.delete(f"/api/deployments/{deployment['id']}").status_code == 204
    assert api.get(f"/api/automations/{owned['id']}").status_code == 404
    assert api.get(f"/api/automations/{acting['id']}").status_code == 200

    other = ok(api.post("/api/automations/", json=_body(owner_resource="vibepiper.thing.x")), 201)
    gone = api.delete("/api/automations/owned-by/prefect.thing.x")
    assert gone.status_code == 202
    assert api.get(f"/api/automations/{other['id']}").status_code == 404

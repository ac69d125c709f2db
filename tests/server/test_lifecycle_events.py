"""Events the server emits besides run states, on SQLite and PostgreSQL: deployments,
work pools and queues created, updated and deleted; their readiness (a poll makes them
ready, silence not ready, a pause paused), each status change once; concurrency slots
acquired and released."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import deploy, new_pool, ok


def _events(api: ApiClient, **spec: Any) -> list[dict[str, Any]]:
    spec.setdefault("order", "ASC")
    page = ok(api.post("/api/events/filter", json={"filter": spec, "limit": 200}))
    events: list[dict[str, Any]] = page["events"]
    return events


def _of(api: ApiClient, resource_id: str) -> list[str]:
    return [e["event"] for e in _events(api, resource={"id": [resource_id]})]


async def _readiness_pass_of(api: ApiClient) -> int:
    from vibepiper.server.services import lifecycle_events

    async with api.database.write() as connection:
        return await lifecycle_events.update_all_readiness(connection)


def test_pool_queue_and_deployment_lifecycle_and_readiness(quiet: ApiClient) -> None:
    api = quiet
    pool_name = new_pool(api)
    pool = ok(api.get(f"/api/work_pools/{pool_name}"))
    pool_resource = f"vibepiper.work-pool.{pool['id']}"
    assert _of(api, pool_resource) == [
        "vibepiper.work-pool.created",
        "vibepiper.work-pool.not-ready",
    ]
    queue = ok(api.post(f"/api/work_pools/{pool_name}/queues", json={"name": "q2"}), 201)
    queue_resource = f"vibepiper.work-queue.{queue['id']}"
    assert _of(api, queue_resource) == [
        "vibepiper.work-queue.created",
        "vibepiper.work-queue.not-ready",
    ]
    deployment = deploy(api, work_pool_name=pool_name)
    deployment_resource = f"vibepiper.deployment.{deployment['id']}"
    # a new deployment starts not ready, as in Prefect, without an event: a readiness
    # pass before any worker polled says nothing (an alert on not-ready stays quiet)
    assert api.portal.call(_readiness_pass_of, api) == 0
    assert _of(api, deployment_resource) == ["vibepiper.deployment.created"]

    # a worker polls: the pool, its queues and deployments become ready, once
    body = {"worker_name": unique("w"), "work_pool_name": pool_name}
    for _ in range(2):
        ok(api.post("/api/workers/claim", json=body))
    assert _of(api, pool_resource)[-1] == "vibepiper.work-pool.ready"
    assert _of(api, pool_resource).count("vibepiper.work-pool.ready") == 1
    assert _of(api, queue_resource)[-1] == "vibepiper.work-queue.ready"
    assert _of(api, deployment_resource) == [
        "vibepiper.deployment.created",
        "vibepiper.deployment.ready",
    ]
    ready = _events(api, resource={"id": [pool_resource]})[-1]
    not_ready = _events(api, resource={"id": [pool_resource]})[-2]
    assert ready["follows"] == not_ready["id"]
    assert ready["payload"] == {"status": "READY", "previous_status": "NOT_READY"}
    assert ready["resource"]["vibepiper.work-pool.type"] == pool["type"]

    # paused, resumed, and silent for over a minute
    ok(api.post(f"/api/work_pools/{pool_name}/pause"))
    assert _of(api, pool_resource)[-2:] == [
        "vibepiper.work-pool.updated",
        "vibepiper.work-pool.paused",
    ]
    ok(api.post(f"/api/work_pools/{pool_name}/resume"))
    assert _of(api, pool_resource)[-1] == "vibepiper.work-pool.ready"

    async def later() -> int:
        async with api.database.write() as connection:
            from vibepiper.server.services import lifecycle_events

            now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
            moved = 0
            for kind in ("work-pool", "work-queue", "deployment"):
                moved += await lifecycle_events.update_readiness(connection, kind, now)  # type: ignore[arg-type]
            return moved

    assert api.portal.call(later) >= 3
    assert _of(api, pool_resource)[-1] == "vibepiper.work-pool.not-ready"
    assert _of(api, deployment_resource)[-1] == "vibepiper.deployment.not-ready"

    assert api.portal.call(later) == 0  # a status changes once: no second not-ready
    assert _of(api, pool_resource).count("vibepiper.work-pool.not-ready") == 2

    ok(api.request("PATCH", f"/api/deployments/{deployment['id']}", json={"description": "new"}))
    updated = _events(
        api,
        resource={"id": [deployment_resource]},
        event={"name": ["vibepiper.deployment.updated"]},
    )
    assert updated[-1]["payload"] == {"updated_fields": ["description"]}
    assert api.delete(f"/api/deployments/{deployment['id']}").status_code == 204
    assert _of(api, deployment_resource)[-1] == "vibepiper.deployment.deleted"
    assert api.delete(f"/api/work_pools/{pool_name}/queues/q2").status_code == 204
    assert _of(api, queue_resource)[-1] == "vibepiper.work-queue.deleted"


def test_concurrency_slots_acquired_and_released(api: ApiClient) -> None:
    name = unique("limit")
    limit = ok(api.post("/api/concurrency_limits/", json={"name": name, "limit": 2}), 201)
    grant = ok(
        api.post(
            "/api/concurrency_limits/acquire",
            json={"names": [name], "occupy": 2, "holder": "test:1"},
        )
    )
    assert grant["granted"] is True
    assert api.delete(f"/api/concurrency_leases/{grant['lease_id']}").status_code == 204
    events = _events(api, resource={"id": [f"vibepiper.concurrency-limit.{limit['id']}"]})
    assert [e["event"] for e in events] == [
        "vibepiper.concurrency-limit.acquired",
        "vibepiper.concurrency-limit.released",
    ]
    assert events[0]["payload"] == {"lease_id": grant["lease_id"], "slots": 2, "holder": "test:1"}
    assert events[1]["resource"]["vibepiper.resource.name"] == name

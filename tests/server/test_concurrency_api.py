"""`/api/concurrency_limits` and `/api/concurrency_leases` on SQLite and PostgreSQL.

Limits are created, read, changed and deleted by name; slot requests are granted all
or nothing, within the limit even when many arrive at once (row locks on PostgreSQL,
the write lock on SQLite); leases expire, renew, release and reset; bad input is a
422 naming the field and an unknown limit a 404 naming it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from tests.server.conftest import ApiClient, unique

LIMITS = "/api/concurrency_limits"


def create(api: ApiClient, name: str, limit: int, **fields: Any) -> dict[str, Any]:
    response = api.post(f"{LIMITS}/", json={"name": name, "limit": limit, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def acquire(api: ApiClient, names: list[str], **fields: Any) -> dict[str, Any]:
    body = {"names": names, "holder": fields.pop("holder", "test"), **fields}
    response = api.post(f"{LIMITS}/acquire", json=body)
    assert response.status_code == 200, response.text
    grant: dict[str, Any] = response.json()
    return grant


def leases(api: ApiClient, name: str) -> list[dict[str, Any]]:
    response = api.get(f"{LIMITS}/{name}/leases")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_limits_are_created_listed_read_updated_and_deleted(api: ApiClient) -> None:
    tag = unique("db")
    name = unique("warehouse")
    created = create(api, f"tag:{tag}", 3, kind="tag")
    assert (created["name"], created["kind"], created["limit"], created["active"]) == (
        f"tag:{tag}",
        "tag",
        3,
        True,
    )
    create(api, name, 2, slot_decay_per_second=0.5)

    tags = api.get(f"{LIMITS}/", params={"kind": "tag"}).json()
    assert f"tag:{tag}" in [row["name"] for row in tags]
    assert all(row["kind"] == "tag" for row in tags)
    everything = [row["name"] for row in api.get(f"{LIMITS}/").json()]
    assert {f"tag:{tag}", name} <= set(everything)
    assert everything == sorted(everything)

    read = api.get(f"{LIMITS}/tag:{tag}").json()
    assert read["id"] == created["id"]
    changed = api.request("PATCH", f"{LIMITS}/{name}", json={"limit": 5, "active": False})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["limit"], changed.json()["active"]) == (5, False)
    assert changed.json()["slot_decay_per_second"] == 0.5

    duplicate = api.post(f"{LIMITS}/", json={"name": name, "limit": 1})
    assert duplicate.status_code == 409
    assert repr(name) in duplicate.json()["detail"]

    assert api.delete(f"{LIMITS}/{name}").status_code == 204
    gone = api.get(f"{LIMITS}/{name}")
    assert gone.status_code == 404
    assert gone.json()["detail"] == f"no concurrency limit named {name!r}"


def test_a_name_with_a_slash_is_one_limit(api: ApiClient) -> None:
    name = unique("team/api")
    create(api, name, 1)
    assert api.get(f"{LIMITS}/{name}").json()["name"] == name
    grant = acquire(api, [name])
    assert grant["granted"]
    assert [lease["limit_name"] for lease in leases(api, name)] == [name]
    assert api.post(f"{LIMITS}/{name}/reset").json() == {"freed": 1}
    assert api.delete(f"{LIMITS}/{name}").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", f"{LIMITS}/", {"name": "x", "limit": -1}, "limit"),
        ("POST", f"{LIMITS}/", {"name": "", "limit": 1}, "name"),
        ("POST", f"{LIMITS}/", {"name": "x", "limit": 1, "kind": "weird"}, "kind"),
        ("POST", f"{LIMITS}/", {"name": "db", "limit": 1, "kind": "tag"}, "kind"),
        (
            "POST",
            f"{LIMITS}/",
            {"name": "x", "limit": 1, "slot_decay_per_second": -2},
            "slot_decay_per_second",
        ),
        ("POST", f"{LIMITS}/", {"name": "x", "limit": 1, "color": "red"}, "color"),
        ("PATCH", f"{LIMITS}/x", {"limit": "many"}, "limit"),
        ("POST", f"{LIMITS}/acquire", {"names": [], "holder": "h"}, "names"),
        ("POST", f"{LIMITS}/acquire", {"names": ["x"], "holder": "h", "occupy": 0}, "occupy"),
        (
            "POST",
            f"{LIMITS}/acquire",
            {"names": ["x"], "holder": "h", "lease_seconds": 0},
            "lease_seconds",
        ),
        ("POST", f"{LIMITS}/acquire", {"names": ["x"]}, "holder"),
        (
            "POST",
            "/api/concurrency_leases/0193a000-0000-7000-8000-000000000001/renew",
            {"lease_seconds": -1},
            "lease_seconds",
        ),
        ("POST", "/api/concurrency_leases/not-a-uuid/renew", {"lease_seconds": 1}, "lease_id"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    api: ApiClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert field in [entry["field"] for entry in response.json()["detail"]], response.text


def test_unknown_limits_are_404s_naming_them(api: ApiClient) -> None:
    name = unique("nope")
    for method, path in [
        ("GET", f"{LIMITS}/{name}"),
        ("PATCH", f"{LIMITS}/{name}"),
        ("DELETE", f"{LIMITS}/{name}"),
        ("POST", f"{LIMITS}/{name}/reset"),
        ("GET", f"{LIMITS}/{name}/leases"),
    ]:
        response = api.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["detail"] == f"no concurrency limit named {name!r}"


def test_slots_are_granted_up_to_the_limit_and_come_back_on_release(api: ApiClient) -> None:
    name = unique("pool")
    create(api, name, 2)
    first = acquire(api, [name], holder="a", occupy=1)
    second = acquire(api, [name], holder="b")
    assert first["granted"] and second["granted"]
    refused = acquire(api, [name], holder="c", lease_seconds=30)
    assert refused["granted"] is False
    assert refused["lease_id"] is None
    assert refused["blocked_by"] == name
    assert 25 < refused["retry_after"] <= 30
    assert sorted(lease["holder"] for lease in leases(api, name)) == ["a", "b"]

    released = api.delete(f"/api/concurrency_leases/{first['lease_id']}")
    assert released.status_code == 204
    assert acquire(api, [name], holder="c")["granted"]
    # releasing twice, or an unknown lease, changes nothing
    assert api.delete(f"/api/concurrency_leases/{first['lease_id']}").status_code == 204

    assert api.post(f"{LIMITS}/{name}/reset").json() == {"freed": 2}
    assert leases(api, name) == []
    assert acquire(api, [name], occupy=2)["granted"]


def test_a_request_over_several_limits_is_all_or_nothing(api: ApiClient) -> None:
    wide, narrow, ghost = unique("wide"), unique("narrow"), unique("ghost")
    create(api, wide, 5)
    create(api, narrow, 1)
    held = acquire(api, [narrow])
    assert held["granted"]
    refused = acquire(api, [wide, narrow, ghost])
    assert (refused["granted"], refused["blocked_by"], refused["missing"]) == (
        False,
        narrow,
        [ghost],
    )
    assert leases(api, wide) == []  # nothing taken on the limit that had room
    api.delete(f"/api/concurrency_leases/{held['lease_id']}")
    granted = acquire(api, [wide, narrow, ghost, wide], occupy=1)
    assert granted["granted"] and granted["missing"] == [ghost]
    assert [lease["lease_id"] for lease in leases(api, wide)] == [granted["lease_id"]]
    assert [lease["lease_id"] for lease in leases(api, narrow)] == [granted["lease_id"]]

    impossible = acquire(api, [narrow], occupy=2)
    assert (impossible["granted"], impossible["impossible"]) == (False, True)
    only_ghosts = acquire(api, [ghost])
    assert (only_ghosts["granted"], only_ghosts["lease_id"]) == (True, None)


def test_an_inactive_limit_grants_without_recording(api: ApiClient) -> None:
    name = unique("off")
    create(api, name, 0, active=False)
    grant = acquire(api, [name], occupy=3)
    assert (grant["granted"], grant["lease_id"]) == (True, None)
    assert leases(api, name) == []


def test_expired_leases_count_for_nothing_and_cannot_be_renewed(api: ApiClient) -> None:
    name = unique("short")
    create(api, name, 1)
    held = acquire(api, [name], lease_seconds=0.3)
    renewed = api.post(
        f"/api/concurrency_leases/{held['lease_id']}/renew", json={"lease_seconds": 0.3}
    )
    assert renewed.json() == {"renewed": True}
    assert not acquire(api, [name])["granted"]
    time.sleep(0.45)
    # no reaper pass needed: the decision ignores the expired lease
    assert leases(api, name) == []
    taken = acquire(api, [name], lease_seconds=30)
    assert taken["granted"]
    late = api.post(f"/api/concurrency_leases/{held['lease_id']}/renew", json={"lease_seconds": 30})
    assert late.json() == {"renewed": False}
    unknown = api.post(f"/api/concurrency_leases/{uuid.uuid4()}/renew", json={"lease_seconds": 1})
    assert unknown.json() == {"renewed": False}
    api.post(f"{LIMITS}/{name}/reset")


def test_the_reaper_deletes_expired_leases_in_batches(api: ApiClient) -> None:
    import sqlalchemy as sa

    from vibepiper.database import tables as t
    from vibepiper.server.services.lease_reaper import reap_expired_leases

    name = unique("reaped")
    limit_id = uuid.UUID(create(api, name, 10)["id"])
    for _ in range(5):
        assert acquire(api, [name], lease_seconds=0.05)["granted"]
    kept = acquire(api, [name], lease_seconds=30)
    time.sleep(0.1)
    deleted = api.portal.call(lambda: reap_expired_leases(api.database, batch_size=2))
    assert deleted >= 5

    async def rows() -> list[Any]:
        async with api.database.read() as connection:
            lease = t.concurrency_lease
            query = sa.select(lease.c.lease_id).where(lease.c.limit_id == limit_id)
            result = await connection.execute(query)
            return [row[0] for row in result]

    assert api.portal.call(rows) == [uuid.UUID(kept["lease_id"])]
    api.post(f"{LIMITS}/{name}/reset")


def test_decaying_leases_queue_on_the_limits_decay(api: ApiClient) -> None:
    name, plain = unique("rate"), unique("plain")
    create(api, name, 10, slot_decay_per_second=2.0)
    create(api, plain, 10)
    first = acquire(api, [name], occupy=2, decaying=True)
    second = acquire(api, [name], occupy=1, decaying=True)
    assert first["granted"] and second["granted"]
    expiries = sorted(lease["expires_at"] for lease in leases(api, name))
    assert all(lease["decaying"] for lease in leases(api, name))
    one, two = (dt.datetime.fromisoformat(value) for value in expiries)
    # 2 slots drain in 1 s, then the next 1 slot in 0.5 s more
    assert abs((two - one).total_seconds() - 0.5) < 0.05
    refused = api.post(
        f"{LIMITS}/acquire", json={"names": [plain], "holder": "h", "decaying": True}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "decaying"
    assert "slot_decay_per_second" in refused.json()["detail"][0]["msg"]


def test_many_requests_at_once_never_exceed_the_limit(api: ApiClient) -> None:
    """50 requests in flight together (the pool runs 10 transactions at a time)."""
    import anyio

    name = unique("race")
    create(api, name, 3)
    grants: list[dict[str, Any]] = []

    async def one(i: int) -> None:
        body = {"names": [name], "holder": f"h{i}"}
        response = await api.http.post(f"{LIMITS}/acquire", json=body)
        assert response.status_code == 200, response.text
        grants.append(response.json())

    async def all_at_once() -> None:
        async with anyio.create_task_group() as group:
            for i in range(50):
                group.start_soon(one, i)

    api.portal.call(all_at_once)
    assert sum(grant["granted"] for grant in grants) == 3
    assert len(leases(api, name)) == 3

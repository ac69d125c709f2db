"""The background-task queue over a real app on SQLite and PostgreSQL: queueing a run
(Scheduled, with its event), claims under leases (disjoint between claimers, again after
a lease runs out, never for a final run), one renew call for all held runs, release,
acknowledgement, the long-polling wait, bad input, and retention taking queued rows."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import ok


def _queue(api: ApiClient, key: str, *, when: str | None = None, **run: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_run": {"name": unique("run"), "task_key": f"module.{key}", **run},
        "parameters": "opaque call",
        "queue_key": key,
    }
    if when is not None:
        body["scheduled_time"] = when
    response = api.post("/api/background_tasks/", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _claim(api: ApiClient, key: str, worker: str = "w1", **fields: Any) -> list[dict[str, Any]]:
    body = {"worker": worker, "task_keys": [key], **fields}
    claimed: list[dict[str, Any]] = ok(api.post("/api/background_tasks/claim", json=body))
    return claimed


def _held(api: ApiClient, action: str, worker: str, ids: list[str], **extra: Any) -> Any:
    body = {"worker": worker, "task_run_ids": ids, **extra}
    return ok(api.post(f"/api/background_tasks/{action}", json=body))


def _set(api: ApiClient, run_id: str, kind: str, **details: Any) -> None:
    state = {"type": kind, "state_details": details}
    ok(api.post(f"/api/task_runs/{run_id}/set_state", json={"state": state}))


def _count(api: ApiClient, key: str) -> int:
    return int(ok(api.get(f"/api/background_tasks/count?task_key={key}")))


def test_a_queued_run_is_a_scheduled_task_run_with_its_event(api: ApiClient) -> None:
    key = unique("send")
    run = _queue(api, key, tags=["mail"])
    assert run["state"]["type"] == "SCHEDULED" and run["state"]["name"] == "Scheduled"
    assert run["task_key"] == f"module.{key}" and run["flow_run_id"] is None
    history = ok(api.get(f"/api/task_runs/{run['id']}/states"))
    assert [(s["type"], s["state_details"]["deferred"]) for s in history] == [("SCHEDULED", True)]
    listed = ok(api.post("/api/task_runs/filter", json={"task_key": [f"module.{key}"]}))
    assert [r["id"] for r in listed] == [run["id"]]
    resource = f"vibepiper.task-run.{run['id']}"
    body = {"filter": {"resource": {"id": [resource]}}, "limit": 10}
    events = ok(api.post("/api/events/filter", json=body))["events"]
    assert [e["event"] for e in events] == ["vibepiper.task-run.Scheduled"]
    assert _count(api, key) == 1

    again = {
        "task_run": {"id": run["id"], "name": "other", "task_key": "x"},
        "parameters": "p",
        "queue_key": key,
    }
    response = api.post("/api/background_tasks/", json=again)
    assert response.status_code == 200 and response.json()["name"] == run["name"]
    assert _count(api, key) == 1, "re-sending a queued run queues nothing more"


def test_claims_hold_runs_under_a_lease(api: ApiClient) -> None:
    key = unique("resize")
    runs = [_queue(api, key)["id"] for _ in range(3)]
    _queue(api, unique("other"))
    before = dt.datetime.now(dt.UTC)
    first = _claim(api, key, "w1", limit=2, lease_seconds=60)
    second = _claim(api, key, "w2", limit=5)
    assert [c["task_run"]["id"] for c in first] == runs[:2], "oldest first, at most limit"
    assert [c["task_run"]["id"] for c in second] == runs[2:]
    assert _claim(api, key, "w3") == []
    claimed = first[0]
    assert claimed["parameters"] == "opaque call" and claimed["deliveries"] == 1
    assert claimed["queue_key"] == key
    lease_until = dt.datetime.fromisoformat(claimed["lease_until"])
    assert before + dt.timedelta(seconds=59) < lease_until < before + dt.timedelta(seconds=62)
    assert claimed["task_run"]["state"]["type"] == "SCHEDULED", "the worker moves it on"
    history = ok(api.get(f"/api/task_runs/{runs[0]}/states"))
    assert [s["type"] for s in history] == ["SCHEDULED"]


def test_a_run_whose_lease_ran_out_is_delivered_again(api: ApiClient) -> None:
    key = unique("flaky")
    run_id = _queue(api, key)["id"]
    assert len(_claim(api, key, "dead", lease_seconds=0.3)) == 1
    _set(api, run_id, "RUNNING")
    assert _claim(api, key, "alive") == [], "the lease still holds"
    time.sleep(0.4)
    again = _claim(api, key, "alive", lease_seconds=30)
    assert [c["task_run"]["id"] for c in again] == [run_id]
    assert again[0]["deliveries"] == 2
    assert again[0]["task_run"]["state"]["type"] == "RUNNING", "as its dead holder left it"
    renewed = _held(api, "renew", "dead", [run_id], lease_seconds=30)
    assert renewed == {"renewed": [], "lost": [run_id]}


def test_one_renew_call_extends_every_lease_a_worker_holds(api: ApiClient) -> None:
    key = unique("long")
    runs = [_queue(api, key)["id"] for _ in range(3)]
    assert len(_claim(api, key, "w1", limit=3, lease_seconds=0.5)) == 3
    stranger = str(uuid.uuid4())
    answer = _held(api, "renew", "w1", [*runs, stranger], lease_seconds=30)
    assert sorted(answer["renewed"]) == sorted(runs) and answer["lost"] == [stranger]
    time.sleep(0.6)
    assert _claim(api, key, "w2") == [], "renewed leases keep the runs held"
    assert _held(api, "renew", "w2", runs)["lost"] == runs, "only the holder renews"


def test_release_makes_runs_claimable_at_once(api: ApiClient) -> None:
    key = unique("stop")
    run_id = _queue(api, key)["id"]
    assert len(_claim(api, key, "w1", lease_seconds=600)) == 1
    assert _held(api, "release", "w2", [run_id]) == 0, "only the holder releases"
    assert _held(api, "release", "w1", [run_id]) == 1
    assert [c["task_run"]["id"] for c in _claim(api, key, "w2")] == [run_id]


def test_a_final_state_takes_the_run_off_the_queue(api: ApiClient) -> None:
    key = unique("final")
    by_set_state, by_batch = _queue(api, key)["id"], _queue(api, key)["id"]
    _claim(api, key, "w1", limit=2)
    _set(api, by_set_state, "RUNNING")
    assert _count(api, key) == 2
    _set(api, by_set_state, "COMPLETED")
    assert _count(api, key) == 1
    state = {"type": "FAILED", "id": str(uuid.uuid4())}
    op = {"op": "set_task_run_state", "task_run_id": by_batch, "state": state}
    ok(api.post("/api/batch", json={"operations": [op]}))
    assert _count(api, key) == 0
    acked = _held(api, "ack", "w1", [by_set_state, by_batch])
    assert acked == {"removed": [], "not_final": []}, "gone already"


def _finish_directly(api: ApiClient, run_id: str) -> None:
    """Make the run final as the embedded store's writer does: in the table, not
    through the API (so nothing takes it off the queue)."""
    import sqlalchemy as sa

    from vibepiper.database import tables as t

    async def write() -> None:
        async with api.database.write() as connection:
            statement = sa.update(t.task_run).where(t.task_run.c.id == uuid.UUID(run_id))
            await connection.execute(statement.values(state_type="COMPLETED"))

    api.portal.call(write)


def test_ack_removes_only_final_runs(api: ApiClient) -> None:
    key = unique("ack")
    run_id = _queue(api, key)["id"]
    _claim(api, key, "w1")
    assert _held(api, "ack", "w1", [run_id]) == {"removed": [], "not_final": [run_id]}
    _finish_directly(api, run_id)
    assert _held(api, "ack", "w2", [run_id]) == {"removed": [], "not_final": [run_id]}
    assert _held(api, "ack", "w1", [run_id]) == {"removed": [run_id], "not_final": []}
    assert _count(api, key) == 0


def test_a_final_run_is_never_delivered_again(api: ApiClient) -> None:
    """Its worker finished it and died before acknowledging: the claim drops the row."""
    key = unique("done")
    run_id = _queue(api, key)["id"]
    _claim(api, key, "dead", lease_seconds=0.2)
    _finish_directly(api, run_id)
    time.sleep(0.3)
    assert _count(api, key) == 1
    assert _claim(api, key, "next") == []
    assert _count(api, key) == 0
    assert ok(api.get(f"/api/task_runs/{run_id}"))["state"]["type"] == "COMPLETED"


def test_a_cancelling_run_is_cancelled_not_handed_out(api: ApiClient) -> None:
    key = unique("cancel")
    run_id = _queue(api, key)["id"]
    _set(api, run_id, "CANCELLING")
    assert _claim(api, key) == []
    assert ok(api.get(f"/api/task_runs/{run_id}"))["state"]["type"] == "CANCELLED"
    assert _count(api, key) == 0


def test_runs_scheduled_later_wait_for_their_time(api: ApiClient) -> None:
    key = unique("later")
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.6)).isoformat()
    run_id = _queue(api, key, when=when)["id"]
    assert _claim(api, key) == []
    started = time.monotonic()
    claimed = _claim(api, key, wait_seconds=5)
    assert [c["task_run"]["id"] for c in claimed] == [run_id]
    assert time.monotonic() - started < 3


def test_a_waiting_claim_is_woken_by_a_queued_run(api: ApiClient) -> None:
    key = unique("wake")
    answer: dict[str, Any] = {}

    def wait() -> None:
        answer["claimed"] = _claim(api, key, wait_seconds=10)
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    run_id = _queue(api, key)["id"]
    queued_at = time.monotonic()
    waiter.join(15)
    assert [c["task_run"]["id"] for c in answer["claimed"]] == [run_id]
    assert answer["at"] - queued_at < 1.0, "the waiting claim was not woken promptly"


def test_concurrent_claimers_never_share_a_run(api: ApiClient) -> None:
    key = unique("many")
    runs = {_queue(api, key)["id"] for _ in range(60)}

    def claimer(index: int) -> list[str]:
        got: list[str] = []
        while True:
            batch = _claim(api, key, f"w{index}", limit=3)
            if not batch:
                return got
            got.extend(c["task_run"]["id"] for c in batch)

    with ThreadPoolExecutor(4) as executor:
        results = list(executor.map(claimer, range(4)))
    claimed = [run_id for result in results for run_id in result]
    assert sorted(claimed) == sorted(runs), "every run claimed exactly once"


def test_wait_answers_when_the_run_is_final(api: ApiClient) -> None:
    key = unique("wait")
    run_id = _queue(api, key)["id"]
    started = time.monotonic()
    pending = ok(api.get(f"/api/task_runs/{run_id}/wait?timeout=0.3"))
    assert pending["state"]["type"] == "SCHEDULED"
    assert 0.3 <= time.monotonic() - started < 3

    result = {"storage": "/tmp/results", "key": "abc", "serializer": "pickle"}

    def finish() -> None:
        time.sleep(0.3)
        _set(api, run_id, "RUNNING")
        _set(api, run_id, "COMPLETED", result=result)

    threading.Thread(target=finish).start()
    started = time.monotonic()
    final = ok(api.get(f"/api/task_runs/{run_id}/wait?timeout=10"))
    waited = time.monotonic() - started
    assert final["state"]["type"] == "COMPLETED"
    assert final["state"]["state_details"]["result"] == result
    assert waited < 2, "the wait was not woken by the final state"


def test_wait_is_woken_by_a_batch(api: ApiClient) -> None:
    run_id = _queue(api, unique("batch"))["id"]
    state = {"type": "FAILED", "message": "boom", "id": str(uuid.uuid4())}

    def finish() -> None:
        time.sleep(0.3)
        op = {"op": "set_task_run_state", "task_run_id": run_id, "state": state}
        ok(api.post("/api/batch", json={"operations": [op]}))

    threading.Thread(target=finish).start()
    final = ok(api.get(f"/api/task_runs/{run_id}/wait?timeout=10"))
    assert final["state"]["type"] == "FAILED" and final["state"]["message"] == "boom"


def test_bad_input_is_refused_with_the_field(api: ApiClient) -> None:
    missing = api.get(f"/api/task_runs/{uuid.uuid4()}/wait?timeout=0")
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    too_long = api.get(f"/api/task_runs/{uuid.uuid4()}/wait?timeout=31")
    assert too_long.status_code == 422
    for body, field in [
        ({"worker": "w", "task_keys": []}, "task_keys"),
        ({"worker": "w", "task_keys": ["k"], "lease_seconds": 0}, "lease_seconds"),
        ({"worker": "w", "task_keys": ["k"], "wait_seconds": 60}, "wait_seconds"),
        ({"task_keys": ["k"]}, "worker"),
    ]:
        response = api.post("/api/background_tasks/claim", json=body)
        assert response.status_code == 422, body
        assert field in response.text
    no_flow_run = {
        "task_run": {"name": "r", "task_key": "k", "flow_run_id": str(uuid.uuid4())},
        "parameters": "p",
    }
    assert api.post("/api/background_tasks/", json=no_flow_run).status_code == 404
    no_parameters = {"task_run": {"name": "r", "task_key": "k"}}
    response = api.post("/api/background_tasks/", json=no_parameters)
    assert response.status_code == 422 and "parameters" in response.text


def test_retention_takes_queued_rows_with_their_runs(api: ApiClient) -> None:
    import sqlalchemy as sa

    from vibepiper.database import tables as t
    from vibepiper.server.repositories.retention import delete_old_task_runs

    key = unique("old")
    run_id = uuid.UUID(_queue(api, key)["id"])

    async def sweep() -> int:
        async with api.database.write() as connection:
            old = sa.update(t.task_run).where(t.task_run.c.id == run_id)
            await connection.execute(old.values(updated=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
            return await delete_old_task_runs(
                connection, dt.datetime(2001, 1, 1, tzinfo=dt.UTC), 100
            )

    assert api.portal.call(sweep) >= 1
    assert _count(api, key) == 0

"""The dashboard's own endpoints (`/api/ui/...`) on a real server, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from tests.client.conftest import Server, server  # noqa: F401 - the parametrized fixture


def new_run(client: httpx.Client, flow: str, state: str, **extra: Any) -> dict[str, Any]:
    flow_id = client.post("/flows/", json={"name": flow}).json()["id"]
    body = {"flow_id": flow_id, "state": {"type": state}, **extra}
    answer = client.post("/flow_runs/", json=body)
    assert answer.status_code == 201, answer.text
    run: dict[str, Any] = answer.json()
    return run


def history(client: httpx.Client, **body: Any) -> list[dict[str, Any]]:
    answer = client.post("/ui/flow_runs/history", json=body)
    assert answer.status_code == 200, answer.text
    buckets: list[dict[str, Any]] = answer.json()
    return buckets


def test_history_counts_runs_per_state_in_equal_buckets(server: Server) -> None:  # noqa: F811
    flow = f"hist-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for state in ("COMPLETED", "COMPLETED", "FAILED", "RUNNING"):
            new_run(client, flow, state)
        parent = new_run(client, flow, "RUNNING")
        proxy = client.post(
            "/task_runs/",
            json={"flow_run_id": parent["id"], "name": "sub", "task_key": "sub"},
        ).json()
        new_run(client, flow, "COMPLETED", parent_task_run_id=proxy["id"])
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
        until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).isoformat()

        buckets = history(client, since=since, until=until, buckets=4, flow_name=[flow])
        assert len(buckets) == 4
        assert [b["counts"] for b in buckets[:3]] == [{}, {}, {}]
        assert buckets[3]["counts"] == {"COMPLETED": 3, "FAILED": 1, "RUNNING": 2}
        assert buckets[0]["start"].startswith(since[:19])
        roots = history(
            client, since=since, until=until, buckets=1, flow_name=[flow], root_only=True
        )
        assert roots[0]["counts"] == {"COMPLETED": 2, "FAILED": 1, "RUNNING": 2}

        bad = client.post(
            "/ui/flow_runs/history", json={"since": until, "until": since, "buckets": 2}
        )
        assert bad.status_code == 422
        assert "until must be later than since" in bad.text
        too_many = client.post(
            "/ui/flow_runs/history", json={"since": since, "until": until, "buckets": 500}
        )
        assert too_many.status_code == 422
        assert too_many.json()["detail"][0]["field"] == "buckets"


def test_retry_refuses_runs_it_cannot_restart_and_names_the_cli_command(
    server: Server,  # noqa: F811
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        failed = new_run(client, "retry-me", "FAILED")
        answer = client.post(f"/ui/flow_runs/{failed['id']}/retry")
        assert answer.status_code == 409
        assert f"vibepiper flow-run retry {failed['id']}" in answer.json()["detail"]

        running = new_run(client, "retry-me", "RUNNING")
        answer = client.post(f"/ui/flow_runs/{running['id']}/retry")
        assert answer.status_code == 409
        assert "only a finished run can be retried" in answer.json()["detail"]

        name = f"gone-{uuid.uuid4().hex[:8]}"
        deployment = client.post(
            "/deployments/", json={"name": name, "flow_name": "retry-me", "entrypoint": "f.py:f"}
        ).json()
        orphan = client.post(
            f"/deployments/{deployment['id']}/create_flow_run", json={"state": {"type": "FAILED"}}
        ).json()
        assert client.delete(f"/deployments/{deployment['id']}").status_code == 204
        answer = client.post(f"/ui/flow_runs/{orphan['id']}/retry")
        assert answer.status_code == 409, answer.text
        assert f"deployment {deployment['id']}, which was deleted" in answer.json()["detail"]
        assert f"vibepiper flow-run retry {orphan['id']}" in answer.json()["detail"]
        assert client.get(f"/flow_runs/{orphan['id']}").json()["state_type"] == "FAILED"

        missing = uuid.uuid4()
        answer = client.post(f"/ui/flow_runs/{missing}/retry")
        assert answer.status_code == 404
        assert str(missing) in answer.json()["detail"]


def test_concurrency_usage_counts_slots_of_live_leases(server: Server) -> None:  # noqa: F811
    name = f"usage-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert (
            client.post("/concurrency_limits/", json={"name": name, "limit": 5}).status_code == 201
        )
        for holder, occupy in (("a", 2), ("b", 1)):
            grant = client.post(
                "/concurrency_limits/acquire",
                json={"names": [name], "occupy": occupy, "holder": holder, "lease_seconds": 60},
            ).json()
            assert grant["granted"] is True
        usage = {row["name"]: row for row in client.get("/ui/concurrency_limits").json()}
        assert usage[name]["slots_in_use"] == 3
        assert usage[name]["holders"] == ["a", "b"]
        assert usage[name]["limit"] == 5
        client.post(f"/concurrency_limits/{name}/reset")
        usage = {row["name"]: row for row in client.get("/ui/concurrency_limits").json()}
        assert usage[name]["slots_in_use"] == 0
        assert usage[name]["holders"] == []

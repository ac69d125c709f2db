"""`GET /api/metrics` on SQLite and PostgreSQL: the Prometheus text format, what holds now
read from the database (runs per pool, queue and state, workers, slots) and what the
server counted (state changes, run durations and lateness, events, requests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import create_run, deploy, new_pool, ok

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(api: ApiClient) -> Samples:
    response = api.get("/api/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_runs_per_pool_queue_and_state_workers_and_slots_come_from_the_database(
    quiet: ApiClient,
) -> None:
    from vibepiper.server.services.late_runs import mark_late_runs

    pool = new_pool(quiet, concurrency_limit=3)
    deployment = deploy(quiet, work_pool_name=pool)
    create_run(quiet, deployment)
    claim = {"worker_name": unique("worker"), "work_pool_name": pool}
    claimed = ok(quiet.post("/api/workers/claim", json=claim))
    assert len(claimed) == 1  # Pending now
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    create_run(quiet, deployment, scheduled_time=past)
    quiet.portal.call(lambda: mark_late_runs(quiet.database, after_seconds=15))
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    create_run(quiet, deployment, scheduled_time=future)  # Scheduled, not late
    beat = {"worker_name": claim["worker_name"], "work_pool_name": pool}
    assert quiet.post("/api/workers/heartbeat", json=beat).status_code in (200, 204)
    limit = unique("limit")
    ok(quiet.post("/api/concurrency_limits/", json={"name": limit, "limit": 4}), 201)
    grant = {"names": [limit], "occupy": 3, "holder": "test"}
    ok(quiet.post("/api/concurrency_limits/acquire", json=grant))

    samples = scrape(quiet)
    rows = "vibepiper_work_pool_flow_runs"
    at = {"work_pool": pool, "work_queue": "default"}
    assert value(samples, rows, **at, state="late") == 1
    assert value(samples, rows, **at, state="scheduled") == 1
    assert value(samples, rows, **at, state="pending") == 1
    assert value(samples, "vibepiper_work_pool_slots_used", work_pool=pool) == 1
    assert value(samples, "vibepiper_work_pool_concurrency_limit", work_pool=pool) == 3
    assert value(samples, "vibepiper_work_pool_workers_online", work_pool=pool) == 1
    age = value(
        samples,
        "vibepiper_worker_heartbeat_age_seconds",
        worker=claim["worker_name"],
        work_pool=pool,
    )
    assert 0 <= age < 30
    assert value(samples, "vibepiper_concurrency_limit_slots", limit=limit) == 4
    assert value(samples, "vibepiper_concurrency_slots_used", limit=limit) == 3
    assert value(samples, "vibepiper_flow_runs", state_type="SCHEDULED") >= 2
    assert value(samples, "vibepiper_flow_runs", state_type="PENDING") >= 1
    assert value(samples, "vibepiper_database_connections_max") >= 1
    assert value(samples, "process_resident_memory_bytes") > 0
    # no run id is ever a label
    run_id = claimed[0]["flow_run"]["id"]
    assert not any(run_id in label for _, labels in samples for _, label in labels)


def _set(api: ApiClient, run_id: str, kind: str, when: dt.datetime) -> None:
    body: dict[str, Any] = {"state": {"type": kind, "timestamp": when.isoformat()}}
    answer = ok(api.post(f"/api/flow_runs/{run_id}/set_state", json=body))
    assert answer["status"] == "ACCEPT", answer


def test_state_changes_run_durations_lateness_events_and_requests_are_counted(
    quiet: ApiClient,
) -> None:
    flow_name = unique("flow")
    flow_id = ok(quiet.post("/api/flows/", json={"name": flow_name}), 201)["id"]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = {
        "flow_id": flow_id,
        "expected_start_time": (start - dt.timedelta(seconds=12)).isoformat(),
        "state": {"type": "SCHEDULED"},
    }
    before = scrape(quiet)
    run = ok(quiet.post("/api/flow_runs/", json=body), 201)
    _set(quiet, run["id"], "PENDING", start - dt.timedelta(seconds=1))
    _set(quiet, run["id"], "RUNNING", start)
    _set(quiet, run["id"], "COMPLETED", start + dt.timedelta(seconds=42))
    after = scrape(quiet)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    changes = "vibepiper_flow_run_state_changes_total"
    assert grew(changes, state_type="RUNNING") == 1
    assert grew(changes, state_type="COMPLETED") == 1
    assert grew("vibepiper_events_ingested_total", kind="vibepiper.flow-run") >= 3
    mine = {"flow": flow_name, "deployment": ""}
    duration = "vibepiper_flow_run_duration_seconds"
    assert value(after, f"{duration}_count", **mine, state_type="COMPLETED") == 1
    assert value(after, f"{duration}_sum", **mine, state_type="COMPLETED") == 42
    assert value(after, f"{duration}_bucket", **mine, state_type="COMPLETED", le="30.0") == 0
    assert value(after, f"{duration}_bucket", **mine, state_type="COMPLETED", le="60.0") == 1
    lateness = "vibepiper_flow_run_lateness_seconds"
    assert value(after, f"{lateness}_sum", **mine) == 12
    assert value(after, f"{lateness}_bucket", **mine, le="30.0") == 1
    requests = "vibepiper_api_request_duration_seconds_count"
    route = "/api/flow_runs/{flow_run_id}/set_state"
    assert grew(requests, method="POST", route=route, status="200") == 3
    assert grew(requests, method="GET", route="/api/metrics", status="200") == 1


def test_the_metrics_are_behind_the_api_key_and_can_be_turned_off(start_api: Any) -> None:
    guarded = start_api(server_api_key="s3cret")
    assert guarded.get("/api/metrics").status_code == 401
    answer = guarded.get("/api/metrics", headers={"Authorization": "Bearer s3cret"})
    assert answer.status_code == 200 and "vibepiper_flow_runs" in answer.text
    off = start_api(server_metrics_enabled=False)
    refused = off.get("/api/metrics")
    assert refused.status_code == 404
    assert "VIBEPIPER_SERVER_METRICS_ENABLED" in refused.text

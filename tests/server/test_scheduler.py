"""The scheduler service with a fake clock, on SQLite and PostgreSQL: ticks made once,
missed ticks skipped and counted or caught up, paused deployments and inactive
schedules left alone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.server.conftest import ApiClient
from tests.server.deployment_support import deploy, ok


def _deploy(api: ApiClient, **schedule: Any) -> dict[str, Any]:
    return deploy(api, schedules=[{"schedule": {"interval": 60}, **schedule}])


def _pass(api: ApiClient, now: dt.datetime) -> int:
    from vibepiper.server.services.scheduler import schedule_all

    made: int = api.portal.call(schedule_all, api.database, now)
    return made


def _times(api: ApiClient, deployment_id: str) -> list[dt.datetime]:
    body = {"deployment_id": [deployment_id], "sort": "EXPECTED_START_TIME_ASC", "limit": 1000}
    runs = ok(api.post("/api/flow_runs/filter", json=body))
    keys = [run["idempotency_key"] for run in runs]
    assert len(set(keys)) == len(keys)
    return [dt.datetime.fromisoformat(run["expected_start_time"]) for run in runs]


def _schedule(api: ApiClient, deployment_id: str) -> dict[str, Any]:
    schedule: dict[str, Any] = ok(api.get(f"/api/deployments/{deployment_id}/schedules"))[0]
    return schedule


def test_missed_ticks_are_skipped_and_counted(quiet: ApiClient) -> None:
    deployment = _deploy(quiet)
    first = _times(quiet, deployment["id"])
    assert len(first) == 60  # the next hour of minutely ticks
    mark = dt.datetime.fromisoformat(_schedule(quiet, deployment["id"])["last_scheduled_time"])
    assert mark == first[-1]
    assert _pass(quiet, first[0] - dt.timedelta(seconds=1)) == 0, "a pass is idempotent"
    later = mark + dt.timedelta(hours=1)  # the scheduler was down for an hour
    assert _pass(quiet, later) >= 60
    schedule = _schedule(quiet, deployment["id"])
    assert schedule["missed_count"] == 60
    assert dt.datetime.fromisoformat(schedule["last_missed_time"]) == later
    times = _times(quiet, deployment["id"])
    assert times[:60] == first and times[60] == later + dt.timedelta(minutes=1)


def test_catchup_creates_the_oldest_missed_ticks(quiet: ApiClient) -> None:
    deployment = _deploy(quiet, catchup=True, max_catchup_runs=5)
    mark = dt.datetime.fromisoformat(_schedule(quiet, deployment["id"])["last_scheduled_time"])
    _pass(quiet, mark + dt.timedelta(hours=1))
    times = set(_times(quiet, deployment["id"]))
    caught_up = {mark + dt.timedelta(minutes=m) for m in range(1, 6)}
    assert caught_up <= times
    assert mark + dt.timedelta(minutes=6) not in times
    assert _schedule(quiet, deployment["id"])["missed_count"] == 55


def test_paused_deployments_and_inactive_schedules_schedule_nothing(quiet: ApiClient) -> None:
    paused = _deploy(quiet)
    ok(quiet.post(f"/api/deployments/{paused['id']}/pause"))
    inactive = _deploy(quiet, active=False)
    assert _times(quiet, inactive["id"]) == []
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    _pass(quiet, far)
    assert all(t < far for t in _times(quiet, paused["id"]))
    assert _times(quiet, inactive["id"]) == []

"""`/api/flow_runs/{id}/pause|suspend|resume` and `/api/flow_runs/states/wait` on SQLite
and PostgreSQL: requests only for running runs (acknowledged by the run's process), input
checked against the stored schema before anything moves, one winner among resumes, a
suspended deployment run rescheduled, expired pauses failed, and the long poll woken by a
resume."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.conftest import ApiClient
from tests.server.deployment_support import create_run, deploy, ok

NewRun = Callable[..., dict[str, Any]]


def _set(api: ApiClient, run_id: str, kind: str, name: str | None = None, **details: Any) -> str:
    body = {"state": {"type": kind, "name": name, "state_details": details}, "force": True}
    result = ok(api.post(f"/api/flow_runs/{run_id}/set_state", json=body))
    assert result["status"] == "ACCEPT"
    return str(result["state"]["id"])


def _paused(api: ApiClient, run_id: str, *, suspended: bool = False, **details: Any) -> str:
    _set(api, run_id, "RUNNING")
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return _set(
        api,
        run_id,
        "PAUSED",
        "Suspended" if suspended else "Paused",
        pause_key="pause-1",
        pause_reschedule=suspended,
        pause_timeout=details.pop("pause_timeout", future.isoformat()),
        **details,
    )


def _run(api: ApiClient, run_id: str) -> dict[str, Any]:
    return dict(ok(api.get(f"/api/flow_runs/{run_id}")))


def test_a_pause_is_asked_of_running_runs_only(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    refused = ok(api.post(f"/api/flow_runs/{run['id']}/pause"))
    assert refused["status"] == "REJECT" and "not running" in refused["reason"]
    _set(api, run["id"], "RUNNING")
    asked = ok(api.post(f"/api/flow_runs/{run['id']}/pause", json={"timeout_seconds": 90}))
    assert asked["status"] == "ACCEPT"
    assert (asked["state"]["type"], asked["state"]["name"]) == ("RUNNING", "Pausing")
    assert asked["state"]["state_details"] == {
        "pause_reschedule": False,
        "pause_timeout_seconds": 90,
    }
    again = ok(api.post(f"/api/flow_runs/{run['id']}/pause"))
    assert again["status"] == "REJECT" and "Pausing already" in again["reason"]
    assert _run(api, run["id"])["run_count"] == 1  # a request is not an attempt

    bad = api.post(f"/api/flow_runs/{run['id']}/suspend", json={"timeout_seconds": -1})
    assert bad.status_code == 422 and "timeout_seconds" in bad.text
    missing = api.post("/api/flow_runs/01a24af2-2d29-7ef7-8d08-3f26c7b44fe3/suspend")
    assert missing.status_code == 404


def test_a_subflow_is_paused_not_suspended(api: ApiClient, new_flow_run: NewRun) -> None:
    child = new_flow_run(parent_task_run_id="01a24af2-2d29-7ef7-8d08-3f26c7b44fe3")
    _set(api, child["id"], "RUNNING")
    refused = ok(api.post(f"/api/flow_runs/{child['id']}/suspend"))
    assert refused["status"] == "REJECT" and "subflow" in refused["reason"]
    assert ok(api.post(f"/api/flow_runs/{child['id']}/pause"))["status"] == "ACCEPT"


def test_resume_checks_the_input_against_the_schema_first(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    run = new_flow_run()
    keyset = {"schema": "p-schema", "response": "p-response", "description": "p-description"}
    schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "count": {"type": "integer"}},
        "required": ["approved"],
        "additionalProperties": False,
    }
    created = api.post(
        f"/api/flow_runs/{run['id']}/input", json={"key": "p-schema", "value": json.dumps(schema)}
    )
    assert created.status_code == 201, created.text
    _paused(api, run["id"], run_input_keyset=keyset)

    bad = api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_input": {"count": "x"}})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "run_input", "approved"]
    assert "input field 'approved' is invalid: 'approved' is a required property" in bad.text
    bad = api.post(
        f"/api/flow_runs/{run['id']}/resume", json={"run_input": {"approved": True, "count": "x"}}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "run_input", "count"]
    assert (
        bad.json()["detail"][0]["msg"]
        == "input field 'count' is invalid: 'x' is not of type 'integer'"
    )
    extra = {"approved": True, "reviewer": "ann"}
    unknown = api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_input": extra})
    assert unknown.status_code == 422
    assert "the input has no field 'reviewer' (it has: approved, count)" in unknown.text
    none = api.post(f"/api/flow_runs/{run['id']}/resume", json={})
    assert none.status_code == 422 and "waits for input" in none.text
    assert _run(api, run["id"])["state_name"] == "Paused"  # nothing moved
    assert api.get(f"/api/flow_runs/{run['id']}/input/p-response").status_code == 404

    good = ok(
        api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_input": {"approved": True}})
    )
    assert good["status"] == "ACCEPT" and good["state"]["type"] == "RUNNING"
    answer = api.get(f"/api/flow_runs/{run['id']}/input/p-response")
    assert json.loads(answer.json() if isinstance(answer.json(), str) else answer.text) == {
        "approved": True
    }
    second = ok(api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_input": None}))
    assert second["status"] == "REJECT" and "not paused" in second["reason"]
    assert _run(api, run["id"])["run_count"] == 1  # resuming is not a new attempt


def test_a_suspended_deployment_run_goes_back_to_its_pool(api: ApiClient, pool: str) -> None:
    deployment = deploy(api, work_pool_name=pool)
    run = create_run(api, deployment)
    _paused(api, run["id"], suspended=True)
    before = dt.datetime.now(dt.UTC)
    here = ok(api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_here": True}))
    # a deployment's run is started by its pool's worker, even when asked to run here
    assert (here["state"]["type"], here["state"]["name"]) == ("SCHEDULED", "Resuming")
    after = _run(api, run["id"])
    assert dt.datetime.fromisoformat(after["expected_start_time"]) >= before - dt.timedelta(
        seconds=1
    )
    assert after["worker_name"] is None
    taken = ok(api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_here": True}))
    assert taken["status"] == "REJECT" and "resumed already" in taken["reason"]


def test_a_suspended_run_without_deployment_is_handed_to_one_resumer(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    run = new_flow_run()
    _paused(api, run["id"], suspended=True)
    plain = ok(api.post(f"/api/flow_runs/{run['id']}/resume"))
    assert (plain["state"]["type"], plain["state"]["name"]) == ("SCHEDULED", "Resuming")
    first = ok(api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_here": True}))
    assert (first["state"]["type"], first["state"]["name"]) == ("PENDING", "Resuming")
    second = ok(api.post(f"/api/flow_runs/{run['id']}/resume", json={"run_here": True}))
    assert second["status"] == "REJECT"


def test_expired_pauses_fail(api: ApiClient, new_flow_run: NewRun) -> None:
    from vibepiper.server.services.flow_run_pauses import PAUSED_GRACE_S, fail_expired_pauses

    now = dt.datetime.now(dt.UTC)
    lately = (now - dt.timedelta(seconds=5)).isoformat()
    suspended, paused, stale = new_flow_run(), new_flow_run(), new_flow_run()
    _paused(api, suspended["id"], suspended=True, pause_timeout=lately)
    _paused(api, paused["id"], pause_timeout=lately)  # its own process ends it
    long_ago = (now - dt.timedelta(seconds=PAUSED_GRACE_S + 60)).isoformat()
    _paused(api, stale["id"], pause_timeout=long_ago)  # its process is gone

    ended = api.portal.call(lambda: fail_expired_pauses(api.database))
    assert ended >= 2
    assert _run(api, suspended["id"])["state_type"] == "FAILED"
    assert _run(api, paused["id"])["state_name"] == "Paused"
    assert _run(api, stale["id"])["state_type"] == "FAILED"
    message = _run(api, suspended["id"])["state"]["message"]
    assert "not resumed before its timeout" in message

    expired = new_flow_run()
    _paused(api, expired["id"], pause_timeout=lately)
    refused = ok(api.post(f"/api/flow_runs/{expired['id']}/resume"))
    assert refused["status"] == "REJECT" and "timed out" in refused["reason"]
    assert refused["state"]["type"] == "FAILED"


def test_the_state_wait_answers_at_once_on_a_change_and_is_woken_by_a_resume(
    api: ApiClient, new_flow_run: NewRun
) -> None:
    run = new_flow_run()
    state_id = _paused(api, run["id"])
    body: dict[str, Any] = {"ids": [run["id"]], "known": {}, "wait_seconds": 5}
    current = ok(api.post("/api/flow_runs/states/wait", json=body))
    assert current == [{"flow_run_id": run["id"], "state": current[0]["state"]}]
    assert current[0]["state"]["id"] == state_id  # unknown to the caller: at once

    body["known"] = {run["id"]: state_id}
    body["wait_seconds"] = 0.3
    started = time.monotonic()
    unchanged = ok(api.post("/api/flow_runs/states/wait", json=body))
    assert time.monotonic() - started >= 0.25
    assert unchanged[0]["state"]["id"] == state_id

    body["wait_seconds"] = 20
    answer: dict[str, Any] = {}

    def wait() -> None:
        answer["states"] = ok(api.post("/api/flow_runs/states/wait", json=body))
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    resumed_at = time.monotonic()
    ok(api.post(f"/api/flow_runs/{run['id']}/resume"))
    waiter.join(20)
    assert answer["states"][0]["state"]["type"] == "RUNNING"
    assert answer["at"] - resumed_at < 5  # woken, not at the end of its 20 s

    too_many = {"ids": [run["id"]] * 201}
    assert api.post("/api/flow_runs/states/wait", json=too_many).status_code == 422


@pytest.mark.parametrize("action", ["pause", "suspend", "resume"])
def test_unknown_runs_are_404(api: ApiClient, action: str) -> None:
    missing = "01a24af2-2d29-7ef7-8d08-3f26c7b44fe3"
    assert api.post(f"/api/flow_runs/{missing}/{action}").status_code == 404

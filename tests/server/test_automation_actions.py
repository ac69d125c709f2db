"""Automation actions carried out (`services.automation_actions.execute`) over a real app
on SQLite and PostgreSQL: runs created with rendered, typed parameters; deployments,
pools, queues and automations paused and resumed; flow runs cancelled, suspended,
resumed, moved and deleted; and the failures, each a one-line reason."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter

from tests.server.conftest import ApiClient, unique
from tests.server.deployment_support import create_run, deploy, new_pool, ok

SCHEMA = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "label": {"type": "string"},
        "colour": {"type": "string"},
        "config": {"type": "object"},
    },
    "required": ["n"],
}


def _run(api: ApiClient, action: dict[str, Any], **context: Any) -> dict[str, Any]:
    from vibepiper.schemas.automation_actions import ActionTypes
    from vibepiper.server.services.automation_actions import execute
    from vibepiper.server.services.automation_context import ActionContext

    parsed = TypeAdapter(ActionTypes).validate_python(action)
    context.setdefault("automation_id", uuid.uuid4())
    context.setdefault("automation_name", "on-call")
    context.setdefault("firing_id", uuid.uuid4())
    result: dict[str, Any] = api.portal.call(
        execute, api.database, parsed, ActionContext(**context)
    )
    return result


def _fails(api: ApiClient, action: dict[str, Any], **context: Any) -> Any:
    from vibepiper.server.services.automation_context import ActionFailed

    with pytest.raises(ActionFailed) as failed:
        _run(api, action, **context)
    assert "\n" not in failed.value.reason
    assert failed.value.reason.startswith(f"{action['type']}: ")
    return failed.value


def _event(resource: str, *related: tuple[str, str], name: str = "vibepiper.test.x") -> Any:
    from vibepiper.schemas.events import ReceivedEvent

    return ReceivedEvent.model_validate(
        {
            "event": name,
            "resource": {"vibepiper.resource.id": resource},
            "related": [
                {"vibepiper.resource.id": rid, "vibepiper.resource.role": role}
                for rid, role in related
            ],
        }
    )


def _flow_run(api: ApiClient, **fields: Any) -> dict[str, Any]:
    flow_id = ok(api.post("/api/flows/", json={"name": unique("flow")}), 201)["id"]
    return ok(api.post("/api/flow_runs/", json={"flow_id": flow_id, **fields}), 201)


def _set(api: ApiClient, run_id: str, kind: str, **state: Any) -> None:
    body = {"state": {"type": kind, **state}}
    assert ok(api.post(f"/api/flow_runs/{run_id}/set_state", json=body))["status"] == "ACCEPT"


def _read_run(api: ApiClient, run_id: str) -> dict[str, Any]:
    return ok(api.get(f"/api/flow_runs/{run_id}"))


def _runs_of(api: ApiClient, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"deployment_id": [deployment["id"]]}
    runs: list[dict[str, Any]] = ok(api.post("/api/flow_runs/filter", json=body))
    return runs


def _enforcing(api: ApiClient) -> dict[str, Any]:
    return deploy(
        api,
        parameters={"colour": "blue"},
        parameter_openapi_schema=SCHEMA,
        enforce_parameter_schema=True,
    )


# --- do-nothing, run-deployment ---------------------------------------------------------
def test_do_nothing_does_nothing(api: ApiClient) -> None:
    assert _run(api, {"type": "do-nothing"}) == {}


def test_run_deployment_renders_typed_parameters_and_runs_once_per_firing(api: ApiClient) -> None:
    deployment = _enforcing(api)
    variable = unique("var").replace("-", "_")
    ok(api.post("/api/variables/", json={"name": variable, "value": {"depth": 3}}), 201)
    source = _flow_run(api, name=unique("source"), parameters={"n": 41, "who": "x"})
    event = _event(f"vibepiper.flow-run.{source['id']}", name="vibepiper.flow-run.Failed")
    action = {
        "type": "run-deployment",
        "deployment_id": deployment["id"],
        "parameters": {
            "n": "{{ flow_run.parameters.n + 1 }}",
            "label": "retry of {{ flow_run.name }}",
            "config": {"__prefect_kind": "workspace_variable", "variable_name": variable},
        },
        "job_variables": {"env": {"CAUSE": "{{ event.event }}"}},
        "schedule_after": 3600,
    }
    firing = uuid.uuid4()
    before = dt.datetime.now(dt.UTC)
    result = _run(api, action, event=event, firing_id=firing)
    assert result["created"] is True and result["deployment_id"] == deployment["id"]

    run = _read_run(api, result["flow_run_id"])
    assert run["parameters"] == {
        "colour": "blue",  # the deployment's default
        "n": 42,  # a single expression keeps its type
        "label": f"retry of {source['name']}",
        "config": {"depth": 3},
    }
    assert run["deployment_id"] == deployment["id"]
    assert run["state_type"] == "SCHEDULED"
    due = dt.datetime.fromisoformat(run["expected_start_time"])
    assert before + dt.timedelta(minutes=59) < due < before + dt.timedelta(minutes=61)
    assert run["idempotency_key"] == f"automation-{firing}-0-{deployment['id']}"
    first = ok(api.get(f"/api/flow_runs/{run['id']}/states"))[0]
    assert first["state_details"]["job_variables"] == {
        "env": {"CAUSE": "vibepiper.flow-run.Failed"}
    }

    again = _run(api, action, event=event, firing_id=firing)  # a retried action
    assert (again["flow_run_id"], again["created"]) == (run["id"], False)
    assert len(_runs_of(api, deployment)) == 1


def test_two_run_deployment_actions_of_one_firing_make_two_runs(api: ApiClient) -> None:
    deployment = _enforcing(api)
    action = {"type": "run-deployment", "deployment_id": deployment["id"], "parameters": {"n": 1}}
    firing = uuid.uuid4()
    first = _run(api, action, firing_id=firing, position=0)
    second = _run(api, action, firing_id=firing, position=1)
    assert first["created"] is True and second["created"] is True
    assert first["flow_run_id"] != second["flow_run_id"]
    assert len(_runs_of(api, deployment)) == 2


def test_run_deployment_inferred_from_the_event(api: ApiClient) -> None:
    deployment = deploy(api, parameters={"x": 1})
    event = _event(
        f"vibepiper.flow-run.{uuid.uuid4()}",
        (f"vibepiper.deployment.{deployment['id']}", "deployment"),
    )
    result = _run(api, {"type": "run-deployment", "source": "inferred"}, event=event)
    assert _read_run(api, result["flow_run_id"])["parameters"] == {"x": 1}

    failed = _fails(api, {"type": "run-deployment", "source": "inferred"})
    assert "no deployment could be inferred" in failed.reason and not failed.retryable
    failed = _fails(
        api, {"type": "run-deployment", "source": "inferred"}, event=_event("vibepiper.thing.1")
    )
    assert "names no deployment" in failed.reason
    failed = _fails(api, {"type": "run-deployment", "deployment_id": str(uuid.uuid4())})
    assert "not found" in failed.reason and not failed.retryable


def test_run_deployment_refuses_a_bad_parameter_before_creating_a_run(api: ApiClient) -> None:
    deployment = _enforcing(api)
    action = {
        "type": "run-deployment",
        "deployment_id": deployment["id"],
        "parameters": {"n": "{{ event.event }}"},  # text where the schema wants an integer
    }
    failed = _fails(api, action, event=_event("vibepiper.thing.1"))
    assert "parameter 'n'" in failed.reason and "integer" in failed.reason
    assert not failed.retryable
    assert _runs_of(api, deployment) == []


def test_run_deployment_template_errors_and_slow_templates_fail(api: ApiClient) -> None:
    deployment = deploy(api)
    action = {
        "type": "run-deployment",
        "deployment_id": deployment["id"],
        "parameters": {"n": "{{ 1 // 0 }}"},
    }
    failed = _fails(api, action)
    assert "parameters.n" in failed.reason and "ZeroDivisionError" in failed.reason
    assert not failed.retryable
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    failed = _fails(api, {**action, "parameters": {"n": loop}})
    assert "took longer than 2 s" in failed.reason and not failed.retryable
    assert _runs_of(api, deployment) == []


# --- deployments, pools, queues, automations ---------------------------------------------
def test_pause_and_resume_deployment(api: ApiClient) -> None:
    deployment = deploy(api)
    result = _run(api, {"type": "pause-deployment", "deployment_id": deployment["id"]})
    assert result == {"deployment_id": deployment["id"], "paused": True}
    assert ok(api.get(f"/api/deployments/{deployment['id']}"))["paused"] is True
    resource = f"vibepiper.deployment.{deployment['id']}"
    body = {"filter": {"resource": {"id": [resource]}, "order": "ASC"}, "limit": 50}
    names = [e["event"] for e in ok(api.post("/api/events/filter", json=body))["events"]]
    assert "vibepiper.deployment.updated" in names

    event = _event(resource)
    _run(api, {"type": "resume-deployment", "source": "inferred"}, event=event)
    assert ok(api.get(f"/api/deployments/{deployment['id']}"))["paused"] is False


def test_pause_and_resume_work_pool_and_queue(api: ApiClient) -> None:
    pool = new_pool(api)
    pool_id = ok(api.get(f"/api/work_pools/{pool}"))["id"]
    result = _run(api, {"type": "pause-work-pool", "work_pool_id": pool_id})
    assert result["paused"] is True and result["work_pool_name"] == pool
    assert ok(api.get(f"/api/work_pools/{pool}"))["status"] == "PAUSED"
    event = _event(f"vibepiper.work-pool.{pool_id}")
    _run(api, {"type": "resume-work-pool", "source": "inferred"}, event=event)
    assert ok(api.get(f"/api/work_pools/{pool}"))["paused"] is False

    queue = ok(api.get(f"/api/work_pools/{pool}/queues"))[0]
    _run(api, {"type": "pause-work-queue", "work_queue_id": queue["id"]})
    assert ok(api.get(f"/api/work_pools/{pool}/queues/{queue['name']}"))["paused"] is True
    event = _event(f"vibepiper.work-queue.{queue['id']}")
    _run(api, {"type": "resume-work-queue", "source": "inferred"}, event=event)
    assert ok(api.get(f"/api/work_pools/{pool}/queues/{queue['name']}"))["paused"] is False

    failed = _fails(api, {"type": "pause-work-queue", "work_queue_id": str(uuid.uuid4())})
    assert "work queue" in failed.reason and "not found" in failed.reason
    failed = _fails(api, {"type": "pause-work-pool", "source": "inferred"})
    assert "no work pool could be inferred" in failed.reason


def test_pause_and_resume_automation(api: ApiClient) -> None:
    trigger = {"type": "event", "expect": ["vibepiper.test.x"], "posture": "Reactive"}
    body = {"name": unique("auto"), "trigger": trigger, "actions": [{"type": "do-nothing"}]}
    automation_id = ok(api.post("/api/automations/", json=body), 201)["id"]

    def enabled() -> bool:
        return bool(ok(api.get(f"/api/automations/{automation_id}"))["enabled"])

    _run(api, {"type": "pause-automation", "automation_id": automation_id})
    assert enabled() is False
    event = _event(f"vibepiper.automation.{automation_id}")
    _run(api, {"type": "resume-automation", "source": "inferred"}, event=event)
    assert enabled() is True
    # inferred with nothing named: the automation that fired
    _run(
        api,
        {"type": "pause-automation", "source": "inferred"},
        automation_id=uuid.UUID(automation_id),
    )
    assert enabled() is False
    failed = _fails(api, {"type": "resume-automation", "automation_id": str(uuid.uuid4())})
    assert "not found" in failed.reason


# --- flow runs ----------------------------------------------------------------------------
def test_cancel_flow_run(api: ApiClient) -> None:
    deployment = deploy(api)
    scheduled = create_run(api, deployment)
    event = _event(f"vibepiper.flow-run.{scheduled['id']}")
    result = _run(api, {"type": "cancel-flow-run"}, event=event)
    assert result == {"flow_run_id": scheduled["id"], "state": "CANCELLED"}
    run = _read_run(api, scheduled["id"])
    assert run["state_type"] == "CANCELLED" and "Automation" in run["state"]["message"]

    running = _flow_run(api)
    _set(api, running["id"], "RUNNING")
    task_event = _event(
        f"vibepiper.task-run.{uuid.uuid4()}", (f"vibepiper.flow-run.{running['id']}", "flow-run")
    )
    result = _run(api, {"type": "cancel-flow-run"}, event=task_event)
    assert result["state"] == "CANCELLING"
    assert _read_run(api, running["id"])["state_type"] == "CANCELLING"

    done = _flow_run(api)
    _set(api, done["id"], "COMPLETED")
    failed = _fails(
        api, {"type": "cancel-flow-run"}, event=_event(f"vibepiper.flow-run.{done['id']}")
    )
    assert "already ended" in failed.reason
    failed = _fails(api, {"type": "cancel-flow-run"}, event=_event("vibepiper.thing.1"))
    assert "no flow run could be inferred" in failed.reason


def test_suspend_then_resume_reschedules(api: ApiClient) -> None:
    run = _flow_run(api)
    _set(api, run["id"], "RUNNING")
    labels = {"prefect.resource.id": f"prefect.flow-run.{run['id']}"}  # a for_each bucket
    result = _run(api, {"type": "suspend-flow-run"}, labels=labels)
    # still executing: the run's process acknowledges at its next task boundary
    assert (result["state"], result["state_name"]) == ("RUNNING", "Suspending")
    states = ok(api.get(f"/api/flow_runs/{run['id']}/states"))
    assert states[-1]["state_details"]["pause_reschedule"] is True
    assert states[-1]["state_details"]["pause_timeout_seconds"] == 3600
    details = {"pause_reschedule": True, "pause_key": "suspend-1"}
    body = {"state": {"type": "PAUSED", "name": "Suspended", "state_details": details}}
    assert ok(api.post(f"/api/flow_runs/{run['id']}/set_state", json=body))["status"] == "ACCEPT"

    before = dt.datetime.now(dt.UTC)
    result = _run(api, {"type": "resume-flow-run"}, labels=labels)
    assert (result["state"], result["state_name"]) == ("SCHEDULED", "Resuming")
    after = _read_run(api, run["id"])
    assert dt.datetime.fromisoformat(after["expected_start_time"]) >= before
    assert after["worker_name"] is None

    failed = _fails(api, {"type": "resume-flow-run"}, labels=labels)
    assert "resumed already" in failed.reason and not failed.retryable


def test_resume_a_paused_run_to_running(api: ApiClient) -> None:
    run = _flow_run(api)
    _set(api, run["id"], "RUNNING")
    _set(api, run["id"], "PAUSED")
    event = _event(f"vibepiper.flow-run.{run['id']}")
    assert _run(api, {"type": "resume-flow-run"}, event=event)["state"] == "RUNNING"
    after = _read_run(api, run["id"])
    assert (after["state_type"], after["run_count"]) == ("RUNNING", 1)  # not a new attempt


def test_change_flow_run_state_with_a_rendered_message(api: ApiClient) -> None:
    run = _flow_run(api)
    _set(api, run["id"], "RUNNING")
    event = _event(f"vibepiper.flow-run.{run['id']}", name="vibepiper.flow-run.Running")
    action = {
        "type": "change-flow-run-state",
        "state": "FAILED",
        "name": "Escalated",
        "message": "{{ automation.name }} saw {{ event.event }} of {{ flow_run.name }}",
    }
    result = _run(api, action, event=event, automation_name="watchdog")
    assert (result["state"], result["state_name"]) == ("FAILED", "Escalated")
    state = _read_run(api, run["id"])["state"]
    assert state["message"] == f"watchdog saw vibepiper.flow-run.Running of {run['name']}"

    # the orchestration rules apply: a Failed run does not go Running again
    refused = _fails(api, {**action, "state": "RUNNING", "message": None}, event=event)
    assert "refused RUNNING" in refused.reason


def test_delete_flow_run(api: ApiClient) -> None:
    run = _flow_run(api)
    event = _event(f"vibepiper.flow-run.{run['id']}")
    assert _run(api, {"type": "delete-flow-run"}, event=event)["deleted"] is True
    assert api.get(f"/api/flow_runs/{run['id']}").status_code == 404
    failed = _fails(api, {"type": "delete-flow-run"}, event=event)
    assert "not found" in failed.reason and not failed.retryable


# --- delivery and failures ----------------------------------------------------------------
def test_notifications_and_webhooks_are_delivered_by_automation_delivery(api: ApiClient) -> None:
    missing = str(uuid.uuid4())
    for kind in ("send-notification", "call-webhook"):
        failed = _fails(api, {"type": kind, "block_document_id": missing})
        assert f"block document {missing}" in failed.reason


def test_a_database_that_does_not_answer_is_retryable(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from vibepiper.server.services import deployments

    async def down(*_: Any) -> None:
        raise sa.exc.OperationalError("UPDATE deployment", {}, OSError("connection refused"))

    monkeypatch.setattr(deployments, "set_paused", down)
    failed = _fails(api, {"type": "pause-deployment", "deployment_id": str(uuid.uuid4())})
    assert failed.retryable and "the database did not answer" in failed.reason

    async def broken(*_: Any) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(deployments, "set_paused", broken)
    failed = _fails(api, {"type": "pause-deployment", "deployment_id": str(uuid.uuid4())})
    assert not failed.retryable and "unexpected KeyError" in failed.reason

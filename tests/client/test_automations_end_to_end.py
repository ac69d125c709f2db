"""Automations on a real server (SQLite and PostgreSQL) end to end: a flow run fails in
a script pointed at the server; the automation on `prefect.flow-run.Failed` posts a
Slack-style message to a local HTTP server (with the run's name, state message, last log
lines and dashboard link) and starts a run of a deployment whose parameters come from the
failed run, typed; its actions are recorded as events and in its log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import Server, backend_server
from tests.client.test_notifications_webhooks import Recorder, web

__all__ = ["web"]  # a fixture, imported to be found

pytestmark = pytest.mark.slow

SCRIPT = """
from vibepiper import flow, get_run_logger

@flow(name="nightly-etl")
def nightly(rows: int) -> None:
    logger = get_run_logger()
    for number in range(1, 13):
        logger.info("loaded batch %02d", number)
    raise ValueError(f"{rows} rows did not add up")

nightly(rows=42, return_state=True)
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {
        "VIBEPIPER_SERVER_UI_URL": "https://vibepiper.example.com/ui",
        # the results the tests' flows store are under pytest's temporary directory
        "VIBEPIPER_SERVER_READABLE_STORAGE": str(tmp_path_factory.getbasetemp()),
    }
    with backend_server(request.param, tmp_path_factory.mktemp("server"), env) as server:
        yield server


def _api(server: Server, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{server.url}{path}", timeout=30, **kwargs)
    assert response.is_success, response.text
    return response.json() if response.content else None


def _until(check: Any, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_failed_run_notifies_and_starts_a_deployment(
    running: Server, web: Recorder, tmp_path: Path
) -> None:
    slack = _api(running, "GET", "/block_types/slug/slack-webhook")
    schema = _api(
        running,
        "POST",
        "/block_schemas/filter",
        json={"block_schemas": {"block_type_id": {"any_": [slack["id"]]}}},
    )[0]
    block = _api(
        running,
        "POST",
        "/block_documents/",
        json={
            "name": f"ops-{uuid.uuid4().hex[:8]}",
            "block_type_id": slack["id"],
            "block_schema_id": schema["id"],
            "data": {"url": f"{web.url}/services/T1/B2/secret"},
        },
    )
    schema_body = {
        "type": "object",
        "properties": {"failed_run": {"type": "string"}, "rows": {"type": "integer"}},
    }
    deployment = _api(
        running,
        "POST",
        "/deployments/",
        json={
            "name": f"cleanup-{uuid.uuid4().hex[:8]}",
            "flow_name": "cleanup",
            "parameter_openapi_schema": schema_body,
            "enforce_parameter_schema": True,
        },
    )
    automation = _api(
        running,
        "POST",
        "/automations/",
        json={
            "name": "on-nightly-failure",
            "trigger": {
                "match": {"prefect.resource.id": "prefect.flow-run.*"},
                "match_related": {"prefect.resource.name": "nightly-etl"},
                "expect": ["prefect.flow-run.Failed"],
            },
            "actions": [
                {"type": "send-notification", "block_document_id": block["id"]},
                {
                    "type": "run-deployment",
                    "deployment_id": deployment["id"],
                    "parameters": {
                        "failed_run": "{{ flow_run.name }}",
                        "rows": "{{ flow_run.parameters.rows }}",
                    },
                },
            ],
        },
    )
    (tmp_path / "nightly.py").write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "VIBEPIPER_API_URL": running.url, "VIBEPIPER_HOME": str(tmp_path)}
    env.pop("VIBEPIPER_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "nightly.py"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    message = _until(lambda: web.requests and web.requests[-1].body.decode())
    assert message, "no notification arrived"
    runs = _api(running, "POST", "/flow_runs/filter", json={})
    [run] = [r for r in runs if r["parameters"] == {"rows": 42}]
    assert run["state"]["type"] == "FAILED"
    assert run["name"] in message and "42 rows did not add up" in message
    assert "loaded batch 05" in message and "loaded batch 12" in message  # the last 10 lines
    assert "loaded batch 04" not in message
    assert f"https://vibepiper.example.com/ui/runs/{run['id']}" in message

    def started() -> list[dict[str, Any]]:
        return [
            r
            for r in _api(running, "POST", "/flow_runs/filter", json={})
            if r["deployment_id"] == deployment["id"]
        ]

    [cleanup] = _until(started)
    assert cleanup["parameters"] == {"failed_run": run["name"], "rows": 42}

    actions = _until(
        lambda: (
            [
                a
                for a in _api(running, "GET", f"/automations/{automation['id']}/actions")
                if a["status"] == "done"
            ]
            if len(_api(running, "GET", f"/automations/{automation['id']}/actions")) == 2
            else []
        )
    )
    assert sorted(a["action"]["type"] for a in actions) == ["run-deployment", "send-notification"]
    spec = {
        "event": {"prefix": ["vibepiper.automation."]},
        "resource": {"id": [f"vibepiper.automation.{automation['id']}"]},
    }
    names = sorted(
        e["event"] for e in _api(running, "POST", "/events/filter", json={"filter": spec})["events"]
    )
    assert names == [
        "vibepiper.automation.action.executed",
        "vibepiper.automation.action.executed",
        "vibepiper.automation.triggered",
    ]


RESULT_SCRIPT = """
from vibepiper import flow
from vibepiper.filesystems import LocalFileSystem

STORAGE = LocalFileSystem(basepath={storage!r})

@flow(name="daily-count", persist_result=True, result_serializer="json", result_storage=STORAGE)
def daily() -> dict:
    return {{"rows": 7, "source": "s3://bucket/2026-12-06"}}

@flow(name="daily-pickled", persist_result=True, result_storage=STORAGE)
def pickled() -> dict:
    return {{"rows": 8}}

daily()
pickled()
"""


def test_the_triggering_runs_persisted_json_result_reaches_the_templates_typed(
    running: Server, tmp_path: Path
) -> None:
    schema_body = {
        "type": "object",
        "properties": {
            "rows": {"type": "integer"},
            "source": {"type": "string"},
            "whole": {"type": "object"},
        },
    }
    deployment = _api(
        running,
        "POST",
        "/deployments/",
        json={
            "name": f"publish-{uuid.uuid4().hex[:8]}",
            "flow_name": "publish",
            "parameter_openapi_schema": schema_body,
            "enforce_parameter_schema": True,
        },
    )
    automations = []
    for flow_name in ("daily-count", "daily-pickled"):
        automation = _api(
            running,
            "POST",
            "/automations/",
            json={
                "name": f"after-{flow_name}-{uuid.uuid4().hex[:6]}",
                "trigger": {
                    "match": {"prefect.resource.id": "prefect.flow-run.*"},
                    "match_related": {"prefect.resource.name": flow_name},
                    "expect": ["prefect.flow-run.Completed"],
                },
                "actions": [
                    {
                        "type": "run-deployment",
                        "deployment_id": deployment["id"],
                        "parameters": {
                            "rows": "{{ result.rows }}",
                            "source": "{{ result.source }}",
                            "whole": "{{ result }}",
                        },
                    }
                ],
            },
        )
        automations.append(automation)
    script = RESULT_SCRIPT.format(storage=str(tmp_path / "results"))
    (tmp_path / "daily.py").write_text(textwrap.dedent(script))
    env = {**os.environ, "VIBEPIPER_API_URL": running.url, "VIBEPIPER_HOME": str(tmp_path)}
    env.pop("VIBEPIPER_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "daily.py"], cwd=tmp_path, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    def started() -> list[dict[str, Any]]:
        return [
            r
            for r in _api(running, "POST", "/flow_runs/filter", json={})
            if r["deployment_id"] == deployment["id"]
        ]

    [run] = _until(started)
    assert run["parameters"] == {
        "rows": 7,
        "source": "s3://bucket/2026-12-06",
        "whole": {"rows": 7, "source": "s3://bucket/2026-12-06"},
    }

    # the server never unpickles a result: `result` is None there, so the integer
    # parameter is refused against the deployment's schema, with the reason
    def failed() -> list[dict[str, Any]]:
        found = _api(running, "GET", f"/automations/{automations[1]['id']}/actions")
        return [a for a in found if a["status"] == "failed"]

    [refused] = _until(failed)
    assert "parameter 'rows' is invalid: None is not of type 'integer'" in refused["error"]

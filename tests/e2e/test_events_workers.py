"""Events around a real worker: it announces itself started and stopped, the pool, its
queue and the deployment become ready when it polls, and the run it runs emits its
state events naming the deployment, work queue and pool (recorded by the server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Server
from tests.e2e.workers_support import (
    deploy,
    pool_name,
    run_deployment,
    wait_final,
    wait_for,
    workers,
)
from vibepiper.client._client import SyncVibePiperClient
from vibepiper.schemas.event_filters import EventFilter, EventNameFilter, EventResourceFilter

pytestmark = pytest.mark.slow


def _names(client: SyncVibePiperClient, **spec: Any) -> list[str]:
    page = client.read_events(EventFilter(order="ASC", **spec), limit=200)
    return [event.event for event in page.events]


def test_a_worker_and_its_run_emit_events(
    server: Server, client: SyncVibePiperClient, project: Path, tmp_path: Path
) -> None:
    pool = pool_name()
    deployment = deploy(client, project, "adder", pool=pool, parameters={"a": 1})
    with workers(server, pool, tmp_path, env={}):
        run = run_deployment(client, deployment, a=2)
        assert wait_final(client, run.id).state_name == "Completed"
        pool_id = client.read_work_pool(pool).id
        ready = wait_for(
            lambda: (
                "vibepiper.work-pool.ready"
                in _names(
                    client, resource=EventResourceFilter(id=[f"vibepiper.work-pool.{pool_id}"])
                )
            ),
            20,
            "the pool's ready event",
        )
        assert ready
    run_events = client.read_events(
        EventFilter(resource=EventResourceFilter(id=[f"vibepiper.flow-run.{run.id}"]), order="ASC")
    ).events
    assert [e.event for e in run_events] == [
        "vibepiper.flow-run.Scheduled",
        "vibepiper.flow-run.Pending",
        "vibepiper.flow-run.Running",
        "vibepiper.flow-run.Completed",
    ]
    roles = run_events[-1].resource_in_role
    assert roles["deployment"].id == f"vibepiper.deployment.{deployment.id}"
    assert roles["work-pool"].name == pool
    assert roles["work-queue"].name == "default"
    assert roles["flow"].name == "adder"
    workers_events = wait_for(
        lambda: (
            (names := _names(client, event=EventNameFilter(prefix=["vibepiper.worker."]))).count(
                "vibepiper.worker.stopped"
            )
            >= 1
            and names
        ),
        20,
        "the worker's stopped event",
    )
    assert workers_events[:2] == ["vibepiper.worker.started", "vibepiper.worker.stopped"]
    deployment_events = _names(
        client, resource=EventResourceFilter(id=[f"vibepiper.deployment.{deployment.id}"])
    )
    assert deployment_events[:2] == ["vibepiper.deployment.created", "vibepiper.deployment.ready"]

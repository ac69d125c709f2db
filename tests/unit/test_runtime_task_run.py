"""`vibepiper.runtime.task_run`: Prefect's attributes, URLs and env overrides."""

from __future__ import annotations

from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.runtime import task_run
from vibepiper.store.memory import MemoryStore


def test_the_module_lists_prefects_attributes() -> None:
    prefect = {"id", "tags", "name", "parameters", "run_count", "task_name", "api_url", "ui_url"}
    assert set(task_run.FIELDS) == prefect
    assert dir(task_run) == sorted(prefect)


def test_outside_a_task_run() -> None:
    assert task_run.id is None
    assert task_run.api_url is None
    assert task_run.ui_url is None
    assert task_run.run_count == 0


def test_inside_a_task(store: MemoryStore) -> None:
    @task(name="probe", tags=["db"])
    def probe(x: int) -> dict[str, Any]:
        return {name: getattr(task_run, name) for name in task_run.__all__}

    @flow
    def pipeline() -> dict[str, Any]:
        return probe(2)

    seen = pipeline()
    (run,) = store.read_flow_runs()
    (stored,) = store.read_task_runs(run.id)
    assert seen == {
        "id": str(stored.id),
        "name": stored.name,
        "task_name": "probe",
        "parameters": {"x": 2},
        "tags": ["db"],
        "run_count": 1,
        "api_url": f"http://127.0.0.1:4200/api/task_runs/{stored.id}",
        # the dashboard shows a task run on its flow run's page
        "ui_url": f"http://127.0.0.1:4200/runs/{run.id}",
    }


def test_a_task_outside_a_flow_has_no_page(store: MemoryStore) -> None:
    @task
    def lonely() -> Any:
        return task_run.ui_url, task_run.api_url

    ui, api = lonely()
    assert ui is None
    assert api.startswith("http://127.0.0.1:4200/api/task_runs/")


def test_overrides_from_the_environment(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT__RUNTIME__TASK_RUN__RUN_COUNT", "7")
    monkeypatch.setenv("VIBEPIPER__RUNTIME__TASK_RUN__NAME", "named-by-env")

    @task
    def probe() -> tuple[Any, Any]:
        return task_run.run_count, task_run.name

    assert probe() == (7, "named-by-env")
    assert task_run.name == "named-by-env"
    monkeypatch.setenv("PREFECT__RUNTIME__TASK_RUN__PARAMETERS", "{}")
    with pytest.raises(ValueError, match="cannot be set"):
        task_run.parameters  # noqa: B018

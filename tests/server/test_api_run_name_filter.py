"""The `name` filter of flow runs and task runs (exact names, any of them), on SQLite and
PostgreSQL; `name_like` stays a case-insensitive substring."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.server.conftest import ApiClient, unique

NewRun = Callable[..., dict[str, Any]]


def test_flow_runs_by_exact_name(api: ApiClient, new_flow_run: NewRun) -> None:
    flow = unique("flow")
    first, second = unique("run"), unique("run")
    for name in (first, second):
        new_flow_run(flow=flow, name=name)
    new_flow_run(flow=flow, name=first + "-longer")

    def names(body: dict[str, Any]) -> list[str]:
        runs = api.post("/api/flow_runs/filter", json={"flow_name": [flow], **body}).json()
        return sorted(run["name"] for run in runs)

    assert names({"name": [first]}) == [first]
    assert names({"name": [first, second]}) == sorted([first, second])
    assert names({"name": [first.upper()]}) == []
    assert names({"name_like": first}) == sorted([first, first + "-longer"])
    assert api.post("/api/flow_runs/count", json={"name": [second]}).json() == 1


def test_task_runs_by_exact_name(api: ApiClient, new_flow_run: NewRun) -> None:
    run = new_flow_run()
    for name in ("load-0", "load-1", "load-10"):
        body = {"flow_run_id": run["id"], "name": name, "task_key": "load"}
        assert api.post("/api/task_runs/", json=body).status_code == 201
    found = api.post(
        "/api/task_runs/filter", json={"flow_run_id": [run["id"]], "name": ["load-1"]}
    ).json()
    assert [task_run["name"] for task_run in found] == ["load-1"]

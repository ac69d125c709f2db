"""`vibepiper.runtime.flow_run`: Prefect's attributes, URLs, parents and env overrides."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.runtime import flow_run
from vibepiper.settings import reload_settings
from vibepiper.store.memory import MemoryStore

PREFECT_NAMES = {
    "id",
    "tags",
    "scheduled_start_time",
    "name",
    "flow_name",
    "flow_version",
    "parameters",
    "parent_flow_run_id",
    "parent_deployment_id",
    "root_flow_run_id",
    "run_count",
    "api_url",
    "ui_url",
    "job_variables",
}


def test_the_module_lists_prefects_attributes() -> None:
    assert set(flow_run.FIELDS) >= PREFECT_NAMES
    assert flow_run.__all__ == sorted(flow_run.FIELDS)
    assert dir(flow_run) == sorted(flow_run.__all__)
    from vibepiper.runtime.flow_run import name  # type: ignore[attr-defined]

    assert name is None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        flow_run.nope  # noqa: B018


def test_outside_a_run() -> None:
    assert flow_run.id is None
    assert flow_run.root_flow_run_id is None
    assert flow_run.api_url is None
    assert flow_run.ui_url is None
    assert flow_run.job_variables is None
    assert flow_run.parent_flow_run_id is None
    before = dt.datetime.now(dt.UTC)
    assert before <= flow_run.scheduled_start_time <= dt.datetime.now(dt.UTC)


def test_inside_a_flow(store: MemoryStore) -> None:
    @flow(version="2.1")
    def probe() -> dict[str, Any]:
        return {name: getattr(flow_run, name) for name in flow_run.__all__}

    seen = probe()
    (run,) = store.read_flow_runs()
    assert seen["id"] == seen["root_flow_run_id"] == str(run.id)
    assert seen["flow_name"] == "probe"
    assert seen["flow_version"] == "2.1"
    assert seen["parent_flow_run_id"] is None
    assert seen["parent_deployment_id"] is None
    assert seen["deployment_id"] is None
    assert seen["job_variables"] is None
    assert isinstance(seen["scheduled_start_time"], dt.datetime)
    assert seen["api_url"] == f"http://127.0.0.1:4200/api/flow_runs/{run.id}"
    assert seen["ui_url"] == f"http://127.0.0.1:4200/runs/{run.id}"


def test_urls_follow_the_api_url_setting(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIBEPIPER_API_URL", "https://flows.example.com/api/")
    reload_settings()

    @task
    def inside() -> tuple[str, str]:
        return flow_run.api_url, flow_run.ui_url

    @flow
    def probe() -> tuple[str, str]:
        return inside()

    api, ui = probe()
    (run,) = store.read_flow_runs()
    assert api == f"https://flows.example.com/api/flow_runs/{run.id}"
    assert ui == f"https://flows.example.com/runs/{run.id}"


def test_parents_and_root_of_nested_subflows(store: MemoryStore) -> None:
    @flow
    def leaf() -> dict[str, Any]:
        return {
            "id": flow_run.id,
            "parent": flow_run.parent_flow_run_id,
            "root": flow_run.root_flow_run_id,
        }

    @task
    def through_a_task() -> dict[str, Any]:
        return leaf()

    @flow
    def middle() -> dict[str, Any]:
        return {"id": flow_run.id, "leaf": through_a_task()}

    @flow
    def top() -> dict[str, Any]:
        return {"id": flow_run.id, "middle": middle()}

    seen = top()
    leaf_seen = seen["middle"]["leaf"]
    assert leaf_seen["parent"] == seen["middle"]["id"]
    assert leaf_seen["root"] == seen["id"]
    assert len({seen["id"], seen["middle"]["id"], leaf_seen["id"]}) == 3


def test_a_run_named_by_the_environment_is_read_from_the_store(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    @flow(flow_run_name="stored-run")
    def earlier(x: int) -> None:
        return None

    earlier(4)
    (run,) = store.read_flow_runs()
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", str(run.id))
    assert flow_run.id == str(run.id)
    assert flow_run.name == "stored-run"
    assert flow_run.flow_name == "earlier"
    assert flow_run.parameters == {"x": 4}
    assert flow_run.run_count == 1


# --- environment overrides ---------------------------------------------------------------


def test_an_override_is_cast_to_the_attributes_type(
    store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIBEPIPER__RUNTIME__FLOW_RUN__NAME", "from-env")
    monkeypatch.setenv("PREFECT__RUNTIME__FLOW_RUN__RUN_COUNT", "3")
    monkeypatch.setenv("PREFECT__RUNTIME__FLOW_RUN__SCHEDULED_START_TIME", "2024-05-13 20:00")
    monkeypatch.setenv("PREFECT__RUNTIME__FLOW_RUN__ID", "not-a-real-id")
    assert flow_run.name == "from-env"  # None outside a run: kept as text
    assert flow_run.run_count == 3
    assert flow_run.scheduled_start_time == dt.datetime(2024, 5, 13, 20, tzinfo=dt.UTC)
    assert flow_run.id == "not-a-real-id"

    @flow
    def probe() -> tuple[Any, Any]:
        return flow_run.name, flow_run.run_count

    assert probe() == ("from-env", 3)


def test_vibepiper_spelling_wins_over_prefects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT__RUNTIME__FLOW_RUN__NAME", "prefect")
    monkeypatch.setenv("VIBEPIPER__RUNTIME__FLOW_RUN__NAME", "vibepiper")
    assert flow_run.name == "vibepiper"


@pytest.mark.parametrize(
    ("real", "text", "expected"),
    [
        (True, "False", False),
        (False, "true", True),
        (10, "20", 20),
        (1.5, "2.5", 2.5),
        ("foo", "bar", "bar"),
        (
            dt.datetime(2022, 1, 1, tzinfo=dt.UTC),
            "2023-05-13T20:00:00+02:00",
            dt.datetime(2023, 5, 13, 18, tzinfo=dt.UTC),
        ),
    ],
)
def test_the_casts(monkeypatch: pytest.MonkeyPatch, real: Any, text: str, expected: Any) -> None:
    monkeypatch.setitem(flow_run.FIELDS, "probe_attribute", lambda: real)
    monkeypatch.setenv("VIBEPIPER__RUNTIME__FLOW_RUN__PROBE_ATTRIBUTE", text)
    value = flow_run.probe_attribute
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("real", [[1, 2], {"x": 1}, uuid.uuid4()])
def test_values_without_a_cast_cannot_be_overridden(
    monkeypatch: pytest.MonkeyPatch, real: Any
) -> None:
    monkeypatch.setitem(flow_run.FIELDS, "probe_attribute", lambda: real)
    monkeypatch.setenv("VIBEPIPER__RUNTIME__FLOW_RUN__PROBE_ATTRIBUTE", "x")
    with pytest.raises(ValueError, match="cannot be set from an environment variable"):
        flow_run.probe_attribute  # noqa: B018


def test_an_unknown_attribute_set_in_the_environment_is_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT__RUNTIME__FLOW_RUN__NEW_KEY", "foobar")
    assert flow_run.new_key == "foobar"

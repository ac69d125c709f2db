"""`vibepiper.schedules` (Cron, Interval, RRule) and `flow.to_deployment(...)` without a server."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vibepiper import flow
from vibepiper.deployments import RunnerDeployment
from vibepiper.deployments._entrypoint import EntrypointError, locate_flow
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schedules import Cron, Interval, RRule, as_schedule
from vibepiper.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule


@flow
def etl(day: str, retries: int = 3, tables: list[str] | None = None) -> int:
    """Load one day."""
    return retries


def test_cron_becomes_the_wire_model_with_its_policies() -> None:
    schedule = Cron(
        "0 6 * * *", timezone="Europe/Berlin", catchup=True, max_catchup_runs=5, overlap="skip"
    )
    wire = schedule.to_schedule_create()
    assert isinstance(wire.schedule, CronSchedule)
    assert wire.schedule.cron == "0 6 * * *"
    assert wire.schedule.timezone == "Europe/Berlin"
    assert (wire.catchup, wire.max_catchup_runs, wire.overlap, wire.active) == (
        True,
        5,
        "skip",
        True,
    )


def test_interval_takes_seconds_or_a_timedelta_and_an_anchor() -> None:
    anchor = dt.datetime(2024, 1, 1, 6, tzinfo=dt.UTC)
    by_delta = Interval(dt.timedelta(hours=2), anchor_date=anchor).to_schedule_create()
    by_seconds = Interval(7200).to_schedule_create()
    assert isinstance(by_delta.schedule, IntervalSchedule)
    assert by_delta.schedule.interval == 7200
    assert by_delta.schedule.anchor_date == anchor
    assert isinstance(by_seconds.schedule, IntervalSchedule)
    assert by_seconds.schedule.interval == 7200


def test_rrule_and_inactive_schedules() -> None:
    wire = RRule("FREQ=DAILY;BYHOUR=6", active=False).to_schedule_create()
    assert isinstance(wire.schedule, RRuleSchedule)
    assert wire.active is False


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cron("every day"), "cron: invalid cron expression 'every day'"),
        (lambda: Cron("* * * * *", timezone="Mars/Base"), "unknown time zone 'Mars/Base'"),
        (lambda: Interval(0), "interval: Input should be greater than or equal to 1"),
        (lambda: Interval(1e-38), "interval: Input should be greater than or equal to 1"),
        (lambda: RRule("FREQ=SOMETIMES"), "invalid rrule"),
        (lambda: Cron("* * * * *", overlap="never"), "overlap:"),  # type: ignore[arg-type]
        (lambda: Cron("* * * * *", max_catchup_runs=0), "max_catchup_runs:"),
    ],
)
def test_bad_schedules_fail_where_they_are_written(make: object, message: str) -> None:
    with pytest.raises(ValueError, match="invalid") as caught:
        make()  # type: ignore[operator]
    assert message in str(caught.value)


def test_as_schedule_reads_yaml_style_mappings_and_names_unknown_keys() -> None:
    schedule = as_schedule({"cron": "0 * * * *", "timezone": "UTC", "overlap": "queue_one"})
    assert schedule.kind == "cron"
    assert schedule.overlap == "queue_one"
    with pytest.raises(ValueError, match=r"unknown cron schedule key.*'every'"):
        as_schedule({"cron": "0 * * * *", "every": 3})
    with pytest.raises(ValueError, match="exactly one of 'cron', 'interval' or 'rrule'"):
        as_schedule({"timezone": "UTC"})


def test_to_deployment_records_entrypoint_schema_and_shortcut_schedules() -> None:
    deployment = etl.to_deployment(
        "nightly",
        cron="0 6 * * *",
        interval=[3600],
        parameters={"day": "2024-05-01"},
        tags=["etl"],
        concurrency_limit=2,
    )
    assert isinstance(deployment, RunnerDeployment)
    assert deployment.full_name == "etl/nightly"
    # a flow in an importable module is found again by module path, run from the cwd
    assert deployment.entrypoint == f"{__name__}:etl"
    assert deployment.path == str(Path.cwd().resolve())
    assert [s.kind for s in deployment.schedules] == ["cron", "interval"]
    assert deployment.description == "Load one day."
    schema = deployment.parameter_openapi_schema
    assert schema is not None
    assert schema["required"] == ["day"]
    assert schema["properties"]["retries"]["type"] == "integer"
    assert schema["properties"]["retries"]["default"] == 3
    wire = deployment.to_create()
    assert wire.flow_name == "etl"
    assert wire.parameters == {"day": "2024-05-01"}
    assert wire.work_pool_name is None
    assert len(wire.schedules) == 2


def test_prefects_schedule_models_and_one_schedule_are_taken() -> None:
    from vibepiper.client.schemas import schedules as prefect_path

    deployment = etl.to_deployment(
        "models",
        schedules=[
            prefect_path.CronSchedule(cron="0 6 * * *", timezone="Europe/Paris"),
            prefect_path.IntervalSchedule(interval=dt.timedelta(minutes=10)),
        ],
    )
    assert deployment.schedules == [Cron("0 6 * * *", timezone="Europe/Paris"), Interval(600)]
    one = etl.to_deployment("one", schedule=prefect_path.RRuleSchedule(rrule="FREQ=DAILY"))
    assert one.schedules == [RRule("FREQ=DAILY")]
    with pytest.raises(TypeError, match="either schedule="):
        etl.to_deployment("x", schedule=Interval(60), cron="* * * * *")


def test_to_deployment_refuses_unknown_parameters_and_mixed_schedule_styles() -> None:
    with pytest.raises(ValueError, match=r"flow 'etl' has no parameter.*'dya'"):
        etl.to_deployment("x", parameters={"dya": 1})
    with pytest.raises(TypeError, match="either schedule=/schedules"):
        etl.to_deployment("x", cron="* * * * *", schedules=[Interval(60)])


def test_a_flow_defined_in_a_function_gets_its_entrypoint_as_in_prefect() -> None:
    @flow
    def inner() -> None:
        pass

    deployment = inner.to_deployment("x")
    assert deployment.entrypoint.endswith(
        ":test_a_flow_defined_in_a_function_gets_its_entrypoint_as_in_prefect.<locals>.inner"
    )
    # another process cannot load it, and says so
    from vibepiper.engine.entrypoints import load_entrypoint

    with pytest.raises(ObjectNotFound, match="defined inside a function"):
        load_entrypoint(deployment.entrypoint)


def test_a_lambda_cannot_be_deployed() -> None:
    with pytest.raises(EntrypointError, match="is a lambda"):
        flow(name="anon")(lambda: None).to_deployment("x")


_SCRIPT = """
import json
from vibepiper import flow

@flow
def hello(name: str = "world"):
    return name

if __name__ == "__main__":
    d = hello.to_deployment("d")
    print(json.dumps({"entrypoint": d.entrypoint, "path": d.path}))
"""


def test_a_script_flow_gets_a_path_relative_to_the_project_dir(tmp_path: Path) -> None:
    script = tmp_path / "flows" / "hello.py"
    script.parent.mkdir()
    script.write_text(_SCRIPT)
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert '"entrypoint": "flows/hello.py:hello"' in done.stdout
    assert f'"path": "{tmp_path.resolve()}"' in done.stdout
    # run from elsewhere: the script's own directory becomes the path
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, str(script)], cwd=elsewhere, capture_output=True, text=True, env=env
    )
    assert '"entrypoint": "hello.py:hello"' in done.stdout
    assert f'"path": "{script.parent.resolve()}"' in done.stdout


def test_locate_flow_names_a_missing_source_file() -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec("def f():\n    pass\n", namespace)
    with pytest.raises(EntrypointError, match="no source file"):
        locate_flow(namespace["f"], "f")

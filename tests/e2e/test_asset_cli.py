"""`vibepiper asset` as real processes: the catalogue of assets two flows recorded on the
embedded store (one materializes `orders`, the other reads it to make `report`) is
listed, inspected (lineage across the flows, checks, freshness not evaluated without a
server), refused materialization in one line (no deployment), and deleted (asking first
unless --yes). The same from the events the SDK itself records (`@materialize`,
`@check`, `asset_deps`). Against a real server, its loop evaluates freshness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import backend_server

pytestmark = pytest.mark.slow

ORDERS = "s3://lake/orders.csv"
REPORT = "postgres://warehouse/report"

# The events the SDK's @materialize/@check record (docs/assets.md), written with
# emit_event so this test depends only on the event shapes.
SCRIPT = textwrap.dedent(
    """
    import json
    from vibepiper import flow, task
    from vibepiper.events import emit_event
    from vibepiper.runtime import flow_run, task_run

    ORDERS = "s3://lake/orders.csv"
    REPORT = "postgres://warehouse/report"
    FRESHNESS = {"within_seconds": 3600, "warn_within_seconds": None, "cron": None,
                 "timezone": None}


    def related(flow_name):
        return [
            {"vibepiper.resource.id": f"vibepiper.flow-run.{flow_run.id}",
             "vibepiper.resource.role": "flow-run"},
            {"vibepiper.resource.id": f"vibepiper.task-run.{task_run.id}",
             "vibepiper.resource.role": "task-run"},
            {"vibepiper.resource.id": f"vibepiper.flow.{flow_name}",
             "vibepiper.resource.role": "flow", "vibepiper.resource.name": flow_name},
        ]


    @task
    def load_orders():
        emit_event(
            "vibepiper.asset.materialization.succeeded",
            {"vibepiper.resource.id": ORDERS, "vibepiper.resource.name": "Orders",
             "vibepiper.asset.owners": json.dumps(["ana"]),
             "vibepiper.asset.freshness": json.dumps(FRESHNESS)},
            related=related("ingest"),
            payload={"metadata": {"rows": 3}},
        )
        emit_event(
            "vibepiper.asset.check.passed",
            {"vibepiper.resource.id": ORDERS},
            related=[{"vibepiper.resource.id": "vibepiper.asset-check.not_empty",
                      "vibepiper.resource.role": "asset-check"}, *related("ingest")],
            payload={"check": "not_empty", "severity": "error", "blocking": True,
                     "description": "has rows", "metadata": {}},
        )


    @task
    def build_report():
        emit_event(
            "vibepiper.asset.referenced",
            {"vibepiper.resource.id": ORDERS},
            related=[{"vibepiper.resource.id": REPORT, "vibepiper.resource.role": "asset"},
                     *related("reporting")],
        )
        emit_event(
            "vibepiper.asset.materialization.succeeded",
            {"vibepiper.resource.id": REPORT},
            related=[{"vibepiper.resource.id": ORDERS, "vibepiper.resource.role": "asset"},
                     *related("reporting")],
            payload={"metadata": {}},
        )


    @flow
    def ingest():
        load_orders()


    @flow
    def reporting():
        build_report()


    if __name__ == "__main__":
        ingest()
        reporting()
    """
)


def _env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "COLUMNS": "250"}
    env.pop("VIBEPIPER_API_URL", None)
    env.pop("VIBEPIPER_API_KEY", None)
    if api_url is not None:
        env["VIBEPIPER_API_URL"] = api_url
    return env


def _cli(
    home: Path, *args: str, api_url: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "asset", *args],
        env=_env(home, api_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _here(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`vibepiper asset ...` run in this process (Typer's runner) against the embedded store
    under `home`: the same command as `_cli` without a new interpreter each time (each
    starts the in-process API, ~2 s)."""
    from typer.testing import CliRunner

    from vibepiper.cli.root import app
    from vibepiper.settings import reload_settings

    env = {"VIBEPIPER_HOME": str(home), "COLUMNS": "250", "VIBEPIPER_API_URL": None}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        reload_settings()
        try:
            result = CliRunner().invoke(app, ["asset", *args], input=stdin)
        finally:
            patch.undo()
            reload_settings()
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def _record(tmp_path: Path, home: Path, api_url: str | None = None) -> None:
    (tmp_path / "flows.py").write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "flows.py")],
        env=_env(home, api_url),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stderr, result.stderr
    return result.stdout


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(_ok(result))


def _one_line_error(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[-1], lines


def test_catalogue_on_the_embedded_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "No assets." in _ok(_here(home, "ls"))
    _record(tmp_path, home)

    listed = _json(_cli(home, "ls", "--json"))  # a real process once
    assert [a["key"] for a in listed] == [REPORT, ORDERS]
    orders = listed[1]
    assert (orders["name"], orders["owners"], orders["metadata"]) == (
        "Orders",
        ["ana"],
        {"rows": 3},
    )
    assert (orders["health"], orders["checks"]["passed"], orders["last_flow_name"]) == (
        "healthy",
        1,
        "ingest",
    )
    assert orders["freshness"]["within_seconds"] == 3600 and orders["freshness_status"] is None
    table = _ok(_here(home, "ls"))
    assert "Orders" in table and "not evaluated" in table

    inspected = _json(_here(home, "inspect", ORDERS, "--json"))
    assert (inspected["upstream"], inspected["downstream"]) == ([], [REPORT])
    assert [c["check"] for c in inspected["checks"]] == ["not_empty"]
    assert _json(_here(home, "inspect", REPORT, "--json"))["upstream"] == [ORDERS]
    text = _ok(_here(home, "inspect", ORDERS))
    for shown in ("Orders", "ingest", REPORT, "not_empty", "evaluated by a running server"):
        assert shown in text, text

    _one_line_error(_cli(home, "materialize", ORDERS), "not a run of a deployment")
    _one_line_error(_here(home, "inspect", "s3://lake/missing"), "no asset 's3://lake/missing'")
    _one_line_error(_here(home, "delete", "s3://lake/missing", "--yes"), "no asset")

    declined = _here(home, "delete", REPORT, stdin="n\n")
    _one_line_error(declined, "nothing deleted")
    assert f"Deleted asset {REPORT!r}." in _ok(_here(home, "delete", REPORT, stdin="y\n"))
    assert _json(_here(home, "inspect", ORDERS, "--json"))["downstream"] == []
    assert _json(_here(home, "delete", ORDERS, "--yes", "--json")) == {"deleted": ORDERS}
    assert _json(_here(home, "ls", "--json")) == []


def test_a_server_evaluates_freshness(tmp_path: Path) -> None:
    with backend_server("sqlite", tmp_path / "server") as server:
        home = tmp_path / "client-home"
        _record(tmp_path, home, api_url=server.url)
        deadline = time.monotonic() + 30
        while True:
            orders = _json(_cli(home, "inspect", ORDERS, "--json", api_url=server.url))
            if orders["asset"]["freshness_status"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert orders["asset"]["freshness_status"] == "fresh"
        assert "fresh (policy: within 1h 00m)" in _ok(
            _cli(home, "inspect", ORDERS, api_url=server.url)
        )


SDK_SCRIPT = textwrap.dedent(
    """
    import datetime as dt
    from vibepiper import flow
    from vibepiper.assets import (
        Asset, AssetProperties, Freshness, add_asset_metadata, check, materialize,
    )

    orders = Asset("s3://lake/orders.csv", properties=AssetProperties(name="Orders"),
                   freshness=Freshness(within=dt.timedelta(hours=1)))
    report = Asset("postgres://warehouse/report")


    @materialize(orders, by="duckdb")
    def load_orders() -> list[int]:
        add_asset_metadata(orders, {"rows": 3})
        return [1, 2, 3]


    @check(orders, severity="warn")
    def many_rows(rows) -> bool:
        return len(rows) > 5


    @materialize(report, asset_deps=[orders])
    def build_report() -> int:
        return 6


    @flow
    def ingest() -> list[int]:
        return load_orders()


    @flow
    def reporting() -> int:
        return build_report()


    if __name__ == "__main__":
        ingest()
        reporting()
    """
)


def test_the_catalogue_of_what_the_sdk_recorded(tmp_path: Path) -> None:
    """The SDK's own events (`@materialize`, `@check`, `asset_deps`) on the embedded store."""
    home = tmp_path / "home"
    (tmp_path / "sdk_flows.py").write_text(SDK_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "sdk_flows.py")],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    orders = _json(_here(home, "inspect", ORDERS, "--json"))
    asset = orders["asset"]
    assert (asset["name"], asset["metadata"], asset["materialized_by"]) == (
        "Orders",
        {"rows": 3},
        "duckdb",
    )
    assert (asset["checks"], asset["health"]) == (
        {"passed": 0, "failed": 0, "warned": 1},
        "warning",
    )
    assert asset["freshness"]["within_seconds"] == 3600
    assert orders["downstream"] == [REPORT]
    assert [c["check"] for c in orders["checks"]] == ["many_rows"]
    report = _json(_here(home, "inspect", REPORT, "--json"))
    assert (report["upstream"], report["asset"]["last_flow_name"]) == ([ORDERS], "reporting")

"""`vibepiper artifact` as real processes: artifacts published by a flow script on the
embedded store are listed (latest per key, every one, by run and type), inspected with
their versions, and deleted (asking first unless --yes); errors are one line. And the
same listing from a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import backend_server

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    from vibepiper import flow, task
    from vibepiper.artifacts import (
        create_file_artifact,
        create_link_artifact,
        create_markdown_artifact,
        create_progress_artifact,
        create_table_artifact,
        update_progress_artifact,
    )


    @task
    def summarize() -> None:
        create_markdown_artifact("# Sales\\nup 4%", key="sales-report", description="daily")


    @flow
    def etl() -> None:
        create_markdown_artifact("# Sales\\nup 2%", key="sales-report")
        summarize()
        create_table_artifact([{"region": "eu", "sales": 10}, {"region": "us", "sales": 12}],
                              key="sales-table")
        create_link_artifact("https://example.com/dashboard", "dashboard")
        progress = create_progress_artifact(0, key="load-progress")
        update_progress_artifact(progress, 75)
        create_file_artifact(b"region,sales\\neu,10\\n", key="sales-csv", filename="sales.csv")
        from vibepiper.runtime import flow_run
        print("RUN", flow_run.id)


    if __name__ == "__main__":
        etl()
    """
)


def _env(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "COLUMNS": "250"}  # tables unwrapped
    env.pop("VIBEPIPER_API_URL", None)
    env.pop("VIBEPIPER_API_KEY", None)
    if api_url is not None:
        env["VIBEPIPER_API_URL"] = api_url
    return env


def _cli(
    home: Path, *args: str, api_url: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The command on the embedded store at `home`, or on the server at `api_url`."""
    return subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "artifact", *args],
        env=_env(home, api_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _publish(tmp_path: Path, home: Path, api_url: str | None = None) -> str:
    """Run the flow script; the id of its flow run."""
    (tmp_path / "etl.py").write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "etl.py")],
        env=_env(home, api_url),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split("RUN ", 1)[1].split()[0]


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


def test_list_inspect_and_delete_on_the_embedded_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "No artifacts." in _ok(_cli(home, "ls"))
    flow_run_id = _publish(tmp_path, home)

    latest = _json(_cli(home, "ls", "--json"))
    assert [a["key"] for a in latest] == [
        "load-progress",
        "sales-csv",
        "sales-report",
        "sales-table",
    ]
    by_key = {a["key"]: a for a in latest}
    assert by_key["sales-report"]["data"] == "# Sales\nup 4%"  # the task's, made last
    assert by_key["sales-report"]["task_run_id"] is not None
    assert by_key["load-progress"]["data"] == 75
    assert json.loads(by_key["sales-table"]["data"])[1] == {"region": "us", "sales": 12}

    every = _json(_cli(home, "ls", "--all", "--json"))
    assert len(every) == 6 and sum(a["key"] is None for a in every) == 1  # the link
    of_run = _json(_cli(home, "ls", "--flow-run", flow_run_id, "--json"))
    assert {a["id"] for a in of_run} == {a["id"] for a in every}
    tables = _json(_cli(home, "ls", "--type", "table", "--json"))
    assert [a["key"] for a in tables] == ["sales-table"]
    assert [a["key"] for a in _json(_cli(home, "ls", "--key", "sales-csv", "--json"))] == [
        "sales-csv"
    ]
    assert len(_json(_cli(home, "ls", "--all", "--limit", "2", "--json"))) == 2

    table = _ok(_cli(home, "ls"))
    for shown in ("Latest artifacts", "sales-report", "# Sales up 4%", "75%", "2 rows"):
        assert shown in table, table
    assert "sales.csv (19 bytes)" in table

    inspected = _json(_cli(home, "inspect", "sales-report", "--json"))
    assert inspected["latest"]["data"] == "# Sales\nup 4%"
    assert [v["data"] for v in inspected["versions"]] == ["# Sales\nup 4%", "# Sales\nup 2%"]
    text = _ok(_cli(home, "inspect", "sales-report"))
    assert "Versions of 'sales-report' (newest first)" in text and "daily" in text
    sales_table = _ok(_cli(home, "inspect", "sales-table"))
    assert "region" in sales_table and "us" in sales_table  # shown as a table
    by_id = _json(_cli(home, "inspect", by_key["sales-csv"]["id"], "--json"))
    assert by_id["latest"]["metadata_"]["filename"] == "sales.csv"
    assert "storage_key" in _ok(_cli(home, "inspect", "sales-csv"))

    declined = _cli(home, "delete", "sales-report", stdin="n\n")
    _one_line_error(declined, "nothing deleted")
    assert "Delete artifact 'sales-report' (2 versions)?" in declined.stdout
    assert len(_json(_cli(home, "inspect", "sales-report", "--json"))["versions"]) == 2
    confirmed = _ok(_cli(home, "delete", "sales-report", stdin="y\n"))
    assert "Deleted artifact 'sales-report' (2 versions)." in confirmed
    assert _json(_cli(home, "delete", "sales-table", "--yes", "--json")) == {
        "deleted": "sales-table",
        "versions": 1,
    }
    link_id = next(a["id"] for a in every if a["key"] is None)
    assert _json(_cli(home, "delete", link_id, "--yes", "--json"))["versions"] == 1
    assert [a["key"] for a in _json(_cli(home, "ls", "--json"))] == ["load-progress", "sales-csv"]
    assert len(_json(_cli(home, "ls", "--all", "--json"))) == 2


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _one_line_error(_cli(home, "inspect", "missing"), "no artifact 'missing'")
    _one_line_error(_cli(home, "delete", "missing", "--yes"), "no artifact 'missing'")
    _one_line_error(
        _cli(home, "inspect", "00000000-0000-0000-0000-000000000000"), "no artifact '0000"
    )
    _one_line_error(_cli(home, "inspect", "Not_A_Key"), "must only contain lowercase letters")
    _one_line_error(_cli(home, "ls", "--flow-run", "nope"), "'nope' is not a flow run id")


def test_listing_from_a_server(tmp_path: Path) -> None:
    with backend_server("sqlite", tmp_path / "server") as server:
        home = tmp_path / "client-home"
        flow_run_id = _publish(tmp_path, home, api_url=server.url)
        latest = _json(_cli(home, "ls", "--json", api_url=server.url))
        assert {a["key"] for a in latest} == {
            "load-progress",
            "sales-csv",
            "sales-report",
            "sales-table",
        }
        assert all(a["flow_run_id"] == flow_run_id for a in latest)
        # the server's own database, read through the in-process API, holds the same
        assert len(_json(_cli(server.home, "ls", "--all", "--json"))) == 6
        deleted = _json(_cli(home, "delete", "sales-report", "--yes", "--json", api_url=server.url))
        assert deleted == {"deleted": "sales-report", "versions": 2}

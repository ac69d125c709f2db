"""`vibepiper block ...` and `vibepiper variable ...` as real subprocesses, with no server
(the in-process API over the embedded store): --json, masked secrets, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # each command starts the in-process API (~1.5 s)

BLOCKS = textwrap.dedent(
    """
    from pydantic import SecretStr

    from vibepiper.blocks.core import Block


    class Warehouse(Block):
        \"\"\"A data warehouse connection.\"\"\"

        dsn: str
        password: SecretStr


    class Abstract(Block):
        pass
    """
)


def cli(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home), "COLUMNS": "200"}
    env.pop("VIBEPIPER_API_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", *args],
        env=env,
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    return result


def as_json(home: Path, *args: str) -> Any:
    return json.loads(cli(home, *args, "--json").stdout)


def test_register_list_inspect_delete_and_rotate(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "blocks.py").write_text(BLOCKS)
    registered = as_json(home, "block", "register", "-f", str(tmp_path / "blocks.py"))
    assert [item["slug"] for item in registered] == ["warehouse", "abstract"]
    assert "warehouse" in cli(home, "block", "type", "ls").stdout
    assert {t["slug"] for t in as_json(home, "block", "type", "ls")} >= {"warehouse"}
    described = as_json(home, "block", "type", "inspect", "warehouse")
    assert described["schema"]["fields"]["secret_fields"] == ["password"]
    assert "password: string  (secret)" in cli(home, "block", "type", "inspect", "warehouse").stdout

    script = (
        "import sys; sys.path.insert(0, '.'); from blocks import Warehouse; "
        "Warehouse(dsn='pg://db', password='hunter2-xyz').save('prod')"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "VIBEPIPER_HOME": str(home)},
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    listed = as_json(home, "block", "ls")
    assert [(b["slug"], b["data"]) for b in listed] == [
        ("warehouse/prod", {"dsn": "pg://db", "password": "********"})
    ]
    for args in (("block", "ls"), ("block", "inspect", "warehouse/prod")):
        for variant in ((), ("--json",)):
            output = cli(home, *args, *variant).stdout
            assert "hunter2-xyz" not in output and ("********" in output or args[1] == "ls")
    rotated = as_json(home, "block", "rotate-key")
    assert rotated["rotated"] == 1 and rotated["key_source"] == "file"
    assert as_json(home, "block", "inspect", "warehouse/prod")["data"]["dsn"] == "pg://db"

    missing = cli(home, "block", "inspect", "warehouse/nope", ok=False)
    assert missing.stderr.strip() == (
        "Error: no block 'warehouse/nope' (vibepiper block ls lists them)"
    )
    bad = cli(home, "block", "inspect", "no-slash", ok=False)
    assert "is not BLOCK_TYPE_SLUG/NAME" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert as_json(home, "block", "delete", "warehouse/prod")["deleted"] == "warehouse/prod"
    assert as_json(home, "block", "ls") == []
    assert "No blocks." in cli(home, "block", "ls").stdout
    neither = cli(home, "block", "register", ok=False)
    assert "exactly one of --module" in neither.stderr


def test_register_a_module(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "my_blocks.py").write_text(BLOCKS)
    registered = as_json(home, "block", "register", "-m", "my_blocks")
    assert {item["slug"] for item in registered} == {"warehouse", "abstract"}
    assert (
        "Successfully registered 2 block type(s)"
        in cli(home, "block", "register", "-m", "my_blocks").stdout
    )
    nothing = cli(home, "block", "register", "-m", "json", ok=False)
    assert "defines no block class" in nothing.stderr


def test_variables(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "Set variable 'batch_size'" in cli(home, "variable", "set", "batch_size", "500").stdout
    assert cli(home, "variable", "get", "batch_size").stdout.strip() == "500"
    assert as_json(home, "variable", "get", "batch_size") == 500
    taken = cli(home, "variable", "set", "batch_size", "1", ok=False)
    assert "pass --overwrite" in taken.stderr
    cli(home, "variable", "set", "batch_size", '{"a": [1]}', "--overwrite", "--tag", "etl")
    record = as_json(home, "variable", "inspect", "batch_size")
    assert (record["value"], record["tags"]) == ({"a": [1]}, ["etl"])
    cli(home, "variable", "set", "greeting", "hello world")
    assert cli(home, "variable", "get", "greeting").stdout == "hello world\n"
    assert [v["name"] for v in as_json(home, "variable", "ls")] == ["batch_size", "greeting"]
    assert "greeting" in cli(home, "variable", "ls").stdout
    bad = cli(home, "variable", "set", "Bad-Name", "1", ok=False)
    assert "lowercase letters" in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert as_json(home, "variable", "unset", "greeting") == {"deleted": "greeting"}
    gone = cli(home, "variable", "get", "greeting", ok=False)
    assert gone.stderr.strip() == "Error: no variable 'greeting' (vibepiper variable ls lists them)"
    assert "no variable 'greeting'" in cli(home, "variable", "unset", "greeting", ok=False).stderr

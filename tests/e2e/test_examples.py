"""Every script in ../shared/examples runs unchanged and prints what its docstring promises."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_EXAMPLES = REPO.parent / "shared" / "examples"


def _run(script: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=script.parent,
    )


def _expected_lines(script: Path) -> list[str]:
    """The backticked strings after 'Expected' in the module docstring (asides in
    parentheses left out)."""
    text = script.read_text()
    docstring = text.split('"""')[1]
    expected_part = re.sub(r"\([^)]*\)", "", docstring[docstring.index("Expected") :])
    return re.findall(r"`([^`]+)`", expected_part)


def _examples() -> list[Path]:
    if not SHARED_EXAMPLES.is_dir():
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"shared examples not found at {SHARED_EXAMPLES}")
        return []
    return sorted(p for p in SHARED_EXAMPLES.glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", _examples(), ids=lambda p: p.name)
def test_shared_example_prints_what_it_promises(script: Path, tmp_path: Path) -> None:
    result = _run(script, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    expected = _expected_lines(script)
    assert expected, f"{script.name} states no expected output"
    output = result.stdout + result.stderr
    stdout_lines = [line for line in result.stdout.splitlines() if line.strip()]
    if "last line" in script.read_text().split('"""')[1]:
        # the promised lines are the last lines printed by the script
        assert stdout_lines[-len(expected) :] == expected, result.stdout
    else:
        for line in expected:
            assert line in output, output


def _ls_json(home: Path) -> list[dict[str, object]]:
    env = {**os.environ, "VIBEPIPER_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-m", "vibepiper.cli", "flow-run", "ls", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_quickstart_runs_and_its_run_is_listed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _run(REPO / "examples" / "quickstart.py", home)
    assert result.returncode == 0, result.stderr
    assert "grand total: " in result.stderr
    runs = _ls_json(home)
    assert [(r["flow_name"], r["state_name"]) for r in runs] == [("quickstart", "Completed")]

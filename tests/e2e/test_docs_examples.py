"""Every Python example in docs/ and the README runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [
    REPO / "docs" / "authoring.md",
    REPO / "docs" / "results.md",
    REPO / "docs" / "task-runners.md",
    REPO / "docs" / "concurrency.md",
    REPO / "docs" / "deployments.md",
    REPO / "README.md",
]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for index, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)):
            found.append((f"{doc.name}#{index}", block))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("label", "code"), _blocks(), ids=[label for label, _ in _blocks()])
def test_doc_example_runs(label: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "VIBEPIPER_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"{label} failed:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout

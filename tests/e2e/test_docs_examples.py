"""Every Python example in docs/ and the README runs as written, and calls nothing at
import time (see `test_doc_example_does_nothing_on_import`)."""

from __future__ import annotations

import ast
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
    REPO / "docs" / "client.md",
    REPO / "docs" / "dashboard.md",
    REPO / "docs" / "blocks.md",
    REPO / "docs" / "events.md",
    REPO / "docs" / "automations.md",
    REPO / "docs" / "artifacts.md",
    REPO / "docs" / "input.md",
    REPO / "docs" / "pause.md",
    REPO / "docs" / "background-tasks.md",
    REPO / "docs" / "assets.md",
    REPO / "README.md",
]
"""The pages whose ```python blocks run with no server (```py blocks need one)."""
EVERY_PAGE = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])


def _blocks(pages: list[Path], languages: str = "python") -> list[tuple[str, str]]:
    found = []
    pattern = rf"^```(?:{languages})\n(.*?)^```"
    for doc in pages:
        for index, block in enumerate(re.findall(pattern, doc.read_text(), re.S | re.M)):
            found.append((f"{doc.name}#{index}", block))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "code"), _blocks(DOCS), ids=[label for label, _ in _blocks(DOCS)]
)
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


def _is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` exactly, with no `else`."""
    if not isinstance(node, ast.If) or node.orelse:
        return False
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
        and len(test.comparators) == 1
        and isinstance(test.comparators[0], ast.Constant)
        and test.comparators[0].value == "__main__"
    )


def _is_literal(node: ast.expr | None) -> bool:
    if node is None:  # `x: int` declares without running anything
        return True
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def statements_run_on_import(code: str) -> list[str]:
    """The top-level statements of `code` that do something when it is imported.

    Allowed at top level, because importing them runs no flow and no I/O:
    - `import` and `from ... import`;
    - `def`, `async def` and `class`, decorators included (`@flow(...)` and `@task(...)`
      build the Flow or Task object; nothing runs until it is called);
    - an assignment (`=` or annotated) of a literal: numbers, strings, None, and lists,
      tuples, sets and dicts of literals (`CALLS = []`); a bare annotation;
    - a string expression (a docstring);
    - `if __name__ == "__main__":` (no `else`), whatever its body.
    Everything else is reported as `line N: <statement>`: a call (`print(...)`,
    `etl()`, `etl.deploy(...)`), an assignment computed by a call (`state = etl()`,
    `path = Path(...)`), `with`, `for`, `try`, `assert`, any other `if`, ...
    """
    problems = []
    for node in ast.parse(code).body:
        if isinstance(
            node,
            (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef),
        ):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_literal(node.value):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if _is_main_guard(node):
            continue
        problems.append(f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}")
    return problems


EVERY_BLOCK = _blocks(EVERY_PAGE, "python|py")


@pytest.mark.parametrize(("label", "code"), EVERY_BLOCK, ids=[label for label, _ in EVERY_BLOCK])
def test_doc_example_does_nothing_on_import(label: str, code: str) -> None:
    """A Python example in docs/ or the README (```python and ```py blocks) runs its
    flows, and anything else that acts, only under `if __name__ == "__main__":`.

    `vibepiper flow-run retry`, workers and `Flow.from_source` import the module an
    entrypoint names; a flow called at its top level would then run again and record
    an extra flow run. The precise rule is `statements_run_on_import`'s docstring.
    """
    problems = statements_run_on_import(code)
    assert not problems, (
        f"{label} acts at import time; move these under `if __name__ == '__main__':`\n"
        + "\n".join(problems)
    )


def test_docs_have_python_examples_to_check() -> None:
    pages = {label.split("#")[0] for label, _ in EVERY_BLOCK}
    assert {"README.md", "authoring.md", "deployments.md", "server.md"} <= pages


@pytest.mark.parametrize(
    ("code", "reported"),
    [
        ('"""doc"""\nimport os\nfrom x import y\nCALLS = []\nLIMIT: int = 3\nN: int\n', []),
        ("@flow(retries=2)\ndef etl() -> None:\n    print('hi')\n\nclass C:\n    x = f()\n", []),
        ("def etl(): ...\n\nif __name__ == '__main__':\n    etl()\n", []),
        ("def etl(): ...\n\netl()\n", ["line 3: etl()"]),
        ("state = etl(return_state=True)\n", ["line 1: state = etl(return_state=True)"]),
        ("MARKER = Path('x')\n", ["line 1: MARKER = Path('x')"]),
        ("print(1)\nwith tags('a'):\n    pass\n", ["line 1: print(1)", "line 2: with tags('a'):"]),
        (
            "if __name__ == '__main__':\n    pass\nelse:\n    etl()\n",
            ["line 1: if __name__ == '__main__':"],
        ),
        ("if __name__ != '__main__':\n    etl()\n", ["line 1: if __name__ != '__main__':"]),
        ("async def main(): ...\n\nawait main()\n", ["line 3: await main()"]),
    ],
)
def test_import_time_rule(code: str, reported: list[str]) -> None:
    assert statements_run_on_import(code) == reported

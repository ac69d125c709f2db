"""Every shell command in README.md and docs/*.md runs as written (issue 12).

What runs: each command of the ```bash, ```sh and ```console blocks (in a console
block, the `$ ` lines; the other lines are the output shown). A command spans lines
while a quote is open or a line ends with `\\`; blank and `#` lines are skipped. Usage
synopses (`[--limit N]`, `a|b`) are not commands: the docs put them in ```text blocks.

How: one real `vibepiper server start` for the module (the `server` fixture of
tests/e2e/conftest.py), and one test per page, which runs the page's commands in page
order, each with `bash -c` in a fresh directory, the way a reader pastes them into one
terminal: `export NAME=VALUE` lines carry over to the page's later commands. Every
command starts with `VIBEPIPER_HOME` set to the server's home, so the embedded store
and the server share one database, as in the docs.

The docs' conventions, which the test relies on:
- the server is `localhost:4200` or `127.0.0.1:4200`: rewritten to the module's port;
- ids are the shell variables `$FLOW_ID`, `$FLOW_RUN_ID`, `$TASK_RUN_ID` and
  `$DEPLOYMENT_ID` (see docs/server.md "Endpoints" and docs/cli.md "Conventions"). Each
  block that names one gets fresh objects: the flow `etl`; a failed run of a real flow
  `etl` (recorded in the embedded store, with task runs, logs and a stored entrypoint,
  so `flow-run retry` completes it); the first task run of that flow run; a new
  deployment of `etl`. Any other `$..._ID` fails the test;
- `.venv/bin/` is this checkout's virtualenv;
- `curl` gets `--fail-with-body -sS`: an answer other than 2xx fails the command;
- in a console block, shown output starting with `Error:` means the command must exit
  1 with that message (ids aside); shown JSON must have the keys the command prints;
  any other command must exit 0;
- `python NAME.py` runs the page's next ```python or ```py block, saved as NAME.py
  (```py: an example that needs the server).

Commands that cannot run here are named below with the reason: SKIPPED (never run),
BACKGROUND (started in the background, stopped after the page's last command) and
SCRATCH_DATABASE (run against a database of their own). After each page the test deletes
the deployments, work pools and concurrency limits it created, so pages do not depend
on each other's leftovers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.client.conftest import Server

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
PAGE_PATHS = {path.name: path for path in PAGES}
VENV_BIN = Path(sys.executable).parent

_SERVES = "serves until stopped; the module's server stands in for it"
SKIPPED = {
    "make demo": "serves the dashboard until Ctrl-C",
    "make test": "runs the whole test suite",
    "make install": "reinstalls this checkout's .venv",
    "make fmt": "rewrites the checkout's files",
    "make lint": "lints the whole checkout (CI runs it)",
    "make types": "type-checks the whole checkout (CI runs it)",
    "make bench": "runs the benchmarks for minutes and rewrites benchmarks/RESULTS.md",
    "make ui": "needs Node.js and rebuilds the packaged dashboard",
    "make image": "builds a container image (the docker tests' fixture and .ci/run build it)",
    "podman system service --time=0 unix:///tmp/podman.sock &": (
        "starts Podman's API, which runs until stopped"
    ),
    "eval $(../shared/containers/start-podman.sh)": (
        "starts Podman's API and may install Podman; ../shared is not beside the scratch "
        "directory (the docker tests' fixture and .ci/run start it)"
    ),
    "vibepiper worker start --pool containers": (
        "a docker worker needs a container engine (tests/e2e/test_docker_worker.py runs one)"
    ),
    "vibepiper deployment run etl/in-a-container --param rows=5 --watch": (
        "--watch waits for a run only a docker worker can run"
    ),
    "podman ps -a --filter label=io.vibepiper.work-pool=containers": "needs a container engine",
    "podman build -t localhost/etl:1 .": (
        "builds an image from localhost/vibepiper:dev (tests/e2e/test_docker_deploy.py builds one)"
    ),
    "cd ui && npm run dev": "needs Node.js, and serves until Ctrl-C",
    ".venv/bin/pytest tests/ui -q": "runs the browser test suite (tests/ui) itself",
    "VIBEPIPER_UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/ui -q": (
        "runs tests/ui and rewrites docs/screenshots/"
    ),
    "pip install vibepiper[server]": "installs from the package index",
    "pip install vibepiper[otel]": "installs from the package index",
    "podman run --rm -d -p 16686:16686 -p 4318:4318 docker.io/jaegertracing/all-in-one:1.57": (
        "pulls a Jaeger image from a registry"
    ),
    "OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 OTEL_SERVICE_NAME=etl python traced.py": (
        "exports to that Jaeger (tests/e2e/test_tracing_otlp.py exports to a real receiver)"
    ),
    "vibepiper server start": _SERVES,
    "vibepiper server start --host 0.0.0.0 --port 8080": _SERVES,
    "vibepiper server start --port 4200 &": _SERVES,
    ".venv/bin/vibepiper server start --port 4200": _SERVES,
    "VIBEPIPER_SERVER_API_KEY=s3cret vibepiper server start": (
        f"{_SERVES} (without an API key: the curl after it sends one anyway)"
    ),
    "export VIBEPIPER_DATABASE_URL=postgresql+asyncpg://vibepiper:pw@db/vibepiper": (
        "names a PostgreSQL host 'db' that does not exist here"
    ),
    "vibepiper server start --host 0.0.0.0 --port 4200": f"{_SERVES} (needs PostgreSQL at 'db')",
}
BACKGROUND = {
    "vibepiper worker start --pool local": "runs the deployments' runs until stopped",
    "vibepiper worker start --pool local --limit 4": "runs the deployments' runs until stopped",
    "vibepiper worker start --pool templated": "runs the job templates example's runs",
}
SCRATCH_DATABASE = {
    "vibepiper server database upgrade": "migrates",
    "vibepiper server database downgrade": "drops the newest revision's tables",
    "vibepiper server database reset --yes": "deletes everything",
    "vibepiper server database upgrade --json": "migrates",
    "vibepiper block rotate-key --json": (
        "replaces the key file under the module's running server, which keeps the old key"
    ),
}
PLACEHOLDERS = ("FLOW_ID", "FLOW_RUN_ID", "TASK_RUN_ID", "DEPLOYMENT_ID")

ETL_FLOW = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from vibepiper import flow, task

    FAIL = "fail-while-here"


    @task(persist_result=True)
    def extract(n: int) -> list[int]:
        return list(range(n))


    @task(persist_result=True)
    def load(rows: list[int]) -> int:
        if (Path(__file__).parent / FAIL).exists():
            raise OSError("disk full")
        return len(rows)


    @flow(log_prints=True)
    def etl(n: int = 3) -> int:
        print(f"loading {n} rows")
        return load(extract(n))


    if __name__ == "__main__":
        for _ in range(int(sys.argv[1])):
            print("RUN", etl(3, return_state=True).state_details.flow_run_id)
    """
)
"""The flow whose failed runs stand for `$FLOW_RUN_ID` (they complete when retried)."""


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    block: int
    text: str
    shown: str | None = None
    """A console block's output under the command (None in bash/sh blocks)."""

    @property
    def key(self) -> str:
        """The command's words, without comments: how the lists above name it."""
        return " ".join(shlex.split(self.text, comments=True))

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def _complete(text: str) -> bool:
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # a quote still open
        return False
    return True


def _shell_commands(page: str, block: int, body: str, first: int) -> list[Command]:
    commands: list[Command] = []
    pending: list[str] = []
    start = first
    for offset, line in enumerate(body.splitlines()):
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = first + offset
        pending.append(line)
        if _complete("\n".join(pending)):
            commands.append(Command(page, start, block, "\n".join(pending)))
            pending = []
    assert not pending, f"{page}:{start}: a command that never ends"
    return commands


def _console_commands(page: str, block: int, body: str, first: int) -> list[Command]:
    commands: list[Command] = []
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        if not lines[index].startswith("$ "):
            index += 1
            continue
        start = index
        text = [lines[index][2:]]
        while text[-1].endswith("\\") and index + 1 < len(lines):
            index += 1
            text.append(lines[index])
        index += 1
        shown = []
        while index < len(lines) and not lines[index].startswith("$ "):
            shown.append(lines[index])
            index += 1
        output = "\n".join(shown).strip()
        commands.append(Command(page, first + start, block, "\n".join(text), output))
    return commands


def page_commands(path: Path) -> list[Command]:
    """The commands of a page's shell blocks, in page order."""
    text = path.read_text()
    commands: list[Command] = []
    blocks = re.finditer(r"^( *)```(bash|sh|console)\n(.*?)^\1```", text, re.S | re.M)
    for number, match in enumerate(blocks):
        first = text.count("\n", 0, match.start()) + 2  # the block's first line
        body = textwrap.dedent(match.group(3))
        split = _console_commands if match.group(2) == "console" else _shell_commands
        commands.extend(split(path.name, number, body, first))
    return commands


def python_block_after(path: Path, line: int) -> str:
    text = path.read_text()
    offset = sum(len(row) + 1 for row in text.splitlines()[:line])
    match = re.compile(r"^```(?:python|py)\n(.*?)^```", re.S | re.M).search(text, offset)
    assert match, f"{path.name}:{line}: no ```python or ```py block after this command"
    return match.group(1)


ALL_COMMANDS = {path: page_commands(path) for path in PAGES}
PAGES_WITH_COMMANDS = [path for path, commands in ALL_COMMANDS.items() if commands]


def _placeholders_in(commands: list[Command]) -> set[str]:
    names = set()
    for command in commands:
        names |= set(re.findall(r"\$\{?([A-Z][A-Z_]*_ID)\b", command.text))
    return names


def _blocks_needing_runs() -> int:
    count = 0
    for commands in ALL_COMMANDS.values():
        for block in {command.block for command in commands}:
            used = _placeholders_in([c for c in commands if c.block == block])
            count += bool(used & {"FLOW_RUN_ID", "TASK_RUN_ID"})
    return count


@pytest.fixture(scope="module")
def failed_runs(server: Server, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Failed runs of the `etl` flow in the server's database, one per block that
    names `$FLOW_RUN_ID` or `$TASK_RUN_ID` (taken with `pop()`)."""
    project = tmp_path_factory.mktemp("etl-project")
    (project / "etl_flow.py").write_text(ETL_FLOW)
    (project / "fail-while-here").touch()
    result = subprocess.run(
        [sys.executable, "etl_flow.py", str(_blocks_needing_runs())],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_clean_environ(), "VIBEPIPER_HOME": str(server.home)},
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (project / "fail-while-here").unlink()  # from now on, a retry completes
    return re.findall(r"^RUN (\S+)$", result.stdout, re.M)


def _clean_environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBEPIPER_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


class Api:
    """The few calls the test itself makes on the module's server."""

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def call(self, method: str, url: str, body: Any = None) -> Any:
        response = self.http.request(method, url, json=body)
        assert response.is_success, f"{method} {url}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def names(self) -> dict[str, set[str]]:
        return {
            "deployments": {d["id"] for d in self.call("POST", "/deployments/filter", {})},
            "pools": {p["name"] for p in self.call("GET", "/work_pools/")},
            "limits": {limit["name"] for limit in self.call("GET", "/concurrency_limits/")},
        }

    def delete_new(self, before: dict[str, set[str]]) -> None:
        after = self.names()
        for deployment in after["deployments"] - before["deployments"]:
            self.call("DELETE", f"/deployments/{deployment}")
        for pool in after["pools"] - before["pools"]:
            self.call("DELETE", f"/work_pools/{quote(pool, safe='')}")
        for limit in after["limits"] - before["limits"]:
            self.call("DELETE", f"/concurrency_limits/{quote(limit, safe='')}")


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.http.close()


class Page:
    """One page's terminal: its environment, directory and background processes."""

    def __init__(self, server: Server, api: Api, runs: list[str], cwd: Path) -> None:
        self.server = server
        self.api = api
        self.runs = runs
        self.cwd = cwd
        self.env = {**_clean_environ(), "VIBEPIPER_HOME": str(server.home)}
        self.background: list[subprocess.Popen[bytes]] = []

    def placeholders(self, names: set[str]) -> dict[str, str]:
        unknown = names - set(PLACEHOLDERS)
        assert not unknown, f"placeholders {sorted(unknown)} are not among {PLACEHOLDERS}"
        values = {"FLOW_ID": self.api.call("POST", "/flows/", {"name": "etl"})["id"]}
        if names & {"FLOW_RUN_ID", "TASK_RUN_ID"}:
            assert self.runs, "more blocks need a flow run than failed_runs recorded"
            values["FLOW_RUN_ID"] = self.runs.pop()
            task_runs = self.api.call(
                "POST",
                "/task_runs/filter",
                {"flow_run_id": [values["FLOW_RUN_ID"]], "sort": "CREATED_ASC"},
            )
            values["TASK_RUN_ID"] = task_runs[0]["id"]
        if "DEPLOYMENT_ID" in names:
            body = {"name": f"placeholder-{uuid.uuid4().hex[:8]}", "flow_name": "etl"}
            values["DEPLOYMENT_ID"] = self.api.call("POST", "/deployments/", body)["id"]
        return {name: value for name, value in values.items() if name in names}

    def rewrite(self, text: str) -> str:
        text = re.sub(r"\b(localhost|127\.0\.0\.1):4200\b", f"127.0.0.1:{self.server.port}", text)
        text = re.sub(r"(?<![\w/.-])\.venv/bin/", f"{VENV_BIN}/", text)
        return re.sub(r"(?<![\w-])curl ", "curl --fail-with-body -sS ", text)

    def run(self, command: Command, extra_env: dict[str, str]) -> None:
        if command.key in SKIPPED:
            return
        text = self.rewrite(command.text)
        # a process left running would outlive the suite and load every later test
        assert not _backgrounds(text), f"{command}: list it in SKIPPED or BACKGROUND"
        words = shlex.split(text, comments=True)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            self.env[name] = value
            return
        if words[0] == "python" and len(words) == 2 and words[1].endswith(".py"):
            script = python_block_after(PAGE_PATHS[command.page], command.line)
            (self.cwd / words[1]).write_text(script)
        env = {**self.env, **extra_env}
        if command.key in SCRATCH_DATABASE:
            env["VIBEPIPER_HOME"] = str(self.cwd / "scratch-home")
            env.pop("VIBEPIPER_DATABASE_URL", None)
        if command.key in BACKGROUND:
            with (self.cwd / f"background-{len(self.background)}.log").open("wb") as log:
                self.background.append(
                    subprocess.Popen(
                        ["bash", "-c", f"exec {text}"],
                        env=env,
                        cwd=self.cwd,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            return
        result = subprocess.run(
            ["bash", "-c", f"set -o pipefail\n{text}"],
            env=env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        check(command, text, result)

    def stop_background(self) -> None:
        for process in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
                process.wait()


def _ids_hidden(text: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)


def _keys(value: Any) -> set[str] | None:
    if isinstance(value, list):
        return _keys(value[0]) if value else None
    return set(value) if isinstance(value, dict) else None


def check(command: Command, ran: str, result: subprocess.CompletedProcess[str]) -> None:
    """The command did what its page shows."""
    report = (
        f"{command}\nran: {ran}\nexit status {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    shown = command.shown or ""
    if shown.startswith("Error:"):
        usage_mistake = "(see 'vibepiper" in shown  # a usage error: exit status 2
        assert result.returncode == (2 if usage_mistake else 1), report
        expected = _ids_hidden(shown.splitlines()[0])
        assert expected in _ids_hidden(result.stderr), f"expected {expected!r}\n{report}"
        return
    assert result.returncode == 0, report
    assert "Traceback" not in result.stderr, report
    try:
        documented = _keys(json.loads(shown)) if shown else None
    except json.JSONDecodeError:
        documented = None
    if documented is not None:
        try:
            printed = _keys(json.loads(result.stdout))
        except json.JSONDecodeError:
            pytest.fail(f"the page shows JSON, the command printed something else\n{report}")
        assert printed in (documented, None), (
            f"the page shows keys {sorted(documented)}, the command printed "
            f"{sorted(printed or [])}\n{report}"
        )


def _project_for_deployments(page: Page) -> None:
    """The project docs/deployments.md describes: its first ```py block (the flow `etl`)
    as flows/etl.py, its ```yaml block as vibepiper.yaml (also under ci/), and the
    deployment its first example registers (`etl.serve(name="nightly", ...)`)."""
    from vibepiper.client._client import SyncVibePiperClient
    from vibepiper.engine.entrypoints import load_entrypoint

    text = (REPO / "docs" / "deployments.md").read_text()
    flow_code = re.search(r"^```py\n(.*?)^```", text, re.S | re.M)
    project = re.search(r"^```yaml\n(.*?)^```", text, re.S | re.M)
    assert flow_code and project
    for root in (page.cwd, page.cwd / "ci"):
        (root / "flows").mkdir(parents=True)
        (root / "flows" / "etl.py").write_text(flow_code.group(1))
        (root / "vibepiper.yaml").write_text(project.group(1))
    etl = load_entrypoint(f"{page.cwd / 'flows' / 'etl.py'}:etl")
    with SyncVibePiperClient(page.server.url) as client:
        etl.to_deployment("nightly", cron="0 6 * * *", parameters={"day": "yesterday"}).apply(
            client
        )


PAGE_SETUP = {"deployments.md": _project_for_deployments}


@pytest.mark.slow
@pytest.mark.parametrize("path", PAGES_WITH_COMMANDS, ids=[p.name for p in PAGES_WITH_COMMANDS])
def test_page_commands_run(
    path: Path, server: Server, api: Api, failed_runs: list[str], tmp_path: Path
) -> None:
    before = api.names()
    page = Page(server, api, failed_runs, tmp_path)
    try:
        if path.name in PAGE_SETUP:
            PAGE_SETUP[path.name](page)
        commands = ALL_COMMANDS[path]
        for block in sorted({command.block for command in commands}):
            in_block = [command for command in commands if command.block == block]
            placeholders = page.placeholders(_placeholders_in(in_block))
            for command in in_block:
                page.run(command, placeholders)
    finally:
        page.stop_background()
        api.delete_new(before)


def test_documented_schema_revision_is_current() -> None:
    """`/api/version` examples show the schema revision this version migrates to."""
    from vibepiper.database.revision import HEAD_REVISION

    shown = {
        revision
        for path in PAGES
        for revision in re.findall(r'"schema_revision": "(\w+)"', path.read_text())
    }
    assert shown == {HEAD_REVISION}


def test_the_lists_name_commands_of_the_docs() -> None:
    """SKIPPED, BACKGROUND and SCRATCH_DATABASE stay in step with the docs."""
    keys = {command.key for commands in ALL_COMMANDS.values() for command in commands}
    listed = set(SKIPPED) | set(BACKGROUND) | set(SCRATCH_DATABASE)
    assert listed <= keys, f"no longer in the docs: {sorted(listed - keys)}"


def _backgrounds(text: str) -> bool:
    return bool(re.search(r"(?<!&)&\s*(#.*)?$", text.strip()))


def test_no_unlisted_command_runs_in_the_background() -> None:
    """`cmd &` would outlive the test run: such commands are skipped or run as BACKGROUND."""
    unlisted = [
        str(command)
        for commands in ALL_COMMANDS.values()
        for command in commands
        if _backgrounds(command.text) and command.key not in {*SKIPPED, *BACKGROUND}
    ]
    assert not unlisted, "\n".join(unlisted)
    assert _backgrounds("vibepiper server start --port 4200 &")
    assert not _backgrounds("make a && make b")


def test_shell_blocks_hold_commands_not_synopses() -> None:
    """A usage synopsis (`[--flag]`, `a|b`, `ID`) belongs in a ```text block."""
    synopses = [
        str(command)
        for commands in ALL_COMMANDS.values()
        for command in commands
        if re.search(r"\s\[-|\w\|\w|\s(ID|NAME)(\s|$)", command.text.split("#")[0])
    ]
    assert not synopses, "\n".join(synopses)

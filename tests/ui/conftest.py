"""A real server with real recorded runs, and Debian's Chromium driven by Playwright.

The browser is never downloaded: Playwright launches /usr/bin/chromium (`.ci/run`
installs it with apt-get when it is missing). Screenshots go to tests/ui/artifacts/
(gitignored); with VIBEPIPER_UPDATE_SCREENSHOTS=1 they are copied to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.conftest import Server, new_server

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).with_name("flows.py")
ARTIFACTS = Path(__file__).with_name("artifacts")
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


@dataclass
class Recorder:
    """Runs tests/ui/flows.py against the server, as a user's script would."""

    server: Server
    home: Path
    running: list[subprocess.Popen[str]] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "VIBEPIPER_HOME": str(self.home), "VIBEPIPER_API_URL": self.server.url}
        env.pop("VIBEPIPER_API_KEY", None)
        env["PYTHONPATH"] = str(ROOT / "src")
        return env

    def start(self, name: str, *args: str) -> tuple[str, subprocess.Popen[str]]:
        """Start a flow; return its run id as soon as it runs, and the process."""
        process = subprocess.Popen(
            [sys.executable, str(FLOWS), name, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        self.running.append(process)
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("FLOW_RUN_ID "):
                return line.split()[1], process
        process.wait(timeout=30)
        raise AssertionError(f"flow {name} printed no run id:\n{''.join(seen)}")

    def run(self, name: str, *args: str) -> str:
        """Run a flow to its end; its run id."""
        run_id, process = self.start(name, *args)
        process.communicate(timeout=120)
        return run_id

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A `vibepiper server start` over its own SQLite file, serving the built dashboard."""
    server = new_server(tmp_path_factory.mktemp("ui-server"))
    # the tests' stored artifact files are under pytest's temporary directory
    readable = str(tmp_path_factory.getbasetemp())
    server.start(
        {"VIBEPIPER_SERVER_SERVICES": "false", "VIBEPIPER_SERVER_READABLE_STORAGE": readable}
    )
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def recorder(ui_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorder]:
    recorder = Recorder(ui_server, tmp_path_factory.mktemp("client-home"))
    yield recorder
    recorder.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # module scope: Playwright's sync API keeps an event loop running in this thread
    # while it is open, which would break later tests in the worker that call asyncio.run
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@dataclass
class Tab:
    """A page plus what it did that a test may assert on: dialogs, console errors."""

    page: Any
    base: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        if os.environ.get("VIBEPIPER_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, DOCS_SCREENSHOTS / target.name)
        return target


def new_tab(browser: Any, server: Server) -> Tab:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page=page, base=f"http://127.0.0.1:{server.port}")

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    return tab


@pytest.fixture
def tab(browser: Any, ui_server: Server) -> Iterator[Tab]:
    tab = new_tab(browser, ui_server)
    yield tab
    tab.page.context.close()


def api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10)

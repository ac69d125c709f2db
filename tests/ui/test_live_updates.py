"""Live pages in a real Chromium: the event stream (`/api/events/out`) drives the Runs
list, the Dashboard counts and a flow run's page (a 1,000-task run included, with no
reload per event); the pages fall back to polling when the websocket is blocked,
reconnect after it closes or the server restarts (sending the API key), and the task
graph zooms and pans.

While the stream is up a page polls only every 30 s (SAFETY_INTERVAL_MS in hooks.ts), so
an update seen within a few seconds was brought by the stream. The bounds here are
generous correctness bounds, not speed measurements.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server, new_server
from tests.ui.conftest import Recorder, Tab, api, new_tab

pytestmark = pytest.mark.slow

STREAM = re.compile(r"/api/events/out$")
SOON_MS = 5_000  # far below the 30 s safety poll
IDENTITY = "translate(0,0) scale(1)"
KEY = "s3cret"


@dataclass
class Sockets:
    """The page's websockets to the event stream and the frames they carried."""

    urls: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        def opened(socket: Any) -> None:
            if not STREAM.search(socket.url):
                return
            self.urls.append(socket.url)
            socket.on("framesent", lambda payload: self.sent.append(str(payload)))
            socket.on("framereceived", lambda payload: self.received.append(str(payload)))

        page.on("websocket", opened)

    def subscribed(self, page: Any, count: int = 1) -> None:
        """Wait until `count` subscriptions were sent (the stream follows from then on)."""
        deadline = time.monotonic() + 10
        while sum('"type":"filter"' in frame for frame in self.sent) < count:
            assert time.monotonic() < deadline, f"no subscription was sent: {self.sent}"
            page.wait_for_timeout(50)


@dataclass
class Run:
    """A flow run made through the API, moved from state to state by the test."""

    server: Server
    id: str
    name: str
    key: str | None = None

    def client(self) -> httpx.Client:
        return client_of(self.server, self.key)

    def add_task(self, name: str, state: str = "RUNNING") -> str:
        with self.client() as client:
            created = client.post(
                "/task_runs/",
                json={"flow_run_id": self.id, "name": name, "task_key": name.split("-")[0]},
            )
            assert created.status_code == 201, created.text
            task_id: str = created.json()["id"]
            moved = client.post(f"/task_runs/{task_id}/set_state", json={"state": {"type": state}})
            assert moved.status_code in (200, 201), moved.text
        return task_id

    def finish_task(self, task_id: str) -> None:
        with self.client() as client:
            moved = client.post(
                f"/task_runs/{task_id}/set_state", json={"state": {"type": "COMPLETED"}}
            )
            assert moved.status_code in (200, 201), moved.text

    def set_state(self, state: str) -> None:
        with self.client() as client:
            moved = client.post(f"/flow_runs/{self.id}/set_state", json={"state": {"type": state}})
            assert moved.status_code in (200, 201), moved.text


def client_of(server: Server, key: str | None = None) -> httpx.Client:
    if key is None:
        return api(server)
    return httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {key}"})


def start_run(server: Server, key: str | None = None) -> Run:
    """A running flow run with one running task run."""
    with client_of(server, key) as client:
        flow_id = client.post("/flows/", json={"name": "ui-live"}).json()["id"]
        created = client.post(
            "/flow_runs/",
            json={"flow_id": flow_id, "name": f"live-{uuid.uuid4().hex[:8]}"},
        )
        assert created.status_code == 201, created.text
    run = Run(server, created.json()["id"], created.json()["name"], key)
    run.set_state("RUNNING")
    run.add_task("extract-1")
    return run


@pytest.fixture
def running(ui_server: Server) -> Run:
    return start_run(ui_server)


@pytest.fixture
def keyed_server(tmp_path: Any) -> Iterator[Server]:
    """A server of the test's own, with an API key (the test restarts it)."""
    server = new_server(tmp_path)
    server.start({"VIBEPIPER_SERVER_API_KEY": KEY, "VIBEPIPER_SERVER_SERVICES": "false"})
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


def wait_for_state(server: Server, run_id: str, state: str) -> float:
    """Wait until the API says `run_id` is in `state`; when it first said so."""
    with api(server) as client:
        deadline = time.monotonic() + 30
        while client.get(f"/flow_runs/{run_id}").json()["state_type"] != state:
            assert time.monotonic() < deadline, f"the run never reached {state}"
            time.sleep(0.02)
    return time.monotonic()


def test_a_run_started_after_the_runs_page_opened_appears_and_completes(
    tab: Tab, recorder: Recorder, ui_server: Server, tmp_path: object
) -> None:
    sockets = Sockets()
    sockets.watch(tab.page)
    page = tab.open("/runs")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    sockets.subscribed(page)
    page.wait_for_timeout(600)  # the page's own catch-up load after subscribing is done

    release = f"{tmp_path}/release"
    run_id, process = recorder.start("waiting", release)
    started = time.monotonic()
    row = page.get_by_test_id("run-table").locator(f"tr[data-run-id='{run_id}']")
    expect(row).to_be_visible(timeout=SOON_MS)
    expect(row.locator(".badge")).to_have_text("Running", timeout=SOON_MS)
    assert time.monotonic() - started < SOON_MS / 1000

    open(release, "w").close()
    completed = wait_for_state(ui_server, run_id, "COMPLETED")
    expect(row.locator(".badge")).to_have_text("Completed", timeout=SOON_MS)
    assert time.monotonic() - completed < SOON_MS / 1000
    process.communicate(timeout=30)

    assert len(sockets.urls) == 1, "the page should hold one socket to the stream"
    assert any(run_id in frame for frame in sockets.received), "no event of the run arrived"
    assert tab.errors == []


def test_the_dashboard_counts_follow_a_run_started_after_it_opened(
    tab: Tab, recorder: Recorder, ui_server: Server, tmp_path: object
) -> None:
    sockets = Sockets()
    sockets.watch(tab.page)
    page = tab.open("/")
    running = page.locator(".stat", has_text="Running").locator(".stat-value")
    completed = page.locator(".stat", has_text="Completed").locator(".stat-value")
    expect(running).to_have_text(re.compile(r"^[\d,]+$"))
    sockets.subscribed(page)
    page.wait_for_timeout(600)
    before = {"running": count_of(running), "completed": count_of(completed)}

    release = f"{tmp_path}/release"
    run_id, process = recorder.start("waiting", release)
    expect(running).to_have_text(f"{before['running'] + 1:,}", timeout=SOON_MS)
    open(release, "w").close()
    wait_for_state(ui_server, run_id, "COMPLETED")
    expect(completed).to_have_text(f"{before['completed'] + 1:,}", timeout=SOON_MS)
    expect(running).to_have_text(f"{before['running']:,}")
    process.communicate(timeout=30)
    assert len(sockets.urls) == 1
    assert tab.errors == []


def count_of(locator: Any) -> int:
    return int(str(locator.text_content()).replace(",", ""))


def test_a_running_flow_page_shows_new_task_runs_and_its_end_from_the_stream(
    tab: Tab, running: Run
) -> None:
    sockets = Sockets()
    sockets.watch(tab.page)
    page = tab.open(f"/runs/{running.id}")
    expect(page.locator(".run-header .badge")).to_have_text("Running")
    expect(page.get_by_test_id("live-mark")).to_have_attribute("data-stream", "open")
    expect(page.get_by_test_id("graph-node")).to_have_count(1)
    sockets.subscribed(page)
    page.wait_for_timeout(600)

    started = time.monotonic()
    second = running.add_task("load-1")
    expect(page.get_by_test_id("graph-node")).to_have_count(2, timeout=SOON_MS)
    expect(page.locator("[data-testid=graph-node][data-state=RUNNING]")).to_have_count(2)
    expect(page.get_by_test_id("timeline-bar")).to_have_count(2)
    assert time.monotonic() - started < SOON_MS / 1000

    started = time.monotonic()
    running.finish_task(second)
    expect(page.locator("[data-testid=graph-node][data-state=COMPLETED]")).to_have_count(
        1, timeout=SOON_MS
    )
    running.set_state("COMPLETED")
    expect(page.locator(".run-header .badge")).to_have_text("Completed", timeout=SOON_MS)
    expect(page.get_by_test_id("state-history")).to_contain_text("Completed")
    assert time.monotonic() - started < 2 * SOON_MS / 1000
    # one socket for every query of the page, and it carried the run's events
    assert len(sockets.urls) == 1
    assert any(second in frame for frame in sockets.received)
    assert tab.errors == []


def test_a_thousand_task_run_stays_live_without_a_reload_per_event(
    tab: Tab, recorder: Recorder
) -> None:
    graph_loads: list[str] = []
    tab.page.on("request", lambda r: graph_loads.append(r.url) if "/graph" in r.url else None)
    run_id, process = recorder.start("wide", "1000")
    threading.Thread(target=process.communicate, daemon=True).start()  # drain its output
    page = tab.open(f"/runs/{run_id}")
    expect(page.get_by_test_id("graph-node").first).to_be_visible()
    expect(page.get_by_test_id("loading")).to_have_count(0)  # every part loaded once
    started = time.monotonic()
    flashes = 0
    while process.poll() is None:  # while it runs, the page never goes back to "Loading…"
        flashes += page.get_by_test_id("loading").count()
        assert time.monotonic() - started < 120, "the run did not finish"
        page.wait_for_timeout(100)
    ran = time.monotonic() - started
    expect(page.locator(".run-header .badge")).to_have_text("Completed", timeout=SOON_MS)
    done = page.locator("[data-testid=graph-node][data-state=COMPLETED]")
    expect(done).to_have_count(1000, timeout=SOON_MS)
    expect(page.get_by_test_id("timeline-bar")).to_have_count(1000)
    assert flashes == 0
    # ~3,000 state events, a few graph loads a second at most
    assert len(graph_loads) < 10 + 5 * ran, (len(graph_loads), ran)
    assert tab.errors == []


def test_pages_fall_back_to_polling_when_the_websocket_is_blocked(tab: Tab, running: Run) -> None:
    attempts: list[float] = []

    def refuse(socket: Any) -> None:  # a proxy that will not carry websockets
        attempts.append(time.monotonic())
        socket.close(code=1011, reason="blocked")

    tab.page.route_web_socket(STREAM, refuse)
    page = tab.open(f"/runs/{running.id}")
    expect(page.get_by_test_id("graph-node")).to_have_count(1)
    mark = page.get_by_test_id("live-mark")
    expect(mark).to_have_attribute("data-stream", "down")
    expect(mark).to_contain_text("polling")

    started = time.monotonic()
    running.add_task("load-1")
    expect(page.get_by_test_id("graph-node")).to_have_count(2, timeout=SOON_MS)
    running.set_state("COMPLETED")
    expect(page.locator(".run-header .badge")).to_have_text("Completed", timeout=SOON_MS)
    assert time.monotonic() - started < 2 * SOON_MS / 1000

    # it keeps trying, backing off (1 s, 2 s, ...)
    deadline = time.monotonic() + 10
    while len(attempts) < 3:
        assert time.monotonic() < deadline, f"the page retried {len(attempts)} times"
        page.wait_for_timeout(100)
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[1] > gaps[0] * 1.3, f"no backoff between attempts: {gaps}"
    assert tab.errors == []


def test_the_stream_resumes_after_the_server_closes_it(tab: Tab, running: Run) -> None:
    connections: list[Any] = []

    def through(socket: Any) -> None:  # pass the socket through, keeping a handle on it
        socket.connect_to_server()
        connections.append(socket)

    tab.page.route_web_socket(STREAM, through)
    page = tab.open(f"/runs/{running.id}")
    mark = page.get_by_test_id("live-mark")
    expect(mark).to_have_attribute("data-stream", "open")
    expect(page.get_by_test_id("graph-node")).to_have_count(1)
    assert len(connections) == 1

    # what the page sees when the server goes away: its socket closed from the other end
    connections[0].close(code=1012, reason="server restarting")
    expect(mark).to_have_attribute("data-stream", "down")
    expect(mark).to_have_attribute("data-stream", "open", timeout=SOON_MS)
    assert len(connections) == 2
    page.wait_for_timeout(1000)  # the catch-up load after reconnecting is done

    started = time.monotonic()
    running.add_task("load-1")
    expect(page.get_by_test_id("graph-node")).to_have_count(2, timeout=SOON_MS)
    assert time.monotonic() - started < SOON_MS / 1000
    assert tab.errors == []


def test_the_stream_sends_the_api_key_and_reconnects_after_a_server_restart(
    browser: Any, keyed_server: Server
) -> None:
    run = start_run(keyed_server, KEY)
    tab = new_tab(browser, keyed_server)
    try:
        tab.page.add_init_script(f"localStorage.setItem('vibepiper.apiKey', '{KEY}')")
        page = tab.open(f"/runs/{run.id}")
        mark = page.get_by_test_id("live-mark")
        expect(mark).to_have_attribute("data-stream", "open")
        expect(page.get_by_test_id("graph-node")).to_have_count(1)

        keyed_server.stop()
        expect(mark).to_have_attribute("data-stream", "down")
        keyed_server.start({"VIBEPIPER_SERVER_API_KEY": KEY, "VIBEPIPER_SERVER_SERVICES": "false"})
        keyed_server.wait_healthy()
        # retried after 1 s, 2 s, 4 s, 8 s...: back within the backoff's reach
        expect(mark).to_have_attribute("data-stream", "open", timeout=20_000)
        page.wait_for_timeout(1000)  # the catch-up load after reconnecting is done

        started = time.monotonic()
        run.add_task("load-1")
        expect(page.get_by_test_id("graph-node")).to_have_count(2, timeout=SOON_MS)
        assert time.monotonic() - started < SOON_MS / 1000
        expect(page.get_by_role("form", name="API key")).to_have_count(0)
        assert tab.errors == []
    finally:
        tab.page.context.close()


def test_the_task_graph_zooms_around_the_pointer_pans_and_resets(tab: Tab, running: Run) -> None:
    running.add_task("load-1")
    page = tab.open(f"/runs/{running.id}")
    expect(page.get_by_test_id("graph-node")).to_have_count(2)
    viewport = page.get_by_test_id("graph-viewport")
    expect(viewport).to_have_attribute("transform", IDENTITY)
    box = page.get_by_test_id("task-graph").bounding_box()
    assert box is not None

    # the wheel zooms in around the pointer: the point under it stays put
    x, y = box["x"] + 120, box["y"] + 20
    page.mouse.move(x, y)
    scroll_before = page.evaluate("window.scrollY")
    page.mouse.wheel(0, -300)
    expect(viewport).not_to_have_attribute("transform", IDENTITY)
    scale, tx, ty = view_of(viewport.get_attribute("transform"))
    assert scale > 1
    assert abs(tx + 120 * scale - 120) < 1 and abs(ty + 20 * scale - 20) < 1
    assert page.evaluate("window.scrollY") == scroll_before, "the wheel scrolled the page"
    expect(page.get_by_test_id("graph-zoom-level")).not_to_have_text("100%")

    # dragging pans
    page.mouse.down()
    page.mouse.move(x + 60, y + 30, steps=5)
    page.mouse.up()
    panned = view_of(viewport.get_attribute("transform"))
    assert panned[0] == scale
    assert abs(panned[1] - tx - 60) < 1 and abs(panned[2] - ty - 30) < 1

    page.get_by_test_id("graph-zoom-out").click()
    assert view_of(viewport.get_attribute("transform"))[0] < scale
    page.get_by_test_id("graph-zoom-reset").click()
    expect(viewport).to_have_attribute("transform", IDENTITY)
    expect(page.get_by_test_id("graph-zoom-level")).to_have_text("100%")
    page.get_by_test_id("graph-zoom-in").click()
    assert view_of(viewport.get_attribute("transform"))[0] > 1
    assert tab.errors == []


def view_of(transform: str | None) -> tuple[float, float, float]:
    """(scale, x, y) of a `translate(x,y) scale(k)` attribute."""
    found = re.fullmatch(r"translate\(([-\d.e]+),([-\d.e]+)\) scale\(([-\d.e]+)\)", transform or "")
    assert found, transform
    return float(found[3]), float(found[1]), float(found[2])

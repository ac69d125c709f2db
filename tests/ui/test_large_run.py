"""A flow run with 1,000 task runs: its graph and timeline render every node.

The timing here is only a generous correctness bound; the measured numbers come from
benchmarks/dashboard.py.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.client.conftest import Server
from tests.ui.conftest import Recorder, Tab, api

pytestmark = pytest.mark.slow


def test_a_thousand_task_runs_render_in_the_graph_and_timeline(
    tab: Tab, recorder: Recorder, ui_server: Server
) -> None:
    run_id = recorder.run("wide", "1000")
    with api(ui_server) as client:
        assert client.post("/task_runs/count", json={"flow_run_id": [run_id]}).json() == 1000
    started = time.monotonic()
    page = tab.open(f"/runs/{run_id}")
    expect(page.get_by_test_id("graph-node")).to_have_count(1000, timeout=15_000)
    expect(page.get_by_test_id("timeline-bar")).to_have_count(1000)
    assert time.monotonic() - started < 15
    tab.screenshot("flow-run-1000-tasks")

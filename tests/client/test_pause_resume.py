"""Pausing a flow run in its process and resuming it, with no server (the embedded store
and the in-process API) and against real servers on SQLite and PostgreSQL: typed input
checked before the run moves, one resume only, timeouts, and pauses asked for from
outside that take effect at the next task boundary."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from vibepiper import flow, pause_flow_run, resume_flow_run, task
from vibepiper.client import get_client
from vibepiper.client.errors import ApiValidationError
from vibepiper.exceptions import ObjectNotFound
from vibepiper.flow_runs import FlowPauseTimeout, suspend_flow_run
from vibepiper.input import RunInput
from vibepiper.runtime import flow_run

pytestmark = pytest.mark.usefixtures("api_target")

_NOT_YET = SimpleNamespace(state_name=None, state_type=None)
RESUME_BOUND_S = 2.5
"""The issue asks for the waiting process to continue within 1 s of a resume (no 10 s
poll); this bound leaves room for a loaded machine and still tells the two apart."""


class Approval(RunInput):
    approved: bool
    reviewer: str


def _states(run_id: uuid.UUID) -> list[tuple[str, str]]:
    with get_client(sync_client=True) as client:
        return [(s.type.value, s.name) for s in client.read_flow_run_states(run_id)]


def _state(run_id: uuid.UUID) -> Any:
    """The run as the API has it (a stand-in named None until the run is sent there)."""
    with get_client(sync_client=True) as client:
        try:
            return client.read_flow_run(run_id)
        except ObjectNotFound:
            return _NOT_YET


def _wait(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:
            out["error"] = exc
        out["at"] = time.monotonic()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _paused_id(ids: list[uuid.UUID], name: str = "Paused") -> uuid.UUID:
    def probe() -> bool:
        return bool(ids) and _state(ids[0]).state_name == name

    _wait(probe, 30, f"the run to be {name}")
    return ids[0]


def test_pause_waits_for_typed_input_checked_before_the_run_moves() -> None:
    ids: list[uuid.UUID] = []
    done: list[int] = []

    @task
    def step(x: int) -> int:
        done.append(x)
        return x * 2

    @flow
    def release() -> tuple[int, int, bool, str]:
        ids.append(flow_run.id)
        a = step(1)
        asked = Approval.with_initial_data(description="Approve the **release** of build 7.")
        answer = pause_flow_run(wait_for_input=asked, timeout=60)
        b = step(2)
        return a, b, answer.approved, answer.reviewer

    thread, out = _in_thread(release)
    run_id = _paused_id(ids)
    assert done == [1]  # the flow waits: the task after the pause has not run
    paused = _states(run_id)[-1]
    assert paused == ("PAUSED", "Paused")
    with get_client(sync_client=True) as client:
        details = client.read_flow_run_states(run_id)[-1].state_details
        keyset = details["run_input_keyset"]
        assert details["pause_key"] == "pause-1" and not details.get("pause_reschedule")
        description = client.read_flow_run_input(run_id, keyset["description"])
        assert "**release**" in str(description)

    with pytest.raises(ApiValidationError, match=r"run_input\.reviewer"):
        resume_flow_run(run_id, {"approved": True})
    assert _state(run_id).state_name == "Paused"  # refused input leaves it paused

    asked = time.monotonic()
    resume_flow_run(run_id, {"approved": True, "reviewer": "ann"})
    thread.join(30)
    assert out.get("value") == (2, 4, True, "ann"), out
    assert out["at"] - asked < RESUME_BOUND_S
    with pytest.raises(RuntimeError, match="not paused"):
        resume_flow_run(run_id, {"approved": False, "reviewer": "bob"})
    assert _states(run_id)[-3:] == [
        ("PAUSED", "Paused"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ]


def test_a_plain_type_is_wrapped_and_returned_as_the_value() -> None:
    ids: list[uuid.UUID] = []

    @flow
    def pick() -> int:
        ids.append(flow_run.id)
        return pause_flow_run(wait_for_input=int, timeout=60) + 1

    thread, out = _in_thread(pick)
    run_id = _paused_id(ids)
    with pytest.raises(ApiValidationError, match="value"):
        resume_flow_run(run_id, {"value": "seven"})
    resume_flow_run(run_id, {"value": 41})
    thread.join(30)
    assert out.get("value") == 42, out


def test_a_pause_without_input_refuses_input_and_resumes_without() -> None:
    ids: list[uuid.UUID] = []

    @flow
    def wait_a_bit() -> str:
        ids.append(flow_run.id)
        assert pause_flow_run(timeout=60) is None
        return "on"

    thread, out = _in_thread(wait_a_bit)
    run_id = _paused_id(ids)
    with pytest.raises(ApiValidationError, match="does not wait for input"):
        resume_flow_run(run_id, {"x": 1})
    resume_flow_run(run_id)
    thread.join(30)
    assert out.get("value") == "on", out


def test_a_pause_not_resumed_in_time_fails_the_run() -> None:
    ids: list[uuid.UUID] = []

    @flow
    def forgotten() -> None:
        ids.append(flow_run.id)
        pause_flow_run(timeout=1)

    state = forgotten(return_state=True)
    assert state.is_failed()
    assert "paused and not resumed within 1 s" in (state.message or "")
    with pytest.raises(RuntimeError, match="Failed, not paused"):
        resume_flow_run(ids[0])


def test_a_pause_asked_from_outside_waits_for_the_running_task_then_pauses() -> None:
    ids: list[uuid.UUID] = []
    started = threading.Event()
    release = threading.Event()
    log: list[str] = []

    @task
    def slow() -> str:
        started.set()
        release.wait(30)
        log.append("slow done")
        return "slow"

    @task
    def after() -> str:
        log.append("after")
        return "after"

    @flow
    def job() -> tuple[str, str]:
        ids.append(flow_run.id)
        return slow(), after()

    thread, out = _in_thread(job)
    _wait(started.is_set, 30, "the slow task to start")
    _wait(lambda: _state(ids[0]).state_name == "Running", 30, "the run to be Running")
    with get_client(sync_client=True) as client:
        from vibepiper.client._pauses import request_pause

        result = client._send(request_pause(ids[0], reschedule=False, timeout_seconds=60))
    assert result.status == "ACCEPT" and result.state.name == "Pausing"
    time.sleep(0.5)
    assert _state(ids[0]).state_name == "Pausing"  # still executing: not shown paused
    release.set()
    _wait(lambda: _state(ids[0]).state_name == "Paused", 30, "the pause to be acknowledged")
    assert log == ["slow done"]  # paused at the boundary before `after`
    resume_flow_run(ids[0])
    thread.join(30)
    assert out.get("value") == ("slow", "after"), out
    names = [name for _, name in _states(ids[0])]
    assert names[-5:] == ["Running", "Pausing", "Paused", "Running", "Completed"]


def test_resuming_a_run_whose_pause_was_not_reached_withdraws_the_request() -> None:
    ids: list[uuid.UUID] = []
    release = threading.Event()

    @task
    def hold() -> None:
        release.wait(30)

    @flow
    def job() -> str:
        ids.append(flow_run.id)
        hold()
        hold()
        return "done"

    thread, out = _in_thread(job)
    _wait(lambda: ids and _state(ids[0]).state_name == "Running", 30, "the run to start")
    suspend_flow_run(flow_run_id=ids[0])
    assert _state(ids[0]).state_name == "Suspending"
    resume_flow_run(ids[0])
    assert _state(ids[0]).state_name == "Running"
    release.set()
    thread.join(30)
    assert out.get("value") == "done", out


def test_an_expired_pause_cannot_be_resumed_and_fails_the_run() -> None:
    from vibepiper.schemas import api

    @flow
    def made() -> str:
        return str(flow_run.id)

    run_id = uuid.UUID(made())
    past = "2026-01-01T00:00:00+00:00"
    with get_client(sync_client=True) as client:
        state = api.StateCreate(
            type="PAUSED",
            name="Suspended",
            state_details={"pause_key": "k", "pause_reschedule": True, "pause_timeout": past},
        )
        client.set_flow_run_state(run_id, api.SetState(state=state, force=True))
    with pytest.raises(FlowPauseTimeout, match="timed out"):
        resume_flow_run(run_id)
    assert _state(run_id).state_type.value == "FAILED"


def test_pausing_outside_a_flow_or_in_a_task_is_refused() -> None:
    with pytest.raises(RuntimeError, match="inside a flow run"):
        pause_flow_run()

    @task
    def inner() -> None:
        pause_flow_run()

    @flow
    def outer() -> None:
        inner()

    state = outer(return_state=True)
    assert state.is_failed() and "cannot pause a task run" in (state.message or "")

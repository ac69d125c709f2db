"""Adopting an existing flow run (what a worker's run process does), and the worker's
process helpers, without a server: the embedded store and real directories."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path
from typing import Any

import pytest

from vibepiper import flow
from vibepiper.engine.adopt import RunNotAdoptable, adopt_flow_run, run_adopted_sync
from vibepiper.exceptions import TerminationSignal
from vibepiper.schemas.api import FlowRunRead, StateRead
from vibepiper.schemas.runs import FlowRun, flow_id_for
from vibepiper.states import Pending, StateType
from vibepiper.store import get_store
from vibepiper.utilities.ids import new_id
from vibepiper.workers.process import SourceError, describe_exit, prepare_workdir

hook_calls: list[str] = []


@flow
def double(x: int) -> int:
    return 2 * x


def _note(flow: Any, run: Any, state: Any) -> None:
    hook_calls.append(f"{state.type.value} {run.id}")


@flow(on_cancellation=[_note])
def interrupted() -> None:
    raise TerminationSignal(signal.SIGTERM)  # what the SIGTERM handler raises


def existing_run(flow_name: str, parameters: dict[str, Any], state: str = "PENDING") -> FlowRunRead:
    """A run as the server hands it to a worker, recorded in the local store first."""
    run_id = new_id()
    now = dt.datetime.now(dt.UTC)
    store = get_store()
    record = FlowRun(id=run_id, name="adopted", flow_id=flow_id_for(flow_name), flow_name=flow_name)
    store.create_flow_run(record)
    store.propose_flow_run_state(record, Pending())
    return FlowRunRead(
        id=run_id,
        name="adopted",
        flow_id=flow_id_for(flow_name),
        flow_name=flow_name,
        state_type=StateType(state),
        state_name=state.title(),
        state=StateRead(id=new_id(), type=StateType(state), name=state.title(), timestamp=now),
        parameters=parameters,
        tags=[],
        run_count=0,
        parent_task_run_id=None,
        deployment_id=None,
        flow_version=None,
        entrypoint=None,
        infrastructure_pid=None,
        created=now,
        updated=now,
        start_time=None,
        end_time=None,
        expected_start_time=now,
    )


def test_an_adopted_run_keeps_its_id_and_runs_pending_to_completed() -> None:
    run = existing_run("double", {"x": "21"})
    engine = adopt_flow_run(double, run)
    state = run_adopted_sync(engine)
    assert state.type is StateType.COMPLETED
    assert state.result() == 42  # "21" validated to an int as in a direct call
    store = get_store()
    store.flush()
    history = [row.type for row in store.read_flow_run_states(run.id)]
    assert history == ["PENDING", "RUNNING", "COMPLETED"]
    assert [view.id for view in store.read_flow_runs()] == [run.id]  # no second run


def test_invalid_parameters_fail_an_adopted_run() -> None:
    run = existing_run("double", {"x": "many"})
    state = run_adopted_sync(adopt_flow_run(double, run))
    assert state.type is StateType.FAILED
    assert "x" in (state.message or "")


def test_a_termination_signal_cancels_an_adopted_run_and_runs_its_hooks() -> None:
    hook_calls.clear()
    run = existing_run("interrupted", {})
    engine = adopt_flow_run(interrupted, run)
    with pytest.raises(TerminationSignal):
        run_adopted_sync(engine)
    assert engine.state.type is StateType.CANCELLED
    assert "SIGTERM" in (engine.state.message or "")
    assert hook_calls == [f"CANCELLED {run.id}"]


@pytest.mark.parametrize("state", ["RUNNING", "COMPLETED", "CANCELLED"])
def test_a_run_that_started_or_ended_cannot_be_adopted(state: str) -> None:
    run = existing_run("double", {"x": 1}, state=state)
    with pytest.raises(RunNotAdoptable, match="only a scheduled or pending run"):
        adopt_flow_run(double, run)


def test_exit_descriptions_name_the_signal() -> None:
    assert describe_exit(-9) == "exited with signal 9 (SIGKILL)"
    assert describe_exit(-15) == "exited with signal 15 (SIGTERM)"
    assert describe_exit(1) == "exited with code 1"


def test_workdirs_come_from_the_path_or_the_source(tmp_path: Path) -> None:
    assert prepare_workdir(None, str(tmp_path)).path == tmp_path
    (tmp_path / "sub").mkdir()
    source = {"type": "directory", "path": str(tmp_path)}
    assert prepare_workdir(source, "sub").path == tmp_path / "sub"
    with pytest.raises(SourceError, match="does not exist"):
        prepare_workdir({"type": "directory", "path": str(tmp_path / "nope")}, None)
    with pytest.raises(SourceError, match="unknown source type 's3'"):
        prepare_workdir({"type": "s3"}, None)
    with pytest.raises(SourceError, match=r"git clone .* failed"):
        prepare_workdir({"type": "git", "url": str(tmp_path / "not-a-repo")}, None)

"""The shared store suite: every RunStore backend answers reads exactly as MemoryStore does.

Each test runs once per backend (`any_store`); `test_every_read_is_identical_across_stores`
replays one scenario on both and compares the answers field by field.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.runs import FlowRun, LogRecordRow, TaskRun, TaskRunInput, flow_id_for
from vibepiper.states import (
    Cached,
    Completed,
    Failed,
    Pending,
    Running,
    State,
    StateType,
)
from vibepiper.store.base import RunStore
from vibepiper.store.memory import MemoryStore

T0 = dt.datetime(2026, 11, 22, 2, 48, 45, 123456, tzinfo=dt.UTC)


class Clock:
    """Strictly increasing timestamps, so both stores see the same order."""

    def __init__(self) -> None:
        self._t = T0

    def __call__(self) -> dt.datetime:
        self._t += dt.timedelta(microseconds=137)
        return self._t


def _ids(n: int, seed: int) -> list[uuid.UUID]:
    return [uuid.UUID(int=(seed << 64) | i, version=4) for i in range(n)]


def flow_run(clock: Clock, id: uuid.UUID, flow_name: str = "etl", **fields: Any) -> FlowRun:
    return FlowRun(
        id=id,
        name=f"run-{id.hex[:6]}",
        flow_id=flow_id_for(flow_name),
        flow_name=flow_name,
        created=clock(),
        **fields,
    )


def task_run(
    clock: Clock, id: uuid.UUID, flow_run_id: uuid.UUID | None, i: int, **f: Any
) -> TaskRun:
    return TaskRun(
        id=id,
        name=f"step-{i}",
        task_key="mod.step",
        task_name="step",
        flow_run_id=flow_run_id,
        dynamic_key=str(i),
        created=clock(),
        **f,
    )


def state(clock: Clock, make: Any, seed: int, **kwargs: Any) -> State[Any]:
    return make(timestamp=clock(), id=uuid.UUID(int=seed, version=4), **kwargs)  # type: ignore[no-any-return]


@dataclass
class Scenario:
    """What `play` recorded: ids to read back."""

    flows: list[uuid.UUID] = field(default_factory=list)
    tasks: list[uuid.UUID] = field(default_factory=list)
    loose_task: uuid.UUID | None = None


def play(store: RunStore) -> Scenario:
    """A small but complete history: three flow runs, a task chain with edges, logs."""
    clock = Clock()
    out = Scenario()
    f_ids = _ids(3, 1)
    t_ids = _ids(4, 2)
    seq = iter(range(1000, 2000))

    main = flow_run(
        clock,
        f_ids[0],
        parameters={"n": 3, "when": T0, "items": (1, "a", None), "nested": {"x": [1.5]}},
        tags=["nightly", "etl"],
    )
    store.create_flow_run(main)
    store.propose_flow_run_state(main, state(clock, Pending, next(seq)))
    main.run_count = 1
    store.propose_flow_run_state(main, state(clock, Running, next(seq)))
    out.flows.append(main.id)

    previous: TaskRun | None = None
    for i, t_id in enumerate(t_ids[:3]):
        inputs: dict[str, list[TaskRunInput]] = {
            "x": [TaskRunInput("task_run", previous.id)] if previous else [],
            "n": [TaskRunInput("parameter", name="n")],
        }
        if i == 2:
            inputs["both"] = [
                TaskRunInput("task_run", t_ids[0]),
                TaskRunInput("task_run", t_ids[1]),
            ]
        run = task_run(clock, t_id, main.id, i, task_inputs=inputs, tags=["t"])
        store.create_task_run(run)
        store.propose_task_run_state(run, state(clock, Pending, next(seq)))
        run.run_count = 1
        store.propose_task_run_state(run, state(clock, Running, next(seq)))
        store.write_log(
            LogRecordRow(main.id, run.id, "vibepiper.task_runs", 20, f"step {i}", clock())
        )
        if i == 1:
            run.cache_key = "abc"
            run.details = {"cache": "hit", "why": ["same inputs"]}
            done = state(clock, Cached, next(seq), message="from cache")
        else:
            done = state(clock, Completed, next(seq), message=f"ok {i}")
        store.propose_task_run_state(run, done)
        out.tasks.append(run.id)
        previous = run
    # a log written with an earlier timestamp than the one before it: reads sort by time
    early = T0 + dt.timedelta(microseconds=1)
    store.write_log(LogRecordRow(main.id, None, "vibepiper.flow_runs", 30, "early", early))
    store.propose_flow_run_state(main, state(clock, Completed, next(seq), message="all done"))

    failed = flow_run(clock, f_ids[1], parent_task_run_id=t_ids[0])
    store.create_flow_run(failed)
    store.propose_flow_run_state(failed, state(clock, Running, next(seq)))
    store.propose_flow_run_state(failed, state(clock, Failed, next(seq), message="boom"))
    out.flows.append(failed.id)

    other = flow_run(clock, f_ids[2], flow_name="report")
    store.create_flow_run(other)
    store.propose_flow_run_state(other, state(clock, Pending, next(seq)))
    out.flows.append(other.id)

    loose = task_run(clock, t_ids[3], None, 0)
    store.create_task_run(loose)
    store.propose_task_run_state(loose, state(clock, Running, next(seq)))
    out.loose_task = loose.id
    store.flush()
    return out


def test_flow_run_reads_back_its_fields(any_store: RunStore) -> None:
    ids = play(any_store)
    run = any_store.read_flow_run(ids.flows[0])
    assert run.id == ids.flows[0]
    assert run.flow_name == "etl"
    assert run.flow_id == flow_id_for("etl")
    assert (run.state_type, run.state_name, run.state_message) == (
        "COMPLETED",
        "Completed",
        "all done",
    )
    assert run.parameters == {
        "n": 3,
        "when": T0.isoformat(),
        "items": [1, "a", None],
        "nested": {"x": [1.5]},
    }
    assert run.tags == ["nightly", "etl"]
    assert run.run_count == 1
    assert run.created is not None and run.start_time is not None and run.end_time is not None
    assert run.created < run.start_time < run.end_time
    assert run.duration is not None and run.duration > 0
    assert any_store.read_flow_run(ids.flows[1]).parent_task_run_id == _ids(4, 2)[0]


def test_task_runs_come_in_creation_order_with_their_input_edges(any_store: RunStore) -> None:
    ids = play(any_store)
    runs = any_store.read_task_runs(ids.flows[0])
    assert [r.id for r in runs] == ids.tasks
    assert [r.state_name for r in runs] == ["Completed", "Cached", "Completed"]
    assert [r.state_type for r in runs] == ["COMPLETED"] * 3
    first, second, third = runs
    assert first.task_inputs == {
        "x": [],
        "n": [{"input_type": "parameter", "id": None, "name": "n"}],
    }
    assert second.task_inputs["x"] == [{"input_type": "task_run", "id": str(first.id)}]
    assert third.task_inputs["both"] == [
        {"input_type": "task_run", "id": str(first.id)},
        {"input_type": "task_run", "id": str(second.id)},
    ]
    assert second.cache_key == "abc"
    assert second.details == {"cache": "hit", "why": ["same inputs"]}
    assert second.state_message == "from cache"
    assert (first.task_key, first.task_name, first.dynamic_key, first.tags) == (
        "mod.step",
        "step",
        "0",
        ["t"],
    )
    assert first.run_count == 1
    assert any_store.read_task_runs(ids.flows[2]) == []
    assert any_store.read_task_runs(uuid.uuid4()) == []


def test_states_come_back_in_order_with_messages_and_details(any_store: RunStore) -> None:
    ids = play(any_store)
    flow_states = any_store.read_flow_run_states(ids.flows[0])
    assert [(s.type, s.name, s.message) for s in flow_states] == [
        ("PENDING", "Pending", None),
        ("RUNNING", "Running", None),
        ("COMPLETED", "Completed", "all done"),
    ]
    assert all(s.run_id == ids.flows[0] for s in flow_states)
    assert flow_states[0].details == {"flow_run_id": str(ids.flows[0])}
    assert [s.timestamp for s in flow_states] == sorted(s.timestamp for s in flow_states)

    task_states = any_store.read_task_run_states(ids.tasks[1])
    assert [s.name for s in task_states] == ["Pending", "Running", "Cached"]
    assert task_states[-1].details == {
        "flow_run_id": str(ids.flows[0]),
        "task_run_id": str(ids.tasks[1]),
    }
    loose = any_store.read_task_run_states(ids.loose_task)  # type: ignore[arg-type]
    assert [s.name for s in loose] == ["Running"]
    assert loose[0].details == {"task_run_id": str(ids.loose_task)}


def test_logs_are_sorted_by_time_and_filter_by_task_run(any_store: RunStore) -> None:
    ids = play(any_store)
    logs = any_store.read_logs(ids.flows[0])
    assert [log.message for log in logs] == ["early", "step 0", "step 1", "step 2"]
    assert logs[0].task_run_id is None and logs[0].level == 30
    assert logs[1].name == "vibepiper.task_runs"
    only = any_store.read_logs(ids.flows[0], task_run_id=ids.tasks[2])
    assert [log.message for log in only] == ["step 2"]
    assert any_store.read_logs(ids.flows[1]) == []


def test_flow_runs_are_newest_first_and_filter_by_state_and_flow(any_store: RunStore) -> None:
    ids = play(any_store)
    assert [r.id for r in any_store.read_flow_runs()] == ids.flows[::-1]
    assert [r.id for r in any_store.read_flow_runs(state="completed")] == [ids.flows[0]]
    assert [r.id for r in any_store.read_flow_runs(state="FAILED")] == [ids.flows[1]]
    assert [r.id for r in any_store.read_flow_runs(state="pending")] == [ids.flows[2]]
    assert any_store.read_flow_runs(state="Cached") == []
    assert [r.id for r in any_store.read_flow_runs(flow_name="etl")] == ids.flows[1::-1]
    assert [r.id for r in any_store.read_flow_runs(flow_name="report")] == [ids.flows[2]]
    assert any_store.read_flow_runs(flow_name="nope") == []
    assert [r.id for r in any_store.read_flow_runs(limit=2)] == ids.flows[:0:-1]
    assert [r.id for r in any_store.read_flow_runs(limit=2, offset=2)] == [ids.flows[0]]
    assert any_store.read_flow_runs(offset=3) == []


def test_a_state_name_filter_matches_case_insensitively(any_store: RunStore) -> None:
    clock = Clock()
    run = flow_run(clock, uuid.uuid4())
    any_store.create_flow_run(run)
    any_store.propose_flow_run_state(run, Cached())
    assert [r.id for r in any_store.read_flow_runs(state="cached")] == [run.id]
    assert [r.id for r in any_store.read_flow_runs(state="COMPLETED")] == [run.id]


def test_unknown_ids_raise_object_not_found_naming_the_id(any_store: RunStore) -> None:
    missing = uuid.uuid4()
    with pytest.raises(ObjectNotFound, match=str(missing)):
        any_store.read_flow_run(missing)
    with pytest.raises(ObjectNotFound, match=str(missing)):
        any_store.read_flow_run_states(missing)
    with pytest.raises(ObjectNotFound, match=str(missing)):
        any_store.read_task_run_states(missing)


def test_rejected_proposals_are_not_persisted(any_store: RunStore) -> None:
    clock = Clock()
    run = flow_run(clock, uuid.uuid4())
    any_store.create_flow_run(run)
    any_store.propose_flow_run_state(run, Running())
    completed = Completed()
    any_store.propose_flow_run_state(run, completed)
    answer = any_store.propose_flow_run_state(run, Running())
    assert answer is completed

    task = task_run(clock, uuid.uuid4(), run.id, 0)
    any_store.create_task_run(task)
    any_store.propose_task_run_state(task, Failed(message="boom"))
    assert any_store.propose_task_run_state(task, Completed()).name == "Failed"

    assert [s.name for s in any_store.read_flow_run_states(run.id)] == ["Running", "Completed"]
    assert any_store.read_flow_run(run.id).state_name == "Completed"
    assert [s.name for s in any_store.read_task_run_states(task.id)] == ["Failed"]
    assert any_store.read_task_runs(run.id)[0].state_message == "boom"


def test_a_retry_leaves_a_terminal_state_and_clears_the_end_time(any_store: RunStore) -> None:
    clock = Clock()
    run = flow_run(clock, uuid.uuid4())
    any_store.create_flow_run(run)
    any_store.propose_flow_run_state(run, Running())
    any_store.propose_flow_run_state(run, Failed())
    assert any_store.read_flow_run(run.id).end_time is not None
    any_store.propose_flow_run_state(run, Pending())
    view = any_store.read_flow_run(run.id)
    assert (view.state_name, view.end_time) == ("Pending", None)
    forced = any_store.propose_flow_run_state(run, Completed(), force=True)
    assert forced.type is StateType.COMPLETED
    any_store.propose_flow_run_state(run, Running(), force=True)
    names = [s.name for s in any_store.read_flow_run_states(run.id)]
    assert names == ["Running", "Failed", "Pending", "Completed", "Running"]


def test_many_state_changes_of_one_run_keep_every_state(any_store: RunStore) -> None:
    clock = Clock()
    run = flow_run(clock, uuid.uuid4())
    any_store.create_flow_run(run)
    task = task_run(clock, uuid.uuid4(), run.id, 0)
    any_store.create_task_run(task)
    for attempt in range(50):
        any_store.propose_task_run_state(task, Running(message=f"attempt {attempt}"))
    any_store.propose_task_run_state(task, Completed())
    states = any_store.read_task_run_states(task.id)
    assert [s.message for s in states[:-1]] == [f"attempt {i}" for i in range(50)]
    (view,) = any_store.read_task_runs(run.id)
    assert view.state_name == "Completed"
    assert view.start_time == states[0].timestamp


def test_every_read_is_identical_across_stores(
    embedded_store_factory: Any,
) -> None:
    memory = MemoryStore()
    embedded = embedded_store_factory()
    ids = play(memory)
    assert play(embedded) == ids

    def everything(store: RunStore) -> list[Any]:
        reads: list[Any] = [
            store.read_flow_runs(),
            store.read_flow_runs(state="completed"),
            store.read_flow_runs(flow_name="etl", limit=1, offset=1),
        ]
        for flow_run_id in ids.flows:
            reads += [
                store.read_flow_run(flow_run_id),
                store.read_task_runs(flow_run_id),
                store.read_flow_run_states(flow_run_id),
                store.read_logs(flow_run_id),
            ]
        for task_run_id in [*ids.tasks, ids.loose_task]:
            reads.append(store.read_task_run_states(task_run_id))  # type: ignore[arg-type]
            reads.append(store.read_logs(ids.flows[0], task_run_id=task_run_id))
        return reads

    for from_memory, from_embedded in zip(everything(memory), everything(embedded), strict=True):
        assert from_embedded == from_memory


def test_task_runs_outside_any_flow_are_read_with_none(any_store: RunStore) -> None:
    ids = play(any_store)
    loose = any_store.read_task_runs(None)
    assert [t.id for t in loose] == [ids.loose_task]
    assert loose[0].flow_run_id is None

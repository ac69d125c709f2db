"""`on_cancellation` hooks fire where Prefect's fire: when a run process is cancelled (its
worker or serve process sends SIGTERM, raised as `TerminationSignal`), every flow run in
it ends Cancelled, subflows too, and runs its hooks."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from vibepiper import flow
from vibepiper.exceptions import TerminationSignal
from vibepiper.states import State
from vibepiper.store.memory import MemoryStore


def test_a_cancelled_run_process_cancels_its_subflows_and_runs_their_hooks(
    store: MemoryStore,
) -> None:
    seen: list[tuple[str, str]] = []

    def note(fl: Any, run: Any, state: State[Any]) -> None:
        seen.append((fl.name, state.name))

    @flow(on_cancellation=[note], on_crashed=[note])
    def child() -> None:
        raise TerminationSignal(signal.SIGTERM)

    @flow(on_cancellation=[note], on_crashed=[note])
    def parent() -> None:
        child()

    with pytest.raises(TerminationSignal):
        parent()
    assert seen == [("child", "Cancelled"), ("parent", "Cancelled")]
    runs = {run.flow_name: run for run in store.read_flow_runs()}
    assert runs["child"].state_name == "Cancelled"
    assert "received SIGTERM" in (runs["parent"].state_message or "")

"""Fixtures of the authoring-API tests: a fresh in-memory store per test."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vibepiper.settings import reload_settings
from vibepiper.store import set_store
from vibepiper.store.memory import MemoryStore


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryStore]:
    """Every test records its runs in its own MemoryStore, under its own VIBEPIPER_HOME."""
    home = tmp_path / "vibepiper-home"
    home.mkdir()
    monkeypatch.setenv("VIBEPIPER_HOME", str(home))
    reload_settings()
    fresh = MemoryStore()
    previous = set_store(fresh)
    try:
        yield fresh
    finally:
        set_store(previous)
        # monkeypatch restores the environment after this; the next read must see it.


class _RecordCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records() -> Iterator[list[logging.LogRecord]]:
    """Every record of the `vibepiper` logger tree emitted during the test.

    The handler sits on the `vibepiper` logger itself: it does not propagate to the root.
    """
    handler = _RecordCollector()
    logger = logging.getLogger("vibepiper")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def flow_state_names(store: MemoryStore) -> Callable[[uuid.UUID], list[str]]:
    """The names of a flow run's recorded states, oldest first."""

    def names(flow_run_id: uuid.UUID) -> list[str]:
        return [row.name for row in store.read_flow_run_states(flow_run_id)]

    return names


@pytest.fixture
def task_state_names(store: MemoryStore) -> Callable[[uuid.UUID], list[str]]:
    """The names of a task run's recorded states, oldest first."""

    def names(task_run_id: uuid.UUID) -> list[str]:
        return [row.name for row in store.read_task_run_states(task_run_id)]

    return names

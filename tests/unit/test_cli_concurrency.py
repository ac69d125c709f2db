"""`vibepiper concurrency-limit` and `vibepiper global-concurrency-limit` (alias `gcl`)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from vibepiper.cli import app
from vibepiper.store import set_store
from vibepiper.store.memory import MemoryStore


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryStore]:
    for name in ("COLUMNS", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    memory = MemoryStore()
    previous = set_store(memory)
    try:
        yield memory
    finally:
        set_store(previous)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_tag_limits_create_ls_inspect_reset_delete(store: MemoryStore) -> None:
    assert (
        "Created concurrency limit on tag 'db': 3"
        in invoke("concurrency-limit", "create", "db", "3").output
    )
    assert store.read_concurrency_limit("tag:db").kind == "tag"
    store.acquire_slots(["tag:db"], 1, "task run 1 (host:42)", 30)
    listed = invoke("concurrency-limit", "ls").output
    assert "db" in listed and "3" in listed and "1" in listed
    shown = invoke("concurrency-limit", "inspect", "db").output
    assert "Slots in use: 1 of 3" in shown and "task run 1 (host:42)" in shown
    data = json.loads(invoke("concurrency-limit", "inspect", "db", "--json").output)
    assert (data["tag"], data["slots_in_use"], len(data["leases"])) == ("db", 1, 1)
    assert "freed 1 lease(s)" in invoke("concurrency-limit", "reset", "db").output
    assert store.read_slot_leases("tag:db") == []
    assert "Deleted" in invoke("concurrency-limit", "delete", "db").output
    assert invoke("concurrency-limit", "ls").output.strip() == "No concurrency limits."


def test_global_limits_under_both_names(store: MemoryStore) -> None:
    created = invoke("gcl", "create", "api", "--limit", "5", "--slot-decay-per-second", "0.5")
    assert created.exit_code == 0, created.output
    rows = json.loads(invoke("global-concurrency-limit", "ls", "--json").output)
    assert [(r["name"], r["limit"], r["slot_decay_per_second"]) for r in rows] == [("api", 5, 0.5)]
    updated = json.loads(
        invoke("gcl", "update", "api", "--limit", "7", "--disable", "--json").output
    )
    assert (updated["limit"], updated["active"]) == (7, False)
    assert "No active leases." in invoke("gcl", "inspect", "api").output
    assert invoke("gcl", "delete", "api").exit_code == 0
    assert store.read_concurrency_limits() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("concurrency-limit", "inspect", "nope"), "Error: no concurrency limit named 'nope'"),
        (("gcl", "delete", "nope"), "Error: no concurrency limit named 'nope'"),
        (("gcl", "update", "nope", "--limit", "1"), "Error: no concurrency limit named 'nope'"),
        (("gcl", "create", "x", "--limit", "-1"), "Error: a concurrency limit must be a whole"),
        (("gcl", "create", "tag:db", "--limit", "1"), "Error: 'tag:db' is a tag limit's name"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    store: MemoryStore, args: tuple[str, ...], message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1


def test_a_taken_name_is_refused(store: MemoryStore) -> None:
    invoke("gcl", "create", "api", "--limit", "1")
    result = invoke("gcl", "create", "api", "--limit", "2")
    assert result.exit_code == 1
    assert "already exists" in result.output

"""Artifacts written through the run stores: the embedded writer and the API store each
record them with the run's other writes (batched), apply progress updates in order, and
a re-sent write creates nothing twice; what they wrote reads back through the API."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import Server
from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
from vibepiper.settings import reload_settings
from vibepiper.store.api import ApiStore
from vibepiper.store.embedded import EmbeddedStore
from vibepiper.store.registry import get_store, reset_store


def _artifacts(run_id: uuid.UUID) -> list[ArtifactCreate]:
    at = dt.datetime.now(dt.UTC)
    key = f"report-{uuid.uuid4().hex[:8]}"
    return [
        ArtifactCreate(
            id=uuid.uuid4(),
            key=key,
            type="markdown",
            data=f"# version {n}",
            flow_run_id=run_id,
            created=at + dt.timedelta(milliseconds=n),
        )
        for n in range(3)
    ] + [
        ArtifactCreate(
            id=uuid.uuid4(),
            type="progress",
            data=0.0,
            description="loading",
            metadata_={"rows": "0"},
            created=at,
        )
    ]


def test_the_embedded_writer_records_artifacts_and_their_updates(tmp_path: Path) -> None:
    path = tmp_path / "vibepiper.db"
    store = EmbeddedStore(path)
    try:
        run_id = uuid.uuid4()
        written = _artifacts(run_id)
        for artifact in written:
            store.write_artifact(artifact)
        progress = written[-1]
        assert progress.id is not None
        for value in (25.0, 50.0, 100.0):
            store.update_artifact(progress.id, ArtifactUpdate(data=value))
        store.update_artifact(progress.id, ArtifactUpdate(description="loaded"))
        store.write_artifact(written[0])  # written again: still one row
        store.flush()
    finally:
        store.close()
    with sqlite3.connect(path) as con:
        rows = con.execute(
            "SELECT id, key, data, description, metadata_, flow_run_id FROM artifact "
            "ORDER BY created, id"
        ).fetchall()
    assert len(rows) == 4
    by_id = {row[0]: row for row in rows}
    # a bare number in a JSON column reads back as a number (SQLite's affinity)
    assert by_id[str(progress.id)][2:5] == (100, "loaded", '{"rows":"0"}')
    first = by_id[str(written[0].id)]
    assert (first[1], first[2], first[5]) == (written[0].key, '"# version 0"', str(run_id))


@pytest.fixture
def store(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiStore]:
    monkeypatch.setenv("VIBEPIPER_API_URL", server.url)
    reset_store()
    reload_settings()
    opened = get_store()
    assert isinstance(opened, ApiStore)
    yield opened
    reset_store()


def test_the_api_store_sends_artifacts_in_batches(store: ApiStore, server: Server) -> None:
    run_id = uuid.uuid4()
    written = _artifacts(run_id)
    for artifact in written:
        store.write_artifact(artifact)
    progress = written[-1]
    assert progress.id is not None
    store.update_artifact(progress.id, ArtifactUpdate(data=75.0))
    store.flush()
    key = written[0].key
    latest = httpx.get(f"{server.url}/artifacts/{key}/latest", timeout=10).json()
    assert (latest["id"], latest["data"]) == (str(written[2].id), "# version 2")
    versions = httpx.get(f"{server.url}/artifacts/key/{key}/versions", timeout=10).json()
    assert [v["flow_run_id"] for v in versions] == [str(run_id)] * 3
    read = httpx.get(f"{server.url}/artifacts/{progress.id}", timeout=10).json()
    assert (read["data"], read["description"], read["metadata_"]) == (
        75.0,
        "loading",
        {"rows": "0"},
    )

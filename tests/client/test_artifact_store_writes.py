"""Artifacts written through the run stores: the embedded writer and the API store each
record them with the run's other writes (batched), apply progress updates in order, and
a re-sent write creates nothing twice; what they wrote reads back through the API."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from pathlib import Path

import httpx

from tests.client.conftest import Server
from vibepiper.schemas.artifacts import ArtifactCreate, ArtifactUpdate
from vibepiper.store.api import ApiStore
from vibepiper.store.embedded import EmbeddedStore


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


def test_artifacts_written_while_the_server_is_away_arrive_when_it_is_back(
    tmp_path: Path,
) -> None:
    import threading
    import time

    from tests.client.conftest import new_server

    late = new_server(tmp_path)
    store = ApiStore(late.url, home=tmp_path / "home", outbox_after=0.3)
    starter = threading.Timer(1.5, late.start)  # up after the records went to disk
    try:
        written = _artifacts(uuid.uuid4())
        for artifact in written:
            store.write_artifact(artifact)
        assert written[-1].id is not None
        store.update_artifact(written[-1].id, ArtifactUpdate(data=60.0))
        deadline = time.monotonic() + 10
        while store.outbox is None or store.outbox.count() == 0:
            assert time.monotonic() < deadline, "nothing was kept in the outbox"
            time.sleep(0.05)
        starter.start()
        store.flush(60)
        assert store.outbox is not None and store.outbox.count() == 0
        read = httpx.get(f"{late.url}/artifacts/{written[-1].id}", timeout=10).json()
        assert read["data"] == 60.0
        spec = {"artifacts": {"id": {"any_": [str(a.id) for a in written]}}}
        assert httpx.post(f"{late.url}/artifacts/count", json=spec, timeout=10).json() == 4
    finally:
        starter.cancel()
        store.close()
        late.stop()

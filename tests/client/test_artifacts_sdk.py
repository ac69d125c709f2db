"""vibepiper.artifacts end to end: artifacts made in flows and tasks (and outside any run)
are recorded with their runs, versioned by key and read back with `Artifact.get` and the
client; progress updates land; the async twins work; files and images are stored in the
result storage and served back. With no server (the embedded store, read through the
in-process API) and against real servers on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import backend_server
from vibepiper import flow, task
from vibepiper.artifacts import (
    Artifact,
    MarkdownArtifact,
    acreate_file_artifact,
    acreate_image_artifact,
    acreate_markdown_artifact,
    aupdate_progress_artifact,
    create_file_artifact,
    create_html_artifact,
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from vibepiper.client import get_client
from vibepiper.context import get_run_context
from vibepiper.exceptions import ObjectNotFound
from vibepiper.result_storage import ResultStorage
from vibepiper.schemas.artifacts import ArtifactCollectionQuery, ArtifactQuery, ArtifactRead
from vibepiper.settings import reload_settings
from vibepiper.store import get_store, reset_store

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def _key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _read(artifact_id: uuid.UUID) -> ArtifactRead:
    get_store().flush()
    with get_client(sync_client=True) as client:
        found = client.read_artifact(artifact_id)
    assert found is not None, artifact_id
    return found


def test_a_runs_artifacts_are_recorded_with_their_runs(api_target: str | None) -> None:
    report, numbers, load = _key("report"), _key("numbers"), _key("load")

    @task
    def summarize(rows: int) -> tuple[uuid.UUID, uuid.UUID]:
        made = create_markdown_artifact(f"# {rows} rows", key=report, description="daily")
        return made, get_run_context().task_run.id  # type: ignore[union-attr]

    @flow
    def etl() -> dict[str, Any]:
        progress = create_progress_artifact(0.0, key=load, description="loading")
        update_progress_artifact(progress, 50.0)
        return {
            "flow_run_id": get_run_context().flow_run.id,  # type: ignore[union-attr]
            "task": summarize(3),
            "table": create_table_artifact([{"a": 1, "b": float("nan")}], key=numbers),
            "link": create_link_artifact("https://example.com/a", "A"),
            "image": create_image_artifact("https://example.com/logo.png"),
            "html": create_html_artifact("<h1>Hi</h1>", key=_key("page")),
            "progress": progress,
        }

    made = etl()
    flow_run_id = made["flow_run_id"]
    in_task = _read(made["task"][0])
    assert (in_task.flow_run_id, in_task.task_run_id) == (flow_run_id, made["task"][1])
    assert (in_task.key, in_task.type, in_task.data, in_task.description) == (
        report,
        "markdown",
        "# 3 rows",
        "daily",
    )
    table = _read(made["table"])
    assert (table.flow_run_id, table.task_run_id, table.type) == (flow_run_id, None, "table")
    assert isinstance(table.data, str) and json.loads(table.data) == [{"a": 1, "b": None}]
    assert _read(made["link"]).data == "[A](https://example.com/a)"
    assert _read(made["link"]).key is None
    assert (_read(made["image"]).type, _read(made["image"]).data) == (
        "image",
        "https://example.com/logo.png",
    )
    assert (_read(made["html"]).type, _read(made["html"]).data) == ("html", "<h1>Hi</h1>")
    progress = _read(made["progress"])
    assert (progress.type, progress.data, progress.description) == ("progress", 50.0, "loading")
    assert progress.updated >= progress.created

    with get_client(sync_client=True) as client:
        of_run = client.read_artifacts(
            ArtifactQuery.model_validate({"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
        )
        latest = client.read_latest_artifacts(
            ArtifactCollectionQuery.model_validate({"artifacts": {"key": {"any_": [report, load]}}})
        )
    assert {a.id for a in of_run} == {
        made["task"][0],
        made["table"],
        made["link"],
        made["image"],
        made["html"],
        made["progress"],
    }
    assert sorted(a.key or "" for a in latest) == sorted([report, load])


def test_a_key_keeps_versions_and_get_answers_the_latest(api_target: str | None) -> None:
    key = _key("sales")
    assert Artifact.get(key) is None
    ids = [create_markdown_artifact(f"v{n}", key=key) for n in range(3)]
    latest = Artifact.get(key)  # reads what this process just buffered
    assert latest is not None and (latest.id, latest.data) == (ids[-1], "v2")
    assert latest.flow_run_id is None and latest.task_run_id is None  # made outside a run
    with get_client(sync_client=True) as client:
        versions = client.read_artifact_versions(key)
        assert [v.id for v in versions] == ids[::-1]  # newest first
        assert client.read_latest_artifact(key) == latest

    found, created = Artifact.get_or_create(key=key, type="markdown", data="unused")
    assert (created, found.id) == (False, ids[-1])
    fresh = _key("fresh")
    made, created = MarkdownArtifact.get_or_create(key=fresh, markdown="# new")
    assert created is True and made.data == "# new"
    again = Artifact.get(fresh)
    assert again is not None and again.id == made.id


def test_the_async_twins_and_dispatch(api_target: str | None, tmp_path: Path) -> None:
    key = _key("async")
    (tmp_path / "plot.png").write_bytes(PNG)

    @task
    async def publish() -> list[uuid.UUID]:
        first = create_markdown_artifact("# one", key=key)  # the sync name, awaited
        assert asyncio.iscoroutine(first)
        progress = await create_progress_artifact(10, key=_key("p"))
        await aupdate_progress_artifact(progress, 90)
        return [
            await first,
            await acreate_markdown_artifact("# two", key=key),
            progress,
            await acreate_file_artifact(b"a,b\n", filename="rows.csv"),
            await acreate_image_artifact(tmp_path / "plot.png"),
        ]

    @flow
    async def report() -> tuple[list[uuid.UUID], ArtifactRead | None]:
        ids = await publish()
        return ids, await Artifact.get(key)

    ids, latest = asyncio.run(report())
    assert latest is not None and (latest.id, latest.data) == (ids[1], "# two")
    assert latest.task_run_id is not None
    assert _read(ids[2]).data == 90.0
    assert _read(ids[3]).metadata_["filename"] == "rows.csv"  # type: ignore[index]
    assert _read(ids[4]).metadata_["content_type"] == "image/png"  # type: ignore[index]

    async def outside() -> ArtifactRead | None:
        return await Artifact.aget(key)

    again = asyncio.run(outside())
    assert again is not None and again.id == ids[1]


class Figure:
    """What create_image_artifact uses of a matplotlib figure."""

    def savefig(self, buffer: Any, format: str, bbox_inches: str) -> None:
        buffer.write(PNG)


def _publish_files(source_dir: Path, flow_storage: Path | None) -> dict[uuid.UUID, tuple]:
    """A flow (with `flow_storage` as its result storage, if given) and a script outside
    any run store files and images: each id with what it should hold."""
    (source_dir / "summary.csv").write_text("region,sales\neu,10\n")

    @flow(result_storage=str(flow_storage) if flow_storage else None)
    def report() -> list[uuid.UUID]:
        return [
            create_file_artifact(source_dir / "summary.csv", key=_key("summary")),
            create_image_artifact(Figure(), key=_key("chart"), description="sales by region"),
            create_image_artifact(PNG),
        ]

    ids = report()
    outside = create_file_artifact(b"standalone", filename="notes.txt")
    return {
        ids[0]: (b"region,sales\neu,10\n", "summary.csv", "text/csv", "file"),
        ids[1]: (PNG, "figure.png", "image/png", "image"),
        ids[2]: (PNG, "image.png", "image/png", "image"),
        outside: (b"standalone", "notes.txt", "text/plain", "file"),
    }


def _check_stored(artifact_id: uuid.UUID, expected: tuple) -> dict[str, str]:
    content, filename, content_type, kind = expected
    artifact = _read(artifact_id)
    metadata = artifact.metadata_
    assert metadata is not None
    assert (artifact.type, artifact.data) == (kind, None)
    assert metadata == {
        "storage": metadata["storage"],
        "storage_key": f"artifacts/{artifact_id}/{filename}",
        "filename": filename,
        "content_type": content_type,
        "size": str(len(content)),
    }
    assert ResultStorage(metadata["storage"]).read(metadata["storage_key"]) == content
    return metadata


def test_files_and_images_are_stored_with_the_run(api_target: str | None, tmp_path: Path) -> None:
    made = _publish_files(tmp_path, tmp_path / "results")
    in_flow, outside = next(iter(made)), list(made)[-1]
    for artifact_id, expected in made.items():
        _check_stored(artifact_id, expected)
    assert _read(in_flow).metadata_["storage"] == str(tmp_path / "results")  # type: ignore[index]
    assert _read(outside).flow_run_id is None
    if api_target is None:  # the in-process API may read this process's default storage
        with get_client(sync_client=True) as client:
            assert client.read_artifact_content(outside) == b"standalone"
            with pytest.raises(ObjectNotFound, match="not storage this server may read"):
                client.read_artifact_content(in_flow)  # the flow's own storage: not listed


def test_a_server_serves_files_from_storage_it_may_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-storage"
    env = {"VIBEPIPER_SERVER_READABLE_STORAGE": str(shared)}
    with backend_server("sqlite", tmp_path / "server", env) as server:
        monkeypatch.setenv("VIBEPIPER_API_URL", server.url)
        monkeypatch.setenv("VIBEPIPER_RESULTS_DEFAULT_STORAGE", str(shared))
        reload_settings()
        reset_store()
        try:
            made = _publish_files(tmp_path, None)
            elsewhere = _publish_files(tmp_path, tmp_path / "elsewhere")
            with get_client(sync_client=True) as client:
                for artifact_id, expected in made.items():
                    assert _check_stored(artifact_id, expected)["storage"] == str(shared)
                    assert client.read_artifact_content(artifact_id) == expected[0]
                refused = next(iter(elsewhere))
                _check_stored(refused, elsewhere[refused])
                with pytest.raises(ObjectNotFound, match="not storage this server may read"):
                    client.read_artifact_content(refused)
        finally:
            reset_store()


def test_invalid_keys_reach_nothing(api_target: str | None) -> None:
    with pytest.raises(ValueError, match="lowercase letters, numbers, and dashes"):
        create_markdown_artifact("x", key="Not Valid")
    with get_client(sync_client=True) as client:
        assert client.read_latest_artifact("not-valid") is None

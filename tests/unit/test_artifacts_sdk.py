"""vibepiper.artifacts without a database: what each kind records (Prefect's forms),
tables and their NaN, links, progress, keys, images and files, the run ids, and the
sync/async dispatch. Runs go to the unit tests' MemoryStore."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import logging
import math
import uuid
from pathlib import Path
from typing import Any

import pytest

from vibepiper import flow, task
from vibepiper.artifacts import (
    Artifact,
    ImageArtifact,
    LinkArtifact,
    MarkdownArtifact,
    ProgressArtifact,
    TableArtifact,
    acreate_markdown_artifact,
    acreate_table_artifact,
    create_file_artifact,
    create_html_artifact,
    create_image_artifact,
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from vibepiper.context import get_run_context
from vibepiper.result_storage import ResultStorage
from vibepiper.store.memory import MemoryStore
from vibepiper.utilities.artifact_data import (
    clamp_progress,
    image_type,
    link_markdown,
    safe_filename,
    table_json,
    table_rows,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


# --- tables --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "table",
    [
        [{"a": 1, "b": 2}, {"a": 3, "b": 4}],
        {"a": [1, 3], "b": [2, 4]},
        [["a", "b"], [1, 2], [None, 4]],
        [],
    ],
)
def test_the_three_table_shapes_are_recorded_as_given(table: Any) -> None:
    assert json.loads(table_json(table)) == table


def test_nan_and_infinities_become_null_at_any_depth() -> None:
    table = {"a": [1.5, math.nan], "b": [math.inf, -math.inf], "c": [[math.nan], {"x": math.nan}]}
    text = table_json(table)
    assert json.loads(text) == {"a": [1.5, None], "b": [None, None], "c": [[None], {"x": None}]}
    assert "NaN" not in text and "Infinity" not in text  # strict JSON: any parser reads it


class Color(enum.Enum):
    RED = "red"


class Measure:
    def __str__(self) -> str:
        return "3 m"


def test_values_json_lacks_are_written_as_text() -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    ident = uuid.UUID(int=7)
    rows = json.loads(table_json([{"when": when, "id": ident, "color": Color.RED, "m": Measure()}]))
    assert rows == [
        {"when": "2024-05-01T12:00:00+00:00", "id": str(ident), "color": "red", "m": "3 m"}
    ]


def test_tuples_and_array_likes_become_lists() -> None:
    class Column:  # stands for a numpy array or a pandas Series
        def __init__(self, values: list[Any]) -> None:
            self.values = values

        def tolist(self) -> list[Any]:
            return list(self.values)

    assert table_rows(((1, 2), (3, 4))) == [[1, 2], [3, 4]]
    assert table_rows({"a": (1, 2), 3: Column([4, 5])}) == {"a": [1, 2], "3": [4, 5]}


def test_a_dataframe_like_table_is_recorded_as_records() -> None:
    class Frame:
        columns = ["a"]

        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return [{"a": 1}, {"a": math.nan}]

    assert json.loads(table_json(Frame())) == [{"a": 1}, {"a": None}]


@pytest.mark.parametrize("table", ["a,b", 5, [1, 2], [{"a": 1}, [1]], {"a": 1}, None], ids=repr)
def test_other_shapes_are_a_clear_value_error(table: Any) -> None:
    with pytest.raises(ValueError, match=r"a list of dicts \(rows\), a dict of lists"):
        table_json(table)


# --- links, progress, keys -------------------------------------------------------------------
def test_a_link_is_markdown_as_prefect_records_it() -> None:
    assert link_markdown("https://prefect.io", "Prefect") == "[Prefect](https://prefect.io)"
    assert link_markdown("https://prefect.io") == "[https://prefect.io](https://prefect.io)"
    assert link_markdown("https://prefect.io", "") == "[https://prefect.io](https://prefect.io)"


def test_a_link_stays_one_link_whatever_it_holds() -> None:
    assert (
        link_markdown("https://en.wikipedia.org/wiki/Foo_(bar) x", "see [1]")
        == "[see \\[1\\]](https://en.wikipedia.org/wiki/Foo_%28bar%29%20x)"
    )


def test_progress_is_clamped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert clamp_progress(42) == 42.0
    with caplog.at_level(logging.WARNING, logger="vibepiper.artifacts"):
        assert clamp_progress(150) == 100.0
        assert clamp_progress(-1) == 0.0
    assert "out of range" in caplog.text
    with pytest.raises(ValueError, match="NaN"):
        clamp_progress(math.nan)


@pytest.mark.parametrize("key", ["Sales", "sales_report", "sales report", "x" * 257, ""])
def test_invalid_keys_are_a_clear_value_error(
    key: str, store: MemoryStore, vibepiper_home_storage: Path
) -> None:
    says = "must only contain lowercase letters, numbers, and dashes"
    for create in (
        lambda: create_markdown_artifact("x", key=key),
        lambda: create_table_artifact([], key=key),
        lambda: create_link_artifact("https://x.io", key=key),
        lambda: create_progress_artifact(1, key=key),
        lambda: create_image_artifact("https://x.io/a.png", key=key),
        lambda: create_file_artifact(b"x", key=key, filename="a.txt"),
        lambda: create_html_artifact("<p>x</p>", key=key),
    ):
        with pytest.raises(ValueError, match=says) as raised:
            create()
        assert type(raised.value) is ValueError  # not pydantic's wrapped form
    with pytest.raises(ValueError, match=says):
        Artifact(key=key)
    assert not store.artifacts
    assert not (vibepiper_home_storage / "artifacts").exists()  # nothing stored either


# --- what is recorded ------------------------------------------------------------------------
def test_each_kind_records_prefects_type_and_data(store: MemoryStore) -> None:
    ids = {
        "markdown": create_markdown_artifact("# Report", key="report", description="*d*"),
        "table": create_table_artifact({"a": [1, math.nan]}, key="numbers"),
        "link": create_link_artifact("https://x.io", "X"),
        "progress": create_progress_artifact(12.5, key="load"),
        "image": create_image_artifact("https://x.io/logo.png"),
        "html": create_html_artifact("<h1>Hi</h1>", key="page"),
    }
    recorded = {kind: store.artifacts[artifact_id] for kind, artifact_id in ids.items()}
    assert {kind: (a.type, a.data) for kind, a in recorded.items()} == {
        "markdown": ("markdown", "# Report"),
        "table": ("table", '{"a": [1, null]}'),
        "link": ("link", "[X](https://x.io)"),
        "progress": ("progress", 12.5),
        "image": ("image", "https://x.io/logo.png"),
        "html": ("html", "<h1>Hi</h1>"),
    }
    assert recorded["markdown"].key == "report" and recorded["markdown"].description == "*d*"
    assert all(
        a.id == artifact_id for artifact_id, a in zip(ids.values(), recorded.values(), strict=True)
    )
    for artifact in recorded.values():  # outside a run: it stands alone
        assert artifact.flow_run_id is None and artifact.task_run_id is None
        assert artifact.created is not None and artifact.created.tzinfo is not None
        assert isinstance(artifact.id, uuid.UUID) and artifact.id.version == 7


def test_inside_runs_the_flow_run_and_task_run_are_recorded(store: MemoryStore) -> None:
    @task
    def in_task() -> tuple[uuid.UUID, uuid.UUID]:
        return create_markdown_artifact("from a task"), get_run_context().task_run.id  # type: ignore[union-attr]

    @flow
    def child() -> tuple[uuid.UUID, uuid.UUID]:
        return create_markdown_artifact("from a subflow"), get_run_context().flow_run.id  # type: ignore[union-attr]

    @flow
    def parent() -> dict[str, Any]:
        flow_run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
        return {
            "flow": (create_markdown_artifact("from the flow"), flow_run_id),
            "task": in_task(),
            "subflow": child(),
        }

    made = parent()
    flow_run_id = made["flow"][1]
    in_flow = store.artifacts[made["flow"][0]]
    assert (in_flow.flow_run_id, in_flow.task_run_id) == (flow_run_id, None)
    in_a_task = store.artifacts[made["task"][0]]
    assert (in_a_task.flow_run_id, in_a_task.task_run_id) == (flow_run_id, made["task"][1])
    in_subflow = store.artifacts[made["subflow"][0]]
    assert (in_subflow.flow_run_id, in_subflow.task_run_id) == (made["subflow"][1], None)


def test_progress_updates_go_to_the_store(store: MemoryStore) -> None:
    artifact_id = create_progress_artifact(0.0, key="load", description="loading")
    assert update_progress_artifact(artifact_id, 50) == artifact_id
    assert store.artifacts[artifact_id].data == 50.0
    assert store.artifacts[artifact_id].description == "loading"  # kept: none given
    update_progress_artifact(artifact_id, 250, description="almost")
    assert (store.artifacts[artifact_id].data, store.artifacts[artifact_id].description) == (
        100.0,
        "almost",
    )


def test_the_artifact_classes_format_as_prefects(store: MemoryStore) -> None:
    base = Artifact(type="test", key="k", description="d", data={"key": "value"})
    assert base.format() == '{"key": "value"}'
    assert asyncio.run(base.aformat()) == '{"key": "value"}'
    assert MarkdownArtifact(markdown="# x").format() == "# x"
    assert LinkArtifact(link="https://x.io").format() == "[https://x.io](https://x.io)"
    assert TableArtifact(table=[[1, math.nan]]).format() == "[[1, null]]"
    assert ProgressArtifact(progress=5).format() == 5.0
    assert ImageArtifact(image_url="https://x.io/a.png").format() == "https://x.io/a.png"
    created = base.create()
    assert (created.key, created.type, created.data) == ("k", "test", '{"key": "value"}')
    assert created.created == created.updated
    assert store.artifacts[created.id].data == '{"key": "value"}'


def test_given_run_ids_are_kept(store: MemoryStore) -> None:
    flow_run_id, task_run_id = uuid.uuid4(), uuid.uuid4()
    created = Artifact(type="note", flow_run_id=flow_run_id, task_run_id=task_run_id).create()
    assert (created.flow_run_id, created.task_run_id) == (flow_run_id, task_run_id)


# --- sync and async ----------------------------------------------------------------------------
def test_in_async_code_the_sync_names_return_coroutines(store: MemoryStore) -> None:
    @flow
    async def publish() -> list[uuid.UUID]:
        coroutine = create_markdown_artifact("# async", key="report")
        assert asyncio.iscoroutine(coroutine)
        update = update_progress_artifact(await acreate_table_artifact([[1]]), 1)
        assert asyncio.iscoroutine(update)
        await update
        created = Artifact(type="x").create()
        assert asyncio.iscoroutine(created)
        forced = create_markdown_artifact("forced", _sync=True)
        assert isinstance(forced, uuid.UUID)
        return [await coroutine, (await created).id, forced, await acreate_markdown_artifact("a")]

    ids = asyncio.run(publish())
    assert [store.artifacts[i].data for i in ids] == ["# async", "null", "forced", "a"]
    assert all(store.artifacts[i].flow_run_id is not None for i in ids)


def test_outside_any_run_with_a_running_loop_too(store: MemoryStore) -> None:
    async def main() -> uuid.UUID:
        return await create_markdown_artifact("in a loop")

    assert store.artifacts[asyncio.run(main())].flow_run_id is None


# --- images and files ------------------------------------------------------------------------
def test_image_bytes_are_told_apart() -> None:
    assert image_type(PNG) == ("image/png", ".png")
    assert image_type(b"\xff\xd8\xff\xe0rest") == ("image/jpeg", ".jpg")
    assert image_type(b"GIF89a...") == ("image/gif", ".gif")
    assert image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image/webp", ".webp")
    assert image_type(b'<?xml version="1.0"?>\n<svg xmlns="x"/>') == ("image/svg+xml", ".svg")
    assert image_type(b"a,b\n1,2\n") is None


def test_file_names_lose_their_folders() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\data\\report.csv") == "report.csv"
    for bad in ("", "..", "dir/", "a\nb"):
        with pytest.raises(ValueError, match="not a usable file name"):
            safe_filename(bad)


def _stored(store: MemoryStore, artifact_id: uuid.UUID) -> tuple[dict[str, str], bytes]:
    metadata = store.artifacts[artifact_id].metadata_
    assert metadata is not None
    return metadata, ResultStorage(metadata["storage"]).read(metadata["storage_key"])


def test_images_from_bytes_files_and_figures_are_stored(
    store: MemoryStore, tmp_path: Path, vibepiper_home_storage: Path
) -> None:
    class Figure:  # what create_image_artifact uses of a matplotlib figure
        def savefig(self, buffer: Any, format: str, bbox_inches: str) -> None:
            assert (format, bbox_inches) == ("png", "tight")
            buffer.write(PNG + b"figure")

    (tmp_path / "chart.png").write_bytes(PNG + b"file")
    made = {
        "bytes": create_image_artifact(PNG + b"bytes", key="chart"),
        "path": create_image_artifact(tmp_path / "chart.png"),
        "str path": create_image_artifact(str(tmp_path / "chart.png")),
        "figure": create_image_artifact(Figure(), description="a plot"),
    }
    for how, artifact_id in made.items():
        artifact = store.artifacts[artifact_id]
        metadata, content = _stored(store, artifact_id)
        assert artifact.type == "image" and artifact.data is None, how
        assert metadata["storage"] == str(vibepiper_home_storage)
        assert metadata["storage_key"] == f"artifacts/{artifact_id}/{metadata['filename']}"
        assert metadata["content_type"] == "image/png"
        assert metadata["size"] == str(len(content))
        assert content.startswith(PNG)
    assert _stored(store, made["bytes"])[0]["filename"] == "image.png"
    assert _stored(store, made["path"])[0]["filename"] == "chart.png"
    assert _stored(store, made["figure"])[0]["filename"] == "figure.png"
    assert _stored(store, made["figure"])[1] == PNG + b"figure"


def test_what_is_not_an_image_is_refused(store: MemoryStore, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="is not a PNG, JPEG, GIF, WebP or SVG image"):
        create_image_artifact(b"hello")
    with pytest.raises(ValueError, match=r"'notes\.txt' is not a PNG"):
        create_image_artifact(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError):
        create_image_artifact(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="an image is a URL, a path, bytes or a matplotlib"):
        create_image_artifact(42)
    assert not store.artifacts


def test_files_are_stored_with_their_name_and_type(store: MemoryStore, tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    from_path = create_file_artifact(tmp_path / "rows.csv", key="rows")
    from_bytes = create_file_artifact(b"\x00\x01", filename="../blob.bin", description="raw")
    unnamed = create_file_artifact(b"x")
    metadata, content = _stored(store, from_path)
    assert (metadata["filename"], metadata["content_type"], content) == (
        "rows.csv",
        "text/csv",
        b"a,b\n1,2\n",
    )
    metadata, content = _stored(store, from_bytes)
    assert (metadata["filename"], metadata["size"], content) == ("blob.bin", "2", b"\x00\x01")
    assert store.artifacts[from_bytes].description == "raw"
    assert _stored(store, unnamed)[0]["filename"] == "file.bin"
    assert {store.artifacts[i].type for i in (from_path, from_bytes, unnamed)} == {"file"}
    assert {store.artifacts[i].data for i in (from_path, from_bytes, unnamed)} == {None}


def test_a_flows_result_storage_holds_its_files(store: MemoryStore, tmp_path: Path) -> None:
    @flow(result_storage=str(tmp_path / "results"))
    def report() -> uuid.UUID:
        return create_file_artifact(b"data", filename="out.txt")

    metadata, content = _stored(store, report())
    assert metadata["storage"] == str(tmp_path / "results")
    assert (tmp_path / "results" / metadata["storage_key"]).read_bytes() == content == b"data"


@pytest.fixture
def vibepiper_home_storage(store: MemoryStore) -> Path:
    """The default result storage of the unit tests' VIBEPIPER_HOME."""
    from vibepiper.settings import get_settings

    return get_settings().home_path / "storage"

"""Artifacts: what a run publishes for people to read (Prefect's `prefect.artifacts`).

    from vibepiper import flow
    from vibepiper.artifacts import create_markdown_artifact, create_table_artifact

    @flow
    def report() -> None:
        create_markdown_artifact("# Sales\\nUp 4%", key="sales-report")
        create_table_artifact([{"region": "eu", "sales": 10}], key="sales-table")

Made inside a flow or task run, an artifact records that run (`flow_run_id`,
`task_run_id`); made outside any run it stands alone. An artifact with a `key` is a new
version of that key, and `Artifact.get(key)` answers its latest version. Creating one
never waits for the network: it goes to the run store with the run's other records (the
embedded store, or the server of `VIBEPIPER_API_URL`), so `create_*` returns its id at
once. Reads go through the client.

Beyond Prefect: `create_image_artifact` also takes a local file, bytes or a matplotlib
figure, and `create_file_artifact` stores any file; their bytes go to the run's result
storage (`artifacts/<id>/<filename>`, any fsspec URL) and the server serves them at
`/api/artifacts/{id}/content`. `create_html_artifact` publishes HTML, which the
dashboard shows in a sandboxed frame.

Each function has an async twin (`acreate_markdown_artifact`, ...); called in async
code (an async flow or task, or a running event loop), the sync name returns the twin's
coroutine to await, as in Prefect.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import mimetypes
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, field_validator

from vibepiper.schemas.artifacts import (
    ArtifactCreate,
    ArtifactRead,
    ArtifactUpdate,
    check_artifact_key,
)
from vibepiper.utilities.artifact_data import (
    clamp_progress,
    image_type,
    link_markdown,
    safe_filename,
    table_json,
)
from vibepiper.utilities.dispatch import run_sync
from vibepiper.utilities.plans import adrive as _adrive
from vibepiper.utilities.plans import drive as _drive

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan
    from vibepiper.result_storage import ResultStorage
    from vibepiper.store.base import RunStore

__all__ = [
    "Artifact",
    "ImageArtifact",
    "LinkArtifact",
    "MarkdownArtifact",
    "ProgressArtifact",
    "TableArtifact",
    "acreate_file_artifact",
    "acreate_html_artifact",
    "acreate_image_artifact",
    "acreate_link_artifact",
    "acreate_markdown_artifact",
    "acreate_progress_artifact",
    "acreate_table_artifact",
    "aupdate_progress_artifact",
    "create_file_artifact",
    "create_html_artifact",
    "create_image_artifact",
    "create_link_artifact",
    "create_markdown_artifact",
    "create_progress_artifact",
    "create_table_artifact",
    "update_progress_artifact",
]

logger = logging.getLogger("vibepiper.artifacts")

TableData = dict[str, list[Any]] | list[dict[str, Any]] | list[list[Any]]
"""A table: rows as dicts, columns as lists (a dict of lists), or rows as lists."""

FLUSH_BEFORE_READ = 10.0
"""Seconds a read waits for this process's buffered artifacts to be recorded first."""


# --- the model ---------------------------------------------------------------------------
class Artifact(BaseModel):
    """An artifact to publish (Prefect's `prefect.artifacts.Artifact`).

    Args:
        type: what it holds ("markdown", "table", ...; any string).
        key: lowercase letters, numbers and dashes; each artifact with a key is a new
            version of that key.
        description: markdown shown with it.
        data: its content; `format()` makes what is recorded (here: `data` as JSON text).
        metadata_: string labels.
        flow_run_id, task_run_id: the runs it belongs to (default: the current ones).
    """

    model_config = ConfigDict(extra="forbid")

    type: str | None = None
    key: str | None = None
    description: str | None = None
    data: Any = None
    metadata_: dict[str, str] | None = None
    flow_run_id: uuid.UUID | None = None
    task_run_id: uuid.UUID | None = None

    @field_validator("key")
    @classmethod
    def _valid_key(cls, key: str | None) -> str | None:
        return None if key is None else check_artifact_key(key)

    # --- what is recorded ------------------------------------------------------------
    def _format(self) -> Any:
        return json.dumps(self.data)

    def format(self, *, _sync: bool | None = None) -> Any:
        """The data recorded for this artifact. In async code, a coroutine to await."""
        if not run_sync(_sync):
            return self.aformat()
        return self._format()

    async def aformat(self) -> Any:
        return self._format()

    # --- create ------------------------------------------------------------------------
    def create(self, client: Any = None, *, _sync: bool | None = None) -> ArtifactRead:
        """Publish it; returns the recorded artifact (its `id` set). It is buffered with
        the run's other records, so this does not wait for the network. `client` is
        accepted for Prefect's signature: artifacts go where the run's records go. In
        async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return self.acreate(client)  # type: ignore[return-value]
        return self._publish()

    async def acreate(self, client: Any = None) -> ArtifactRead:
        return self._publish()

    def _publish(self) -> ArtifactRead:
        return _publish(
            type=self.type,
            key=self.key,
            description=self.description,
            data=self._format(),
            metadata=self.metadata_,
            flow_run_id=self.flow_run_id,
            task_run_id=self.task_run_id,
        )

    # --- read --------------------------------------------------------------------------
    @classmethod
    def get(
        cls, key: str | None = None, client: Any = None, *, _sync: bool | None = None
    ) -> ArtifactRead | None:
        """The latest version of `key` (with no key: the artifact updated last), or None.
        In async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aget(key, client)  # type: ignore[return-value]
        _flush_own_writes()
        found: ArtifactRead | None = _drive(_latest_plan(key))
        return found

    @classmethod
    async def aget(cls, key: str | None = None, client: Any = None) -> ArtifactRead | None:
        await asyncio.to_thread(_flush_own_writes)
        found: ArtifactRead | None = await _adrive(_latest_plan(key))
        return found

    @classmethod
    def get_or_create(
        cls,
        key: str | None = None,
        description: str | None = None,
        data: Any = None,
        client: Any = None,
        *,
        _sync: bool | None = None,
        **kwargs: Any,
    ) -> tuple[ArtifactRead, bool]:
        """The latest version of `key` and False, or a new artifact made of the other
        arguments and True. In async code, returns a coroutine to await."""
        if not run_sync(_sync):
            return cls.aget_or_create(key, description, data, client, **kwargs)  # type: ignore[return-value]
        found = cls.get(key, _sync=True)
        if found is not None:
            return found, False
        new = cls(key=key, description=description, data=data, **kwargs)
        return new.create(_sync=True), True

    @classmethod
    async def aget_or_create(
        cls,
        key: str | None = None,
        description: str | None = None,
        data: Any = None,
        client: Any = None,
        **kwargs: Any,
    ) -> tuple[ArtifactRead, bool]:
        found = await cls.aget(key)
        if found is not None:
            return found, False
        new = cls(key=key, description=description, data=data, **kwargs)
        return await new.acreate(), True


class MarkdownArtifact(Artifact):
    """Markdown text (rendered by the dashboard; raw HTML in it is not)."""

    markdown: str
    type: str | None = "markdown"

    def _format(self) -> str:
        return self.markdown


class LinkArtifact(Artifact):
    """A link, recorded as the markdown `[link_text](link)`."""

    link: str
    link_text: str | None = None
    type: str | None = "link"

    def _format(self) -> str:
        return link_markdown(self.link, self.link_text)


class TableArtifact(Artifact):
    """A table: a list of dicts (rows), a dict of lists (columns) or a list of lists
    (rows; the dashboard shows the first as the header). Recorded as JSON text, NaN and
    infinities as null."""

    table: Any
    type: str | None = "table"

    def _format(self) -> str:
        return table_json(self.table)


class ProgressArtifact(Artifact):
    """A progress bar: a percentage from 0 to 100 (other values are clamped)."""

    progress: float
    type: str | None = "progress"

    def _format(self) -> float:
        return clamp_progress(self.progress)


class ImageArtifact(Artifact):
    """An image the dashboard shows from a URL (`create_image_artifact` also stores
    images given as files, bytes or matplotlib figures)."""

    image_url: str
    type: str | None = "image"

    def _format(self) -> str:
        return self.image_url


# --- recording ---------------------------------------------------------------------------
def _run_ids() -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(flow run id, task run id) of the code running now."""
    from vibepiper.context import FlowRunContext, TaskRunContext

    task_ctx = TaskRunContext.get()
    if task_ctx is not None:
        return task_ctx.task_run.flow_run_id, task_ctx.task_run.id
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None:
        return flow_ctx.flow_run.id, None
    return None, None


def _store(open_one: bool = True) -> RunStore | None:
    """The store the current run records in, else the process's (opened when
    `open_one`)."""
    from vibepiper.context import FlowRunContext, TaskRunContext

    task_ctx = TaskRunContext.get()
    if task_ctx is not None and task_ctx.store is not None:
        return task_ctx.store
    flow_ctx = FlowRunContext.get()
    if flow_ctx is not None:
        return flow_ctx.store
    from vibepiper.store import registry

    return registry.get_store() if open_one else registry.current_store()


def _publish(
    *,
    type: str | None,
    key: str | None,
    description: str | None,
    data: Any,
    metadata: dict[str, str] | None = None,
    flow_run_id: uuid.UUID | None = None,
    task_run_id: uuid.UUID | None = None,
    artifact_id: uuid.UUID | None = None,
) -> ArtifactRead:
    """Hand the artifact to the run store (buffered) and return it as recorded."""
    from vibepiper.states import now
    from vibepiper.utilities.ids import new_id

    run_flow, run_task = _run_ids()
    body = ArtifactCreate(
        id=artifact_id or new_id(),
        key=key,
        type=type,
        description=description,
        data=data,
        metadata_=metadata,
        flow_run_id=flow_run_id or run_flow,
        task_run_id=task_run_id or run_task,
        created=now(),
    )
    store = _store()
    assert store is not None
    store.write_artifact(body)
    fields = body.model_dump(exclude={"created"})
    return ArtifactRead.model_construct(**fields, created=body.created, updated=body.created)


def _flush_own_writes() -> None:
    """Wait (briefly) until the artifacts this process buffered are recorded, so a read
    that follows sees them."""
    store = _store(open_one=False)
    if store is not None:
        store.flush(FLUSH_BEFORE_READ)


def _latest_plan(key: str | None) -> Plan[ArtifactRead | None]:
    """The latest version of `key`; with no key, the artifact updated last."""
    from vibepiper.client import _artifacts as calls
    from vibepiper.exceptions import ObjectNotFound
    from vibepiper.schemas.artifacts import ArtifactQuery, ArtifactSort

    if key is None:
        query = ArtifactQuery(sort=ArtifactSort.UPDATED_DESC, limit=1)
        found: list[ArtifactRead] = yield calls.read_artifacts(query)
        return found[0] if found else None
    try:
        latest: ArtifactRead = yield calls.latest_artifact(key)
    except ObjectNotFound:
        return None
    return latest


def _check_key(key: str | None) -> None:
    if key is not None:
        check_artifact_key(key)


# --- stored files and images ------------------------------------------------------------
def _read_source(
    source: str | Path | bytes | bytearray | memoryview, filename: str | None
) -> tuple[bytes, str | None]:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source), filename
    path = Path(source).expanduser()
    return path.read_bytes(), filename or path.name


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _is_url(text: str) -> bool:
    return "://" in text or text.startswith("data:")


def _storage() -> ResultStorage:
    """The result storage of the current run (outside a run: the default one)."""
    from vibepiper.result_storage import resolve_storage
    from vibepiper.results import get_result_store

    return resolve_storage(get_result_store().result_storage)


def _store_file(
    content: bytes,
    filename: str,
    content_type: str,
    *,
    type: str,
    key: str | None,
    description: str | None,
) -> ArtifactRead:
    """Write `content` to the run's result storage, then record the artifact pointing
    at it (so a recorded artifact never points at missing bytes)."""
    from vibepiper.utilities.ids import new_id

    artifact_id = new_id()
    storage = _storage()
    storage_key = f"artifacts/{artifact_id}/{filename}"
    storage.write(storage_key, content)
    metadata = {
        "storage": storage.url,
        "storage_key": storage_key,
        "filename": filename,
        "content_type": content_type,
        "size": str(len(content)),
    }
    return _publish(
        type=type,
        key=key,
        description=description,
        data=None,
        metadata=metadata,
        artifact_id=artifact_id,
    )


def _image(image: str | Path | bytes | Any, key: str | None, description: str | None) -> uuid.UUID:
    _check_key(key)
    if isinstance(image, str) and (_is_url(image) or not Path(image).expanduser().is_file()):
        return (
            ImageArtifact(key=key, description=description, image_url=image).create(_sync=True).id
        )
    if callable(getattr(image, "savefig", None)):
        content, filename = _figure_png(image), "figure.png"
    elif isinstance(image, str | Path | bytes | bytearray | memoryview):
        content, named = _read_source(image, None)
        filename = named or "image"
    else:
        raise ValueError(
            f"an image is a URL, a path, bytes or a matplotlib figure; got {type(image).__name__}"
        )
    sniffed = image_type(content)
    if sniffed is None:
        raise ValueError(f"{filename!r} is not a PNG, JPEG, GIF, WebP or SVG image")
    content_type, suffix = sniffed
    if "." not in filename:
        filename += suffix
    stored = _store_file(
        content,
        safe_filename(filename),
        content_type,
        type="image",
        key=key,
        description=description,
    )
    return stored.id


def _file(
    source: str | Path | bytes,
    key: str | None,
    filename: str | None,
    description: str | None,
    type: str = "file",
) -> uuid.UUID:
    _check_key(key)
    content, named = _read_source(source, filename)
    name = safe_filename(named or "file.bin")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return _store_file(content, name, content_type, type=type, key=key, description=description).id


# --- the functions -------------------------------------------------------------------------
def create_markdown_artifact(
    markdown: str,
    key: str | None = None,
    description: str | None = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Publish markdown (a report); returns its id. In async code, a coroutine.

    Raises:
        ValueError: `key` is not lowercase letters, numbers and dashes.
    """
    if not run_sync(_sync):
        return acreate_markdown_artifact(markdown, key, description)  # type: ignore[return-value]
    _check_key(key)
    return MarkdownArtifact(key=key, description=description, markdown=markdown)._publish().id


async def acreate_markdown_artifact(
    markdown: str, key: str | None = None, description: str | None = None
) -> uuid.UUID:
    return create_markdown_artifact(markdown, key, description, _sync=True)


def create_table_artifact(
    table: TableData | Any,
    key: str | None = None,
    description: str | None = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Publish a table: a list of dicts, a dict of lists or a list of lists (a pandas
    DataFrame too); NaN and infinities are recorded as null. Returns its id. In async
    code, a coroutine.

    Raises:
        ValueError: the table has none of those shapes, or `key` is not valid.
    """
    if not run_sync(_sync):
        return acreate_table_artifact(table, key, description)  # type: ignore[return-value]
    _check_key(key)
    return TableArtifact(key=key, description=description, table=table)._publish().id


async def acreate_table_artifact(
    table: TableData | Any, key: str | None = None, description: str | None = None
) -> uuid.UUID:
    return create_table_artifact(table, key, description, _sync=True)


def create_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
    client: Any = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Publish a link (recorded as the markdown `[link_text](link)`); returns its id. In
    async code, a coroutine."""
    if not run_sync(_sync):
        return acreate_link_artifact(link, link_text, key, description)  # type: ignore[return-value]
    _check_key(key)
    artifact = LinkArtifact(key=key, description=description, link=link, link_text=link_text)
    return artifact._publish().id


async def acreate_link_artifact(
    link: str,
    link_text: str | None = None,
    key: str | None = None,
    description: str | None = None,
    client: Any = None,
) -> uuid.UUID:
    return create_link_artifact(link, link_text, key, description, _sync=True)


def create_progress_artifact(
    progress: float,
    key: str | None = None,
    description: str | None = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Publish a progress bar at `progress` percent (0 to 100); returns its id, for
    `update_progress_artifact`. In async code, a coroutine."""
    if not run_sync(_sync):
        return acreate_progress_artifact(progress, key, description)  # type: ignore[return-value]
    _check_key(key)
    return ProgressArtifact(key=key, description=description, progress=progress)._publish().id


async def acreate_progress_artifact(
    progress: float, key: str | None = None, description: str | None = None
) -> uuid.UUID:
    return create_progress_artifact(progress, key, description, _sync=True)


def update_progress_artifact(
    artifact_id: uuid.UUID,
    progress: float,
    description: str | None = None,
    client: Any = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Move a progress artifact to `progress` percent (and replace its description when
    one is given); returns its id. Buffered like a creation. In async code, a coroutine."""
    if not run_sync(_sync):
        return aupdate_progress_artifact(artifact_id, progress, description)  # type: ignore[return-value]
    fields: dict[str, Any] = {"data": clamp_progress(progress)}
    if description:
        fields["description"] = description
    store = _store()
    assert store is not None
    store.update_artifact(uuid.UUID(str(artifact_id)), ArtifactUpdate(**fields))
    return artifact_id


async def aupdate_progress_artifact(
    artifact_id: uuid.UUID,
    progress: float,
    description: str | None = None,
    client: Any = None,
) -> uuid.UUID:
    return update_progress_artifact(artifact_id, progress, description, _sync=True)


def create_image_artifact(
    image_url: str | Path | bytes | Any,
    key: str | None = None,
    description: str | None = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Publish an image; returns its id. In async code, a coroutine.

    Args:
        image_url: a URL (recorded as it is, as in Prefect), or, beyond Prefect, a local
            file (`str` or `Path`), PNG/JPEG/GIF/WebP/SVG bytes or a matplotlib figure
            (saved as PNG), stored in the run's result storage.

    Raises:
        ValueError: bytes or a file that are not such an image, or an invalid `key`.
        FileNotFoundError: a `Path` that does not exist.
    """
    if not run_sync(_sync):
        return acreate_image_artifact(image_url, key, description)  # type: ignore[return-value]
    return _image(image_url, key, description)


async def acreate_image_artifact(
    image_url: str | Path | bytes | Any,
    key: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    if isinstance(image_url, str) and _is_url(image_url):
        return _image(image_url, key, description)
    return await asyncio.to_thread(_image, image_url, key, description)


def create_file_artifact(
    path_or_bytes: str | Path | bytes,
    key: str | None = None,
    filename: str | None = None,
    description: str | None = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Store a file in the run's result storage and publish it for download; returns its
    id. In async code, a coroutine.

    Args:
        path_or_bytes: a local file, or the file's bytes.
        filename: the name to download it as (default: the file's own name; for bytes,
            `file.bin`).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: an invalid `key` or `filename`.
    """
    if not run_sync(_sync):
        return acreate_file_artifact(path_or_bytes, key, filename, description)  # type: ignore[return-value]
    return _file(path_or_bytes, key, filename, description)


async def acreate_file_artifact(
    path_or_bytes: str | Path | bytes,
    key: str | None = None,
    filename: str | None = None,
    description: str | None = None,
) -> uuid.UUID:
    return await asyncio.to_thread(_file, path_or_bytes, key, filename, description)


def create_html_artifact(
    html: str,
    key: str | None = None,
    description: str | None = None,
    *,
    _sync: bool | None = None,
) -> uuid.UUID:
    """Publish an HTML page (the dashboard shows it in a sandboxed frame: no scripts, no
    access to the dashboard); returns its id. In async code, a coroutine."""
    if not run_sync(_sync):
        return acreate_html_artifact(html, key, description)  # type: ignore[return-value]
    _check_key(key)
    return _publish(type="html", key=key, description=description, data=str(html)).id


async def acreate_html_artifact(
    html: str, key: str | None = None, description: str | None = None
) -> uuid.UUID:
    return create_html_artifact(html, key, description, _sync=True)

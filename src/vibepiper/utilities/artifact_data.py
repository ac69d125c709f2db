"""What an artifact of each kind records, with no I/O: a link's markdown, a progress
value, a table's JSON (Prefect's forms), an image's type sniffed from its bytes, and a
usable file name (`vibepiper.artifacts` uses these)."""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger("vibepiper.artifacts")


def link_markdown(link: str, link_text: str | None = None) -> str:
    """`[link_text](link)` (`[link](link)` without text), as Prefect records a link.
    Brackets in the text and `( ) < >` and spaces in the link are escaped, so the
    markdown stays one link."""
    text = link_text or link
    for char in "\\[]":
        text = text.replace(char, "\\" + char)
    target = link
    for char, code in (("(", "%28"), (")", "%29"), (" ", "%20"), ("<", "%3C"), (">", "%3E")):
        target = target.replace(char, code)
    return f"[{text}]({target})"


def clamp_progress(progress: float) -> float:
    """`progress` as a float from 0 to 100 (out-of-range values clamped with a warning,
    as in Prefect); ValueError for NaN."""
    value = float(progress)
    if math.isnan(value):
        raise ValueError("progress must be a number from 0 to 100, got NaN")
    if not 0.0 <= value <= 100.0:
        clamped = min(100.0, max(0.0, value))
        logger.warning("Progress %s%% is out of range; recorded as %s%%", value, clamped)
        return clamped
    return value


def table_rows(table: Any) -> list[Any] | dict[str, list[Any]]:
    """`table` as one of the three shapes with plain lists (tuples, arrays and a pandas
    DataFrame, as records, accepted); ValueError for anything else."""
    if _is_dataframe(table):
        records: list[Any] = table.to_dict(orient="records")
        return records
    if isinstance(table, Mapping):
        columns = {str(name): _as_list(column) for name, column in table.items()}
        if all(column is not None for column in columns.values()):
            return columns  # type: ignore[return-value]
    elif isinstance(table, Sequence) and not isinstance(table, str | bytes):
        rows = list(table)
        if all(isinstance(row, Mapping) for row in rows):
            return [dict(row) for row in rows]
        as_lists = [_as_list(row) for row in rows]
        if all(row is not None for row in as_lists):
            return as_lists
    raise ValueError(
        "a table is a list of dicts (rows), a dict of lists (columns) or a list of lists "
        f"(rows); got {type(table).__name__}"
    )


def table_json(table: Any) -> str:
    """The JSON text a table artifact records (Prefect's form): NaN and infinities become
    null, numpy values plain numbers, datetimes ISO 8601, other values their text."""
    return json.dumps(_jsonable(table_rows(table)), allow_nan=False)


def _is_dataframe(value: Any) -> bool:
    return hasattr(value, "columns") and callable(getattr(value, "to_dict", None))


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list | tuple):
        return list(value)
    tolist = getattr(value, "tolist", None)  # numpy arrays, pandas series
    if callable(tolist) and not isinstance(value, str | bytes):
        as_list = tolist()
        return as_list if isinstance(as_list, list) else None
    return None


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(name): _jsonable(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        try:
            return _jsonable(tolist())
        except Exception:  # not numpy's: fall through to the text
            pass
    return str(value)


_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
)


def image_type(content: bytes) -> tuple[str, str] | None:
    """(content type, file suffix) of PNG, JPEG, GIF, WebP or SVG bytes, else None."""
    for signature, content_type, suffix in _IMAGE_SIGNATURES:
        if content.startswith(signature):
            return content_type, suffix
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", ".webp"
    head = content[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml", ".svg"
    return None


def safe_filename(name: str) -> str:
    """`name` without folders; ValueError when nothing usable is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", "..") or any(ord(char) < 32 for char in base):
        raise ValueError(f"{name!r} is not a usable file name")
    return base

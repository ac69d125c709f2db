"""The outbox: run records a server could not take, kept on disk until it can.

When the server of `VIBEPIPER_API_URL` does not answer, a process keeps sending for a
while (`VIBEPIPER_API_OUTBOX_AFTER` seconds), then writes what it has not sent to a
file under `$VIBEPIPER_HOME/outbox/`, one file per server, one batch operation per
line. The next VibePiper process that reaches that server sends the file's records
first (then its own), and `vibepiper outbox push` does it on demand; `vibepiper outbox
ls` shows what waits. Re-sending doubles nothing: runs are created by id, states carry
their id, and a log line equal to a stored one is skipped, so a record sent twice (a
process killed after sending, before emptying the file) is harmless.

Records the server refused (it answered, but would not store them) are kept apart, in
`<server>.refused.jsonl` with the server's reason, so nothing is dropped unseen.

Files are appended to and emptied under an exclusive `flock`, so several processes
(and threads) may share one outbox. Everything here is standard library.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: a process-local lock only
    fcntl = None  # type: ignore[assignment]

__all__ = ["Outbox", "OutboxSummary", "list_outboxes", "outbox_directory"]

SEND_CHUNK = 1000
"""Records sent per request while an outbox is emptied."""

_process_lock = threading.Lock()


def outbox_directory(home: Path) -> Path:
    """Where the outboxes of `home` live."""
    return home / "outbox"


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    """What waits for one server."""

    api_url: str
    path: Path
    records: int
    refused: int
    oldest: dt.datetime | None


class Outbox:
    """The records kept for one server (`api_url`) under `home`."""

    def __init__(self, home: Path, api_url: str) -> None:
        self.api_url = api_url
        key = hashlib.sha256(api_url.encode()).hexdigest()[:16]
        directory = outbox_directory(home)
        self.path = directory / f"{key}.jsonl"
        self.refused_path = directory / f"{key}.refused.jsonl"
        self._about = directory / f"{key}.json"
        self._lock_path = directory / f"{key}.lock"

    # --- writing -----------------------------------------------------------------------
    def keep(self, operations: Sequence[dict[str, Any]]) -> None:
        """Append `operations` (batch operations, in order), durably."""
        if operations:
            when = _now()
            with self._locked():
                self._append(self.path, [{"kept_at": when, "operation": op} for op in operations])

    def keep_refused(self, operations: Sequence[dict[str, Any]], reason: str) -> None:
        """Keep what the server refused, with its reason."""
        if operations:
            entry = {"refused_at": _now(), "reason": reason}
            with self._locked():
                self._append(self.refused_path, [{**entry, "operation": op} for op in operations])

    def _append(self, path: Path, lines: Sequence[dict[str, Any]]) -> None:
        text = "".join(json.dumps(line, default=_jsonable) + "\n" for line in lines)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    # --- reading and sending -------------------------------------------------------------
    def count(self) -> int:
        """How many records wait (0 without a file)."""
        return _count_lines(self.path)

    def send(self, deliver: Callable[[list[dict[str, Any]]], None]) -> int:
        """Send every kept record with `deliver` (one call per chunk, oldest first) and
        empty the file; returns how many were sent. If `deliver` raises, the records not
        yet delivered stay (in order) and the exception propagates."""
        with self._locked():
            records = _read_lines(self.path)
            sent = 0
            try:
                for start in range(0, len(records), SEND_CHUNK):
                    chunk = records[start : start + SEND_CHUNK]
                    deliver([record["operation"] for record in chunk])
                    sent = start + len(chunk)
            finally:
                self._rewrite(records[sent:])
            return sent

    def _rewrite(self, remaining: list[dict[str, Any]]) -> None:
        if not remaining:
            self.path.unlink(missing_ok=True)
            return
        partial = self.path.with_name(self.path.name + f".{uuid.uuid4().hex}.tmp")
        self._append(partial, remaining)
        os.replace(partial, self.path)

    def summary(self) -> OutboxSummary:
        records = _read_lines(self.path) if self.path.exists() else []
        stamps = [r["kept_at"] for r in records[:1] if "kept_at" in r]
        return OutboxSummary(
            api_url=self.api_url,
            path=self.path,
            records=len(records),
            refused=_count_lines(self.refused_path),
            oldest=dt.datetime.fromisoformat(stamps[0]) if stamps else None,
        )

    # --- the lock --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._about.exists():
            self._about.write_text(json.dumps({"api_url": self.api_url}))
            with contextlib.suppress(OSError):
                os.chmod(self._about, 0o600)
        with _process_lock, open(self._lock_path, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def list_outboxes(home: Path) -> list[OutboxSummary]:
    """Every server with records waiting (or refused) under `home`."""
    directory = outbox_directory(home)
    if not directory.is_dir():
        return []
    found = []
    for about in sorted(directory.glob("*.json")):
        try:
            api_url = json.loads(about.read_text())["api_url"]
        except (OSError, ValueError, KeyError):
            continue
        summary = Outbox(home, api_url).summary()
        if summary.records or summary.refused:
            found.append(summary)
    return found


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot keep a {type(value).__name__} in the outbox")


def _read_lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        if line.strip():
            with contextlib.suppress(ValueError, KeyError):  # a line cut short by a crash
                record = json.loads(line)
                if "operation" in record:
                    records.append(record)
    return records


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except FileNotFoundError:
        return 0

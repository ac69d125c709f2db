"""A run container's output: kept for the crash message, sent to the run's logs.

With `VIBEPIPER_LOGGING_TO_CONSOLE=false` (the container's default) the run's own log
records go to the API as they always do, and what the container prints is only what
nothing else records: `print()`s, tracebacks, an interpreter that did not start. Those
lines become log records of the run (logger `vibepiper.container`), and the last ones
are kept for the Crashed message.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vibepiper.schemas.api import LogCreate

LAST_LINES = 20
MAX_LINE = 10_000
SEND_EVERY_SECONDS = 0.5
SEND_LINES = 100
LOGGER_NAME = "vibepiper.container"


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines of a byte stream cut anywhere (the engine sends what it has)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace").rstrip("\r")[:MAX_LINE]
    if pending:
        yield pending.decode("utf-8", errors="replace")[:MAX_LINE]


class ContainerLogs:
    """Follows a container's output on a thread of its own until the container ends."""

    def __init__(
        self,
        container: Any,
        flow_run_id: uuid.UUID,
        send: Callable[[list[LogCreate]], object],
        *,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self._container = container
        self._flow_run_id = flow_run_id
        self._send = send
        self._echo = echo
        self._last: collections.deque[str] = collections.deque(maxlen=LAST_LINES)
        self._lock = threading.Lock()
        self._send_failed = False
        self._thread = threading.Thread(
            target=self._follow, name=f"vibepiper-logs-{flow_run_id}", daemon=True
        )
        self._thread.start()

    def last_lines(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._last)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _follow(self) -> None:
        from vibepiper.schemas.api import LogCreate

        batch: list[LogCreate] = []
        last_sent = dt.datetime.now(dt.UTC)
        try:
            stream = self._container.logs(stream=True, follow=True, stdout=True, stderr=True)
            for line in split_lines(stream):
                with self._lock:
                    self._last.append(line)
                if self._echo is not None:
                    self._echo(line)
                now = dt.datetime.now(dt.UTC)
                batch.append(
                    LogCreate(
                        flow_run_id=self._flow_run_id,
                        name=LOGGER_NAME,
                        level=logging.INFO,
                        message=line or " ",
                        timestamp=now,
                    )
                )
                if (
                    len(batch) >= SEND_LINES
                    or (now - last_sent).total_seconds() > SEND_EVERY_SECONDS
                ):
                    self._flush(batch)
                    batch, last_sent = [], now
        except Exception:  # the container went away mid-stream: keep what was read
            pass
        self._flush(batch)

    def _flush(self, batch: list[LogCreate]) -> None:
        if not batch or self._send_failed:
            return
        try:
            self._send(batch)
        except Exception:  # the run's logs are a convenience; the run goes on
            self._send_failed = True

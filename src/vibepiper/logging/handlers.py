"""Where run log records go: the console (stderr) and the run store."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from typing import Any

from vibepiper.logging.redaction import redact


class ConsoleHandler(logging.Handler):
    """Writes records to the current `sys.stderr` (looked up at each write)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(redact(self.format(record)) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _run_id(value: Any) -> uuid.UUID | None:
    """A record's run id as a UUID (loggers carry them as text, as Prefect's do)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:  # "<unknown>": a logger made without a run
        return None


class StoreHandler(logging.Handler):
    """Writes records that belong to a run into the run store."""

    def emit(self, record: logging.LogRecord) -> None:
        flow_run_id = _run_id(getattr(record, "flow_run_id", None))
        task_run_id = _run_id(getattr(record, "task_run_id", None))
        if flow_run_id is None and task_run_id is None:
            return
        try:
            from vibepiper.schemas.runs import LogRecordRow
            from vibepiper.store import get_store

            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            message = redact(message)
            get_store().write_log(
                LogRecordRow(
                    flow_run_id=flow_run_id,
                    task_run_id=task_run_id,
                    name=record.name,
                    level=record.levelno,
                    message=message,
                    timestamp=dt.datetime.fromtimestamp(record.created, dt.UTC),
                )
            )
        except Exception:
            self.handleError(record)


__all__ = ["ConsoleHandler", "StoreHandler"]

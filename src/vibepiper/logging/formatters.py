"""How run log records print on the console."""

from __future__ import annotations

import datetime as dt
import logging


class RunConsoleFormatter(logging.Formatter):
    """`12:00:01.123 | INFO    | Task run 'load-0' - message`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        msecs = int(record.msecs)
        task_run_name = getattr(record, "task_run_name", None)
        flow_run_name = getattr(record, "flow_run_name", None)
        if task_run_name:
            source = f"Task run {task_run_name!r}"
        elif flow_run_name:
            source = f"Flow run {flow_run_name!r}"
        else:
            source = record.name
        text = f"{stamp}.{msecs:03d} | {record.levelname:<7} | {source} - {record.getMessage()}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


__all__ = ["RunConsoleFormatter"]

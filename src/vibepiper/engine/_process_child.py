"""The main loop of a task worker process (see `vibepiper.engine.processes`)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import traceback
from typing import Any


class _Collector(logging.Handler):
    """Keeps this call's log records to send back to the parent."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{''.join(traceback.format_exception(*record.exc_info))}"
        record.msg = message
        record.args = None
        record.exc_info = None
        record.exc_text = None
        self.records.append(record)


def main() -> None:
    import cloudpickle

    import vibepiper.logging as run_logging
    from vibepiper.context import TaskRunContext, use_task_run_context
    from vibepiper.engine.processes import READY, read_frame, write_frame

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # anything the task prints must not corrupt the answer channel
    sys.stdout = sys.stderr
    root = logging.getLogger(run_logging.ROOT_LOGGER)
    root.handlers.clear()
    root.setLevel(logging.DEBUG)
    root.propagate = False
    run_logging._configured = True
    collector = _Collector()
    root.addHandler(collector)
    write_frame(stdout, READY)
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return
        collector.records = []
        fn, args, kwargs, task, task_run, parameters, log_prints = cloudpickle.loads(frame)
        if log_prints:
            run_logging.enable_log_prints()
        ctx = TaskRunContext(
            task=task, task_run=task_run, parameters=parameters, log_prints=log_prints
        )
        try:
            with use_task_run_context(ctx):
                value: Any = fn(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = asyncio.run(_await(value))
            answer = (True, value, collector.records)
        except Exception as exc:
            answer = (False, exc, collector.records)
        try:
            data = cloudpickle.dumps(answer)
        except Exception as exc:
            data = cloudpickle.dumps(
                (False, TypeError(f"The task's return value could not be pickled: {exc}"), [])
            )
        write_frame(stdout, data)


async def _await(awaitable: Any) -> Any:
    return await awaitable


if __name__ == "__main__":
    main()

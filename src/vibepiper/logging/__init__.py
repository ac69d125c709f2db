"""Run loggers: standard `logging` records tagged with the run they belong to.

`get_run_logger()` inside a flow or task returns a logger adapter whose records carry
`flow_run_id`, `flow_run_name`, `flow_name`, `task_run_id`, `task_run_name` and
`task_name`. Records of the `vibepiper` logger tree are printed to stderr and, when
they belong to a run, written to the run store.

The package follows Prefect's layout: the logger functions live in
`vibepiper.logging.loggers` (`get_run_logger`, `flow_run_logger`, `patch_print`, ...),
the handlers in `.handlers`, the console format in `.formatters`; every name is also
importable from here. The configuration (`setup_logging` and its once-per-process
flag) stays in this module: `vibepiper.engine.remote_call` swaps the flag while a
remote worker collects records, and must find it here.
"""

from __future__ import annotations

import logging
import threading

from vibepiper.logging.formatters import RunConsoleFormatter
from vibepiper.logging.handlers import ConsoleHandler, StoreHandler

ROOT_LOGGER = "vibepiper"
FLOW_RUN_LOGGER = "vibepiper.flow_runs"
TASK_RUN_LOGGER = "vibepiper.task_runs"

_setup_lock = threading.Lock()
_configured = False


def setup_logging(force: bool = False) -> None:
    """Configure the `vibepiper` logger tree once per process (from settings)."""
    global _configured
    if _configured and not force:
        return
    with _setup_lock:
        if _configured and not force:
            return
        from vibepiper.settings import get_settings

        settings = get_settings()
        root = logging.getLogger(ROOT_LOGGER)
        for handler in list(root.handlers):
            if isinstance(handler, ConsoleHandler | StoreHandler):
                root.removeHandler(handler)
        root.setLevel(settings.logging_level)
        root.propagate = False
        if settings.logging_to_console:
            console = ConsoleHandler()
            console.setFormatter(RunConsoleFormatter())
            root.addHandler(console)
        store_handler = StoreHandler()
        store_handler.setLevel(settings.logging_store_level)
        root.addHandler(store_handler)
        _configured = True


# The logger functions need `setup_logging` and the logger names above, so they are
# imported once those exist.
from vibepiper.logging.loggers import (  # noqa: E402
    LogEavesdropper,
    PrefectLogAdapter,
    RunLoggerAdapter,
    disable_logger,
    disable_run_logger,
    enable_log_prints,
    flow_run_logger,
    get_logger,
    get_run_logger,
    patch_print,
    print_as_log,
    task_run_logger,
)

__all__ = [
    "ConsoleHandler",
    "LogEavesdropper",
    "PrefectLogAdapter",
    "RunConsoleFormatter",
    "RunLoggerAdapter",
    "StoreHandler",
    "disable_logger",
    "disable_run_logger",
    "enable_log_prints",
    "flow_run_logger",
    "get_logger",
    "get_run_logger",
    "patch_print",
    "print_as_log",
    "setup_logging",
    "task_run_logger",
]

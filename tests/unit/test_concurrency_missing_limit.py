"""`concurrency("name")` on a limit that does not exist: one warning per call, with
Prefect's text, in the run's log when called inside a run (and nothing is limited)."""

from __future__ import annotations

import logging

from vibepiper import flow, task
from vibepiper.concurrency.sync import concurrency
from vibepiper.store.memory import MemoryStore

LINE = "Concurrency limits ['ghost'] do not exist - skipping acquisition."


def test_a_missing_limit_warns_once_per_call_in_the_run_log(
    store: MemoryStore, log_records: list[logging.LogRecord]
) -> None:
    @task
    def guarded() -> int:
        with concurrency("ghost"):
            return 1

    @flow
    def pipeline() -> int:
        return guarded() + guarded()

    assert pipeline() == 2
    warnings = [r for r in log_records if r.getMessage() == LINE]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    # stored with the task runs that called it
    (flow_run,) = store.read_flow_runs()
    stored = [log.message for log in store.read_logs(flow_run.id)]
    assert stored.count(LINE) == 2


def test_outside_a_run_the_warning_goes_to_the_concurrency_logger(
    log_records: list[logging.LogRecord],
) -> None:
    with concurrency("ghost"):
        pass
    (warning,) = [r for r in log_records if r.getMessage() == LINE]
    assert warning.name == "vibepiper.concurrency"

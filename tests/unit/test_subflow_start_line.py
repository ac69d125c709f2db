"""A subflow's first log line says it is a subflow (Prefect's wording), in its parent's log."""

from __future__ import annotations

import logging

from vibepiper import flow


@flow
def child() -> int:
    return 1


@flow
def parent() -> int:
    return child()


def test_a_subflow_start_line_names_it_a_subflow(log_records: list[logging.LogRecord]) -> None:
    parent()
    lines = [r.getMessage() for r in log_records if r.getMessage().startswith("Beginning")]
    assert len(lines) == 2
    assert lines[0].startswith("Beginning flow run ") and lines[0].endswith("for flow 'parent'")
    assert lines[1].startswith("Beginning subflow run ") and lines[1].endswith("for flow 'child'")
    subflow_line = next(r for r in log_records if r.getMessage().startswith("Beginning subflow"))
    parent_line = next(r for r in log_records if r.getMessage().startswith("Beginning flow"))
    # logged by the parent's run logger, as Prefect does
    assert subflow_line.flow_run_id == parent_line.flow_run_id  # type: ignore[attr-defined]

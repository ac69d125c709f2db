"""`RunSpan` / `RunTracer`: recording spans that end as one tuple for the light exporter."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from vibepiper.telemetry.run_spans import RunTracer


@pytest.fixture
def ended() -> list[tuple[Any, ...]]:
    return []


@pytest.fixture
def tracer(ended: list[tuple[Any, ...]]) -> RunTracer:
    return RunTracer(ended.append)


def test_a_span_ends_as_one_record_with_its_fields(
    tracer: RunTracer, ended: list[tuple[Any, ...]]
) -> None:
    span = tracer.start_span("task load", attributes={"a": "x", "n": 3, "bad": object()})
    span.set_attribute("rows", 7)
    span.set_attributes({"tags": ("t1", 2), "ratio": 0.5, "skip": None})
    span.add_event("validated", {"k": "v"}, timestamp=5)
    span.update_name("task load!")
    span.end(end_time=span._start + 10)  # type: ignore[attr-defined]
    span.end()  # a second end changes nothing
    span.set_attribute("late", 1)
    assert len(ended) == 1
    trace_id, span_id, parent, name, start, end, attributes, status, message, events = ended[0]
    assert trace_id > 0 and span_id > 0 and parent == 0
    assert name == "task load!" and end - start == 10
    assert attributes == {"a": "x", "n": 3, "rows": 7, "tags": ["t1", "2"], "ratio": 0.5}
    assert (status, message) == (0, None)
    assert events == (("validated", 5, {"k": "v"}),)
    assert not span.is_recording()


def test_spans_nest_through_the_context_and_code_sees_them_current(
    tracer: RunTracer, ended: list[tuple[Any, ...]]
) -> None:
    with tracer.start_as_current_span("flow f") as outer:
        assert trace.get_current_span() is outer
        with tracer.start_as_current_span("task t") as inner:
            assert inner.get_span_context().trace_id == outer.get_span_context().trace_id
    by_name = {record[3]: record for record in ended}
    assert by_name["task t"][2] == by_name["flow f"][1]
    assert by_name["task t"][0] == by_name["flow f"][0]
    assert outer.get_span_context().is_valid and outer.get_span_context().trace_flags.sampled


def test_error_status_and_exception_event(tracer: RunTracer, ended: list[tuple[Any, ...]]) -> None:
    span = tracer.start_span("task boom")
    try:
        raise ValueError("bad row 7")
    except ValueError as exc:
        span.record_exception(exc)
    span.set_status(StatusCode.ERROR, "bad row 7")
    span.end()
    _, _, _, _, _, _, _, status, message, events = ended[0]
    assert (status, message) == (2, "bad row 7")
    ((name, _, attributes),) = events
    assert name == "exception"
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "bad row 7"
    assert "raise ValueError" in attributes["exception.stacktrace"]


def test_ok_is_final_and_unset_carries_no_message(
    tracer: RunTracer, ended: list[tuple[Any, ...]]
) -> None:
    span = tracer.start_span("s")
    span.set_status(Status(StatusCode.OK))
    span.set_status(StatusCode.ERROR, "too late")
    span.end()
    other = tracer.start_span("u")
    other.set_status(StatusCode.UNSET, "ignored")
    other.end()
    assert [(r[7], r[8]) for r in ended] == [(1, None), (0, None)]

"""OpenTelemetry spans of flow and task runs, caught by the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, get_current_span

from vibepiper import flow, tags, task
from vibepiper.cache_policies import INPUTS
from vibepiper.telemetry import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    try:
        yield exporter
    finally:
        tracing.reset()
        provider.shutdown()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def test_spans_follow_the_run_tree(spans: InMemorySpanExporter) -> None:
    @task
    def leaf(x: int) -> int:
        return x

    @task
    def outer(x: int) -> int:
        return leaf(x) + 1  # a task called inside a task

    @flow
    def child(x: int) -> int:
        return outer(x)

    @flow
    def parent() -> int:
        first = outer.submit(1).result()  # through the thread pool
        return first + child(2)

    assert parent() == 5
    all_spans = spans.get_finished_spans()
    assert len(all_spans) == 6
    flows = {s.attributes["vibepiper.flow.name"]: s for s in all_spans if s.name.startswith("flow")}
    assert set(flows) == {"parent", "child"}
    root, sub = flows["parent"], flows["child"]
    assert root.parent is None
    assert parent_of(sub) == span_id(root)
    assert len({s.context.trace_id for s in all_spans if s.context is not None}) == 1
    tasks = [s for s in all_spans if s.name.startswith("task")]
    outers = [s for s in tasks if s.name == "task outer"]
    leaves = [s for s in tasks if s.name == "task leaf"]
    assert sorted(parent_of(s) or 0 for s in outers) == sorted([span_id(root), span_id(sub)])
    assert sorted(parent_of(s) or 0 for s in leaves) == sorted(span_id(s) for s in outers)


def test_span_attributes(spans: InMemorySpanExporter, store: Any) -> None:
    @task(tags=["io"])
    def load() -> int:
        return 1

    @flow(name="etl")
    def etl() -> int:
        return load()

    with tags("nightly"):
        state = etl(return_state=True)
    assert state.is_completed()
    flow_span = next(s for s in spans.get_finished_spans() if s.name == "flow etl")
    task_span = next(s for s in spans.get_finished_spans() if s.name == "task load")
    flow_run = store.read_flow_run(state.state_details.flow_run_id)
    attributes = dict(flow_span.attributes or {})
    assert attributes["vibepiper.flow_run.id"] == str(flow_run.id)
    assert attributes["vibepiper.flow_run.name"] == flow_run.name
    assert attributes["vibepiper.flow.name"] == "etl"
    assert attributes["vibepiper.state.type"] == "COMPLETED"
    assert attributes["vibepiper.state.name"] == "Completed"
    assert attributes["vibepiper.run_count"] == 1
    assert attributes["vibepiper.tags"] == ("nightly",)
    assert flow_span.status.status_code is StatusCode.UNSET
    attributes = dict(task_span.attributes or {})
    assert attributes["vibepiper.task_run.name"] == "load-0"
    assert attributes["vibepiper.task.name"] == "load"
    assert attributes["vibepiper.flow_run.id"] == str(flow_run.id)
    assert attributes["vibepiper.tags"] == ("io", "nightly")
    assert attributes["vibepiper.state.type"] == "COMPLETED"
    assert "vibepiper.cache.hit" not in attributes  # no cache policy: nothing to say


def test_failures_are_errors_with_their_message(spans: InMemorySpanExporter) -> None:
    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> None:
        raise ValueError("disk full")

    @flow(retries=1)
    def doomed() -> None:
        flaky()

    state = doomed(return_state=True)
    assert state.is_failed()
    finished = spans.get_finished_spans()
    flow_span = next(s for s in finished if s.name == "flow doomed")
    task_spans = [s for s in finished if s.name == "task flaky"]
    # the flow's retry runs the task run again: a span per task run of each attempt
    assert len(task_spans) == 2  # a task run in each of the two flow attempts
    for span in task_spans:
        assert span.status.status_code is StatusCode.ERROR
        assert "disk full" in (span.status.description or "")
        assert span.attributes is not None
        assert span.attributes["vibepiper.task.retries"] == 2
        assert span.attributes["vibepiper.state.type"] == "FAILED"
        assert span.attributes["vibepiper.run_count"] == 3  # 1 + 2 retries
        assert any(event.name == "exception" for event in span.events)
    assert flow_span.status.status_code is StatusCode.ERROR
    assert flow_span.attributes is not None
    assert flow_span.attributes["vibepiper.run_count"] == 2
    assert flow_span.attributes["vibepiper.flow.retries"] == 1


def test_cache_outcome(spans: InMemorySpanExporter) -> None:
    @task(cache_policy=INPUTS, persist_result=True)
    def square(x: int) -> int:
        return x * x

    @flow
    def twice() -> int:
        return square(3) + square(3)

    assert twice() == 18
    outcomes = [
        (s.attributes or {}).get("vibepiper.cache.hit")
        for s in spans.get_finished_spans()
        if s.name == "task square"
    ]
    assert outcomes == [False, True]
    hit = [s for s in spans.get_finished_spans() if s.name == "task square"][1]
    assert hit.attributes is not None
    assert hit.attributes["vibepiper.state.name"] == "Cached"
    assert hit.attributes["vibepiper.cache.outcome"]


def test_async_flows_and_tasks(spans: InMemorySpanExporter) -> None:
    @task
    async def fetch() -> int:
        await asyncio.sleep(0)
        return 1

    @flow
    async def gather() -> int:
        return await fetch() + fetch.submit().result()

    assert asyncio.run(gather()) == 2
    finished = spans.get_finished_spans()
    root = next(s for s in finished if s.name == "flow gather")
    fetches = [s for s in finished if s.name == "task fetch"]
    assert len(fetches) == 2
    assert all(parent_of(s) == span_id(root) for s in fetches)


def test_a_top_level_flow_continues_traceparent(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("TRACEPARENT", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.configure(provider)  # reads TRACEPARENT, as a run process does at its first run

    @flow
    def adopted() -> None:
        pass

    adopted()
    span = next(s for s in spans.get_finished_spans() if s.name == "flow adopted")
    assert span.context is not None and span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_SPAN_ID
    assert span.parent.is_remote


def test_carry_makes_the_span_current_in_another_context(spans: InMemorySpanExporter) -> None:
    carried: list[Any] = []

    def remote(value: int) -> int:
        carried.append(get_current_span().get_span_context())
        return value

    @task
    def ship() -> int:
        fn, args = tracing.carry(remote, 7)
        return contextvars.Context().run(fn, *args)  # a context knowing nothing, as a worker

    @flow
    def shipping() -> int:
        return ship()

    assert shipping() == 7
    task_span = next(s for s in spans.get_finished_spans() if s.name == "task ship")
    assert task_span.context is not None
    assert carried[0].span_id == task_span.context.span_id


def test_carry_is_the_plain_call_when_tracing_is_off() -> None:
    tracing.configure(None)
    try:
        assert tracing.carry(print, 1) == (print, (1,))
        assert tracing.with_traceparent({"env": {"A": "1"}}) == {"env": {"A": "1"}}
    finally:
        tracing.reset()


def test_run_deployment_carrier_round_trip(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    found: dict[str, Any] = {}

    @flow
    def caller() -> None:
        found["variables"] = tracing.with_traceparent({"env": {"A": "1"}, "working_dir": "/x"})
        found["traceparent"] = tracing.current_traceparent()

    caller()
    variables = found["variables"]
    assert variables["working_dir"] == "/x"
    assert variables["env"] == {"A": "1", "TRACEPARENT": found["traceparent"]}
    # what the worker reads back from the run's first state
    states = [SimpleNamespace(state_details={"job_variables": variables})]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    assert tracing.run_process_env(lambda: states) == {"TRACEPARENT": found["traceparent"]}
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    assert tracing.run_process_env(lambda: states) == {}  # tracing off: not even read


def test_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    tracing.reset()
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    try:

        @flow
        def quiet() -> int:
            return 1

        assert quiet() == 1
        assert tracing.TRACER is None
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        assert not tracing.wanted()
    finally:
        tracing.reset()

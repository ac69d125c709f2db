"""Run spans without the SDK's span objects: what tracing a flow or task run costs.

When VibePiper builds the tracer provider itself (from `OTEL_EXPORTER_OTLP_ENDPOINT`), the
spans of runs come from `RunTracer`: a `RunSpan` holds its few fields in slots and, when
it ends, hands one tuple (`vibepiper.telemetry.otlp_light.SpanRecord`) to a sink, the
light exporter that encodes and sends them from its own thread. OpenTelemetry's SDK spent
about 100 us a span here (its span object, its processor, its protobuf messages); this
costs a few.

A `RunSpan` is a real, recording OpenTelemetry span for the code of a run: it is the
current span (`trace.get_current_span()`) while the run's function runs, takes
attributes, events, a status and a new name, and spans the code starts under it (through
the SDK provider installed next to it) are its children in the same trace.

Spans of the application's own tracer provider, when it installed one, are not made here:
the runs' spans then go through that provider like any other.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanContext, Status, StatusCode, TraceFlags

__all__ = ["RunSpan", "RunTracer"]

Sink = Callable[[tuple[Any, ...]], None]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_bits = random.getrandbits
_now = time.time_ns
_get_current_span = trace.get_current_span
_UNSET, _OK, _ERROR = 0, 1, 2
_CODES = {StatusCode.UNSET: _UNSET, StatusCode.OK: _OK, StatusCode.ERROR: _ERROR}


_PRIMITIVE = frozenset({str, bool, int, float})


def _valid(value: Any) -> Any:
    """An attribute value as OTLP carries it (None: not one, dropped, as the SDK does)."""
    if type(value) in _PRIMITIVE or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return [item if isinstance(item, str) else str(item) for item in value]
    return None


class RunSpan(Span):
    """A recording span of a run (or of any code using `RunTracer`)."""

    __slots__ = (
        "_attributes",
        "_context",
        "_end",
        "_events",
        "_message",
        "_name",
        "_parent_id",
        "_sink",
        "_span_id",
        "_start",
        "_status",
        "_trace_id",
    )

    def __init__(
        self,
        sink: Sink,
        name: str,
        trace_id: int,
        parent_id: int,
        attributes: dict[str, Any] | None,
        start: int | None = None,
    ) -> None:
        self._sink = sink
        self._name = name
        self._trace_id = trace_id
        self._span_id = _bits(64) or 1
        self._parent_id = parent_id
        self._attributes = attributes if attributes is not None else {}
        self._events: list[tuple[str, int, dict[str, Any]]] = []
        self._status = _UNSET
        self._message: str | None = None
        self._context: SpanContext | None = None
        self._end: int | None = None
        self._start = _now() if start is None else start

    def get_span_context(self) -> SpanContext:
        context = self._context
        if context is None:
            context = self._context = SpanContext(
                self._trace_id, self._span_id, is_remote=False, trace_flags=_SAMPLED
            )
        return context

    def is_recording(self) -> bool:
        return self._end is None

    def set_attribute(self, key: str, value: Any) -> None:
        value = _valid(value)
        if self._end is None and value is not None:
            self._attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        if self._end is not None:
            return
        mine = self._attributes
        for key, value in attributes.items():
            value = _valid(value)
            if value is not None:
                mine[key] = value

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        if self._end is None:
            values = {k: v for k, v in (attributes or {}).items() if _valid(v) is not None}
            self._events.append((name, _now() if timestamp is None else timestamp, values))

    def add_run_attributes(self, attributes: dict[str, Any]) -> None:
        """`set_attributes` for the engines' own, valid, values (no checks)."""
        if self._end is None:
            self._attributes.update(attributes)

    def update_name(self, name: str) -> None:
        if self._end is None:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._end is not None or self._status == _OK:  # OK is final, as in the SDK
            return
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        self._status = _CODES.get(code, _UNSET)
        self._message = description if self._status == _ERROR else None

    def record_exception(
        self,
        exception: BaseException,
        attributes: Mapping[str, Any] | None = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        values: dict[str, Any] = {
            "exception.type": type(exception).__name__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(
                traceback.format_exception(type(exception), exception, exception.__traceback__)
            ),
            "exception.escaped": str(escaped),
        }
        values.update(attributes or {})
        self.add_event("exception", values, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end is not None:
            return
        self._end = end = _now() if end_time is None else end_time
        self._sink(
            (
                self._trace_id,
                self._span_id,
                self._parent_id,
                self._name,
                self._start,
                end,
                self._attributes,
                self._status,
                self._message,
                tuple(self._events),
            )
        )

    def __repr__(self) -> str:
        return f"RunSpan(name={self._name!r}, span_id={self._span_id:016x})"


class RunTracer(trace.Tracer):
    """A tracer whose spans are `RunSpan`s handed to `sink` when they end."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> RunSpan:
        parent = _get_current_span(context).get_span_context()
        if parent.is_valid:
            trace_id, parent_id = parent.trace_id, parent.span_id
        else:
            trace_id, parent_id = _bits(128) or 1, 0
        values = None
        if attributes:
            values = {k: w for k, v in attributes.items() if (w := _valid(v)) is not None}
        return RunSpan(self._sink, name, trace_id, parent_id, values, start_time)

    def start_run_span(self, name: str, attributes: dict[str, Any]) -> RunSpan:
        """`start_span` for the engines' own spans, at the least cost: `attributes` is a
        new dict of valid values, kept as it is (a UUID among them is written as text by
        the exporter, in its thread)."""
        parent = _get_current_span().get_span_context()
        if parent.is_valid:
            return RunSpan(self._sink, name, parent.trace_id, parent.span_id, attributes)
        return RunSpan(self._sink, name, _bits(128) or 1, 0, attributes)

    @contextmanager
    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[RunSpan]:
        span = self.start_span(name, context, kind, attributes, links, start_time)
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current  # type: ignore[misc]

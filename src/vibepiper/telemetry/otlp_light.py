"""Run spans as plain tuples, encoded by hand and sent over OTLP/HTTP.

The OpenTelemetry SDK spends ~100 µs on each span (a `Span` object, then the pb2
messages of `OTLPSpanExporter`). Run spans need none of that machinery: a run knows its
ids, times, attributes and outcome when it ends, so it is recorded as a `SpanRecord`
tuple, and `encode_request` writes the protobuf wire format of an OTLP
`ExportTraceServiceRequest` directly (a few µs a span).

`LightExporter` batches records on a daemon thread, like `BatchSpanProcessor` and with
its `OTEL_BSP_*` settings, and sends each batch through the HTTP client of
OpenTelemetry's own `OTLPSpanExporter`: endpoint, headers, compression, certificates,
timeout and retries stay exactly what the `OTEL_EXPORTER_OTLP_*` variables say. That
client is internal to OpenTelemetry (`OTLPSpanExporter._client.export(data: bytes)`),
so `light_exporter_supported()` checks it is there before anyone relies on it.

When the queue is full, `add` does not drop: the caller waits for the sending thread
to take a batch off the queue (backpressure), at most `max_wait_millis` (default 2 s)
per span. A wait that runs out means the collector is unreachable or too slow: from
then on full-queue spans are dropped without waiting (counted in `dropped_spans`,
logged once) until an export succeeds again, so a dead collector delays a flow by one
bounded wait, not one wait per span.

Past 600 lines, this module holds two parts, the encoder and the exporter; the
exporter is the encoder's one user, and each is read with the other.
"""

from __future__ import annotations

import inspect
import logging
import os
import struct
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

SpanAttributes: TypeAlias = Mapping[str, Any] | Sequence[tuple[str, Any]]
"""Attribute values: str, bool, int (int64), float, or a list/tuple of those."""

SpanEvent: TypeAlias = tuple[str, int, SpanAttributes]
"""(name, time_ns, attributes): e.g. one "exception" event with exception.type,
exception.message and exception.stacktrace."""

SpanRecord: TypeAlias = tuple[
    int, int, int, str, int, int, SpanAttributes, int, str | None, tuple[SpanEvent, ...]
]
"""One ended span, as a plain tuple (cheapest to build):

(trace_id: 128-bit int, span_id: 64-bit int, parent_span_id: int (0: a root span),
name, start_ns, end_ns, attributes, status_code (`STATUS_UNSET`, `STATUS_OK` or
`STATUS_ERROR`), status_message (None: none), events). Every span's kind is INTERNAL.
"""

STATUS_UNSET = 0
STATUS_OK = 1
STATUS_ERROR = 2

DEFAULT_SCHEDULE_DELAY_MILLIS = 5_000
DEFAULT_MAX_QUEUE_SIZE = 2_048
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512
DEFAULT_MAX_WAIT_MILLIS = 2_000

_log = logging.getLogger("vibepiper.telemetry")

# --- the protobuf wire format -----------------------------------------------------------------
#
# Field tags are (number << 3 | wire type); wire types: 0 varint, 1 fixed64, 2 length-delimited.
# Message shapes (opentelemetry/proto, v1):
#   ExportTraceServiceRequest { 1 resource_spans }
#   ResourceSpans { 1 resource, 2 scope_spans }      Resource { 1 attributes }
#   ScopeSpans { 1 scope, 2 spans }                  InstrumentationScope { 1 name, 2 version }
#   Span { 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 6 kind, 7 start (fixed64),
#          8 end (fixed64), 9 attributes, 11 events, 15 status }
#   Span.Event { 1 time (fixed64), 2 name, 3 attributes }     Status { 2 message, 3 code }
#   KeyValue { 1 key, 2 value }     KeyValueList { 1 values }     ArrayValue { 1 values }
#   AnyValue { 1 string, 2 bool, 3 int, 4 double (fixed64), 5 array, 6 kvlist, 7 bytes }

_BYTE = [bytes((i,)) for i in range(256)]
_CONTINUED = [bytes((i | 0x80,)) for i in range(128)]  # a varint's low 7 bits, more to come
_INT64_MASK = (1 << 64) - 1
_IDS = struct.Struct(">20sQ")  # trace id field and span id's tag, span id (big-endian)
_KIND_TIMES = struct.Struct("<3sQBQ")  # kind, start's tag, start, end's tag, end (fixed64: LE)
_DOUBLE = struct.Struct("<d").pack
_FIXED64 = struct.Struct("<Q").pack

_TRACE_ID_TAG = b"\x0a\x10"
_SPAN_ID_TAG = b"\x12\x08"
_PARENT_FIELD_TAG = b"\x22\x08"
_KIND_INTERNAL_START_TAG = b"\x30\x01\x39"  # kind = INTERNAL (1), then start's tag
_END_TAG = 0x41
_SPAN_TAG = b"\x12"  # ScopeSpans.spans
_SPAN_HEADS = [_SPAN_TAG + _BYTE[n] for n in range(128)]
_LONG_SPAN_HEADS = [_SPAN_TAG + _BYTE[n | 0x80] for n in range(128)]  # + the length >> 7
_ATTRIBUTE_TAG = b"\x4a"  # Span.attributes
_EVENT_TAG = b"\x5a"  # Span.events
_STATUS_TAG = b"\x7a"  # Span.status
_SHORT_STRING = 126  # a string value shorter than this has one-byte lengths in its KeyValue
_MAX_CACHED = 4_096  # entries per cache below; past it, values are encoded each time


def _varint(value: int) -> bytes:
    """An unsigned varint (callers mask negative int64 values to 64 bits first)."""
    if value < 0x80:
        return _BYTE[value]
    if value < 0x4000:
        return _CONTINUED[value & 0x7F] + _BYTE[value >> 7]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field."""
    return tag + _varint(len(body)) + body


# Attribute names, span names and small scalar values repeat in every span: their
# encodings are kept (bounded caches, shared by all threads; a lost race only re-encodes)
_key_fields: dict[str, bytes] = {}  # KeyValue `1: key` fields, by key
_name_fields: dict[str, bytes] = {}  # Span `5: name` fields, by name
# by key: the whole head of a Span.attributes field holding a string, by the string's
# UTF-8 length (< _SHORT_STRING): the field's tag and length, the key, the value's tag
# and length, the string's tag and length; the string's bytes follow
_string_heads: dict[str, list[bytes]] = {}
_scalar_fields: dict[tuple[str, type, Any], bytes] = {}  # bool and int attributes


def _remember(cache: dict[Any, bytes] | dict[Any, list[bytes]], key: Any, value: Any) -> None:
    if len(cache) < _MAX_CACHED:
        cache[key] = value


def _key_field(key: str) -> bytes:
    encoded = _key_fields.get(key)
    if encoded is None:
        encoded = _field(b"\x0a", key.encode())
        _remember(_key_fields, key, encoded)
    return encoded


def _name_field(name: str) -> bytes:
    encoded = _field(b"\x2a", name.encode())
    _remember(_name_fields, name, encoded)
    return encoded


def _string_heads_of(key: str) -> list[bytes]:
    key_field = _key_field(key)
    size = len(key_field)
    heads = [
        _ATTRIBUTE_TAG
        + _varint(size + 4 + n)
        + key_field
        + b"\x12"
        + _BYTE[n + 2]
        + b"\x0a"
        + _BYTE[n]
        for n in range(_SHORT_STRING)
    ]
    _remember(_string_heads, key, heads)
    return heads


_UUID = uuid.UUID


def _uuid_text(value: uuid.UUID) -> str:
    """`str(value)`, in half the time."""
    h = f"{value.int:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _any_value(value: Any) -> bytes:
    """The body of an AnyValue message holding `value`."""
    kind = type(value)
    if kind is str:
        return _field(b"\x0a", value.encode())
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        if -(1 << 63) <= value < (1 << 63):
            return b"\x18" + _varint(value & _INT64_MASK)
        return _field(b"\x0a", str(value).encode())  # past int64: keep it readable
    if kind is float:
        return b"\x21" + _DOUBLE(value)
    if value is None:
        return b""
    if isinstance(value, bool):
        return _any_value(bool(value))
    if isinstance(value, str):
        return _field(b"\x0a", str.encode(value))
    if isinstance(value, int):
        return _any_value(int(value))
    if isinstance(value, float):
        return _any_value(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _field(b"\x3a", bytes(value))
    if isinstance(value, Mapping):
        entries = b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items())
        return _field(b"\x32", entries)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(v)) for v in value))
    return _field(b"\x0a", str(value).encode())


def _key_value(key: str, value: Any) -> bytes:
    """The body of a KeyValue message."""
    return _key_field(key) + _field(b"\x12", _any_value(value))


def _attribute_field(key: str, value: Any) -> bytes:
    """A Span.attributes field (the path of every value but a short str)."""
    kind = type(value)
    if kind is bool or kind is int:
        cache_key = (key, kind, value)
        encoded = _scalar_fields.get(cache_key)
        if encoded is None:
            encoded = _field(_ATTRIBUTE_TAG, _key_value(key, value))
            _remember(_scalar_fields, cache_key, encoded)
        return encoded
    return _field(_ATTRIBUTE_TAG, _key_value(key, value))


def _attribute_fields(tag: bytes, attributes: SpanAttributes) -> bytes:
    """Repeated KeyValue fields under `tag` (resource, events)."""
    items = attributes.items() if isinstance(attributes, Mapping) else attributes
    return b"".join(_field(tag, _key_value(key, value)) for key, value in items)


def _encode_event(event: SpanEvent) -> bytes:
    name, time_ns, attributes = event
    body = (
        b"\x09"
        + _FIXED64(time_ns)
        + _field(b"\x12", name.encode())
        + _attribute_fields(b"\x1a", attributes)
    )
    return _field(_EVENT_TAG, body)


def _encode_status(code: int, message: str | None) -> bytes:
    body = _field(b"\x12", message.encode()) if message else b""
    if code:
        body += b"\x18" + _varint(code)
    return _field(_STATUS_TAG, body)


def _encode_spans(spans: Sequence[SpanRecord], out: list[bytes]) -> None:
    """Append the `ScopeSpans.spans` fields of `spans` to `out` (the hot loop: inlined)."""
    string_heads = _string_heads
    name_fields = _name_fields
    pack_ids = _IDS.pack
    pack_kind_times = _KIND_TIMES.pack
    last_trace_id = last_parent_id = -1
    trace_field = parent_field = b""
    for (
        trace_id,
        span_id,
        parent_id,
        name,
        start_ns,
        end_ns,
        attributes,
        status_code,
        status_message,
        events,
    ) in spans:
        if trace_id != last_trace_id:  # a batch's spans mostly share their trace
            trace_field = _TRACE_ID_TAG + trace_id.to_bytes(16, "big") + _SPAN_ID_TAG
            last_trace_id = trace_id
        parts = [pack_ids(trace_field, span_id)]
        append = parts.append
        if parent_id:
            if parent_id != last_parent_id:
                parent_field = _PARENT_FIELD_TAG + parent_id.to_bytes(8, "big")
                last_parent_id = parent_id
            append(parent_field)
        name_field = name_fields.get(name)
        append(name_field if name_field is not None else _name_field(name))
        append(pack_kind_times(_KIND_INTERNAL_START_TAG, start_ns, _END_TAG, end_ns))

        if type(attributes) is dict or isinstance(attributes, Mapping):
            items: Any = attributes.items()
        else:
            items = attributes
        for key, value in items:
            if type(value) is _UUID:  # the engines' run ids, written as text here
                value = _uuid_text(value)
            if type(value) is str:
                encoded = value.encode()
                size = len(encoded)
                if size < _SHORT_STRING:
                    heads = string_heads.get(key)
                    if heads is None:
                        heads = _string_heads_of(key)
                    append(heads[size] + encoded)
                    continue
            append(_attribute_field(key, value))

        if events:
            for event in events:
                append(_encode_event(event))
        if status_code or status_message:
            append(_encode_status(status_code, status_message))

        body = b"".join(parts)
        size = len(body)
        if size < 0x80:
            out.append(_SPAN_HEADS[size])
        elif size < 0x4000:
            out.append(_LONG_SPAN_HEADS[size & 0x7F] + _BYTE[size >> 7])
        else:
            out.append(_SPAN_TAG + _varint(size))
        out.append(body)


def encode_request(
    spans: Sequence[SpanRecord],
    resource_attributes: Mapping[str, Any],
    scope_name: str,
    scope_version: str,
) -> bytes:
    """A serialized OTLP `ExportTraceServiceRequest` holding `spans`.

    Args:
        spans: the span records, in the order they are to be sent.
        resource_attributes: the resource's attributes (`service.name`, ...).
        scope_name: the instrumentation scope's name ("vibepiper").
        scope_version: the instrumentation scope's version.

    Returns:
        The protobuf bytes: what the pb2 classes would serialize for the same spans.
    """
    scope = _field(b"\x0a", scope_name.encode())
    if scope_version:
        scope += _field(b"\x12", scope_version.encode())
    fields = [_field(b"\x0a", scope)]
    _encode_spans(spans, fields)
    scope_spans = b"".join(fields)
    resource = _attribute_fields(b"\x0a", resource_attributes)
    resource_spans = _field(b"\x0a", resource) + _field(b"\x12", scope_spans)
    return _field(b"\x0a", resource_spans)


# --- OpenTelemetry's HTTP client ---------------------------------------------------------------


def light_exporter_supported() -> bool:
    """Whether the installed OpenTelemetry has what `LightExporter` sends through.

    That is `OTLPSpanExporter._client`, an `opentelemetry.exporter.otlp.common.http.
    _OTLPHTTPClient` whose `export(data: bytes)` compresses, posts and retries
    serialized bytes and answers an `_ExportResult` with a `success` flag. All of it is
    internal to OpenTelemetry: when a release changes it, this answers False and
    callers keep to the SDK's own exporter.
    """
    try:
        from opentelemetry.exporter.otlp.common import http as otlp_http
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        return False
    client_class = getattr(otlp_http, "_OTLPHTTPClient", None)
    result_class = getattr(otlp_http, "_ExportResult", None)
    export = getattr(client_class, "export", None)
    if client_class is None or result_class is None or not callable(export):
        return False
    if "success" not in getattr(result_class, "__dataclass_fields__", {}):
        return False
    init = getattr(OTLPSpanExporter.__init__, "__code__", None)
    if init is None or "_client" not in init.co_names:  # `self._client = ...`
        return False
    try:
        parameters = list(inspect.signature(export).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return (
        len(parameters) >= 2
        and parameters[0].name == "self"
        and parameters[1].kind in positional
        and all(p.default is not inspect.Parameter.empty for p in parameters[2:])
    )


def _env_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        _log.warning("Ignoring %s=%r: not a positive integer; using %d", name, raw, default)
        return default
    return value


def _encodes(record: SpanRecord) -> bool:
    try:
        _encode_spans([record], [])
    except Exception:
        return False
    return True


class _Flush:
    __slots__ = ("done", "ok")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False


class LightExporter:
    """Sends `SpanRecord`s in batches over OTLP/HTTP from a daemon thread.

    Configured like `BatchSpanProcessor` + `OTLPSpanExporter`: batches of
    `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512) spans are sent as soon as they fill, and
    whatever is queued every `OTEL_BSP_SCHEDULE_DELAY` ms (5000); at most
    `OTEL_BSP_MAX_QUEUE_SIZE` (2048) spans wait, past which `add` waits for room (see
    the module docstring). The `OTEL_EXPORTER_OTLP_*` variables are read by the
    `OTLPSpanExporter` made here.

    Args:
        resource_attributes: the attributes of the resource of every span.
        scope_name: the instrumentation scope's name.
        scope_version: the instrumentation scope's version.
        schedule_delay_millis, max_queue_size, max_export_batch_size: override the
            `OTEL_BSP_*` variables.
        max_wait_millis: the longest `add` waits for room in a full queue.

    Raises:
        RuntimeError: the installed OpenTelemetry lacks the HTTP client sent through
            (`light_exporter_supported()` is False).
        ImportError: the OTLP/HTTP exporter is not installed.
    """

    def __init__(
        self,
        resource_attributes: Mapping[str, Any],
        scope_name: str,
        scope_version: str,
        *,
        schedule_delay_millis: float | None = None,
        max_queue_size: int | None = None,
        max_export_batch_size: int | None = None,
        max_wait_millis: float = DEFAULT_MAX_WAIT_MILLIS,
    ) -> None:
        if not light_exporter_supported():
            raise RuntimeError("this OpenTelemetry release has no OTLP/HTTP client to reuse")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        self._exporter: Any = OTLPSpanExporter()
        self._client: Any = self._exporter._client
        limit = getattr(self._exporter, "_max_request_size", 0)
        self._max_request_size = limit if isinstance(limit, int) else 0

        self._resource = dict(resource_attributes)
        self._scope_name = scope_name
        self._scope_version = scope_version
        if schedule_delay_millis is None:
            schedule_delay_millis = _env_number(
                "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SCHEDULE_DELAY_MILLIS
            )
        self._schedule_delay = schedule_delay_millis / 1000
        self._max_queue_size = max_queue_size or _env_number(
            "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE
        )
        batch_size = max_export_batch_size or _env_number(
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_EXPORT_BATCH_SIZE
        )
        self._batch_size = min(batch_size, self._max_queue_size)
        self._max_wait = max_wait_millis / 1000
        self._dropped = 0
        self._closing = False
        self._start()
        if hasattr(os, "register_at_fork"):
            this = weakref.ref(self)

            def restart_in_child() -> None:
                exporter = this()
                if exporter is not None and not exporter._closing:
                    exporter._start()

            os.register_at_fork(after_in_child=restart_in_child)

    def _start(self) -> None:
        # a deque: appends (callers) and pops (the thread) are atomic without a lock
        self._queue: deque[SpanRecord] = deque()
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # the thread took spans off the queue
        self._wake = threading.Event()  # a batch is full, a flush or shutdown is asked for
        self._flushes: list[_Flush] = []
        self._stalled = False  # a wait for room ran out; no waiting until an export succeeds
        # `add` leaves its fast path once the queue holds a batch less one span
        self._full_at = self._batch_size - 1
        self._thread = threading.Thread(target=self._run, name="vibepiper-otlp-light", daemon=True)
        self._thread.start()

    @property
    def dropped_spans(self) -> int:
        """How many spans `add` dropped: the queue stayed full past `max_wait_millis`,
        or the exporter was shut down."""
        return self._dropped

    def add(self, record: SpanRecord) -> None:
        """Queue an ended span for export (an append; never raises)."""
        queue = self._queue
        if len(queue) < self._full_at:
            queue.append(record)
        else:
            self._add_to_full_batch(record)

    def _add_to_full_batch(self, record: SpanRecord) -> None:
        queue = self._queue
        if len(queue) >= self._max_queue_size and not self._wait_for_room():
            return
        queue.append(record)
        if not self._wake.is_set():
            self._wake.set()

    def _wait_for_room(self) -> bool:
        """Wait (bounded) until the thread takes spans off the full queue; False: drop."""
        queue = self._queue
        with self._room:
            if self._stalled or self._closing:
                self._dropped += 1
                return False
            self._wake.set()
            deadline = time.monotonic() + self._max_wait
            while len(queue) >= self._max_queue_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    if not self._closing:
                        self._stalled = True
                        _log.warning(
                            "Spans are not being exported fast enough (waited %.1f s for "
                            "the OTLP endpoint): dropping spans until an export succeeds",
                            self._max_wait,
                        )
                    self._dropped += 1
                    return False
                self._room.wait(remaining)
        return True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export every span added so far and wait for it.

        Returns:
            True when they were all sent and accepted within `timeout_millis`; False on
            a timeout or a failed export (the export goes on in the background).
        """
        if self._closing or not self._thread.is_alive():
            return not self._queue
        flush = _Flush()
        with self._lock:
            self._flushes.append(flush)
        self._wake.set()
        if not flush.done.wait(max(timeout_millis, 0) / 1000):
            return False
        return flush.ok

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Export what is queued (waiting at most `timeout_millis`), then stop the
        thread and close the HTTP client; later spans are dropped."""
        with self._room:
            if self._closing:
                return
            self._closing = True
            self._room.notify_all()  # callers waiting for room drop their span
        self._wake.set()
        self._thread.join(max(timeout_millis, 0) / 1000)
        try:
            self._exporter.shutdown()  # also cuts short the retries of a hung export
        except Exception as error:
            _log.debug("Closing the OTLP exporter failed: %s", error)
        if self._dropped:
            _log.warning("%d spans were dropped: the OTLP endpoint was too slow", self._dropped)

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            woken = self._wake.wait(self._schedule_delay)
            self._wake.clear()
            with self._lock:
                flushes, self._flushes = self._flushes, []
                closing = self._closing
            try:
                # a full batch woke us: whole batches; a flush, the timer or shutdown: all
                ok = self._export_queued(everything=closing or bool(flushes) or not woken)
            except Exception as error:  # the thread must live on
                _log.warning("Exporting spans failed: %s", error)
                ok = False
            for flush in flushes:
                flush.ok = ok
                flush.done.set()
            if closing:
                return

    def _export_queued(self, *, everything: bool) -> bool:
        queue = self._queue
        pop = queue.popleft
        batch_size = self._batch_size
        left = len(queue)  # spans added meanwhile wait for the next round
        ok = True
        while True:
            take = min(batch_size, left) if everything else batch_size
            if take == 0 or len(queue) < take:
                return ok
            batch = [pop() for _ in range(take)]
            left -= take
            with self._room:
                self._room.notify_all()
            if self._send(batch):
                if self._stalled:
                    with self._room:
                        self._stalled = False
            else:
                ok = False

    def _send(self, batch: list[SpanRecord]) -> bool:
        try:
            data = encode_request(batch, self._resource, self._scope_name, self._scope_version)
        except Exception as error:  # a malformed record: send the others
            good = [record for record in batch if _encodes(record)]
            _log.warning("Dropping %d malformed spans: %s", len(batch) - len(good), error)
            if good and len(good) < len(batch):
                self._send(good)
            return False
        if 0 < self._max_request_size < len(data) and len(batch) > 1:
            half = len(batch) // 2  # the exporter's size limit: send smaller requests
            return self._send(batch[:half]) & self._send(batch[half:])
        try:
            result = self._client.export(data)
        except Exception as error:
            _log.warning("Exporting %d spans failed: %s", len(batch), error)
            return False
        ok = bool(getattr(result, "success", False))
        if not ok:  # OpenTelemetry's client has logged why
            _log.debug("Exporting %d spans failed", len(batch))
        return ok

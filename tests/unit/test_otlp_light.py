"""Hand-encoded OTLP spans, checked by decoding them with OpenTelemetry's own pb2
classes, and `LightExporter` against a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from vibepiper.telemetry.otlp_light import (
    STATUS_ERROR,
    STATUS_OK,
    LightExporter,
    SpanRecord,
    encode_request,
    light_exporter_supported,
)

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
ROOT_ID = 0x00F067AA0BA902B7
CHILD_ID = 0xB7AD6B7169203331
START = 1_765_000_000_123_456_789
RESOURCE = {"service.name": "vibepiper", "telemetry.sdk.language": "python"}

STACKTRACE = 'Traceback (most recent call last):\n  File "f.py", line 1\nValueError: ünïcode'
ROOT: SpanRecord = (
    TRACE_ID,
    ROOT_ID,
    0,
    "flow résumé ✓",
    START,
    START + 2_500_000,
    {
        "vibepiper.flow_run.id": "0b6e2c1a-7f3e-4c59-9a57-1c1a5d6f0e22",
        "vibepiper.flow.name": "日本語のフロー",
        "empty": "",
        "vibepiper.flow.retries": 3,
        "zero": 0,
        "negative": -42,
        "int64.min": -(2**63),
        "int64.max": 2**63 - 1,
        "ratio": 0.25,
        "negative.float": -1.5e300,
        "vibepiper.cache.hit": True,
        "flag.off": False,
        "vibepiper.tags": ["etl", "nightly", "ünï"],
        "no.tags": [],
    },
    STATUS_ERROR,
    "Failed: boom",
    (
        (
            "exception",
            START + 2_000_000,
            {
                "exception.type": "ValueError",
                "exception.message": "boom ünïcode",
                "exception.stacktrace": STACKTRACE,
            },
        ),
    ),
)
CHILD: SpanRecord = (
    TRACE_ID,
    CHILD_ID,
    ROOT_ID,
    "task extract",
    START + 1_000,
    START + 1_000_000,
    (("vibepiper.task_run.id", "a1"), ("vibepiper.run_count", 1)),  # pairs, not a dict
    STATUS_OK,
    None,
    (),
)


def decode(data: bytes) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(data)


def only_spans(request: ExportTraceServiceRequest) -> list[Span]:
    (resource_spans,) = request.resource_spans
    (scope_spans,) = resource_spans.scope_spans
    return list(scope_spans.spans)


def attributes_of(key_values: Any) -> dict[str, Any]:
    """Attribute values by key, each as (which AnyValue field, value)."""
    decoded: dict[str, Any] = {}
    for key_value in key_values:
        value = key_value.value
        which = value.WhichOneof("value")
        if which == "array_value":
            decoded[key_value.key] = (which, [v.string_value for v in value.array_value.values])
        else:
            decoded[key_value.key] = (which, getattr(value, which))
    return decoded


# --- encode_request ------------------------------------------------------------------------------


def test_every_field_decodes_with_the_pb2_classes() -> None:
    request = decode(encode_request([ROOT, CHILD], RESOURCE, "vibepiper", "1.2.3"))

    (resource_spans,) = request.resource_spans
    assert attributes_of(resource_spans.resource.attributes) == {
        "service.name": ("string_value", "vibepiper"),
        "telemetry.sdk.language": ("string_value", "python"),
    }
    (scope_spans,) = resource_spans.scope_spans
    assert scope_spans.scope.name == "vibepiper"
    assert scope_spans.scope.version == "1.2.3"
    root, child = scope_spans.spans

    assert root.trace_id == bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert root.span_id == bytes.fromhex("00f067aa0ba902b7")
    assert "parent_span_id" not in [field.name for field, _ in root.ListFields()]
    assert root.name == "flow résumé ✓"
    assert root.kind == Span.SpanKind.SPAN_KIND_INTERNAL
    assert root.start_time_unix_nano == START
    assert root.end_time_unix_nano == START + 2_500_000
    assert attributes_of(root.attributes) == {
        "vibepiper.flow_run.id": ("string_value", "0b6e2c1a-7f3e-4c59-9a57-1c1a5d6f0e22"),
        "vibepiper.flow.name": ("string_value", "日本語のフロー"),
        "empty": ("string_value", ""),
        "vibepiper.flow.retries": ("int_value", 3),
        "zero": ("int_value", 0),
        "negative": ("int_value", -42),
        "int64.min": ("int_value", -(2**63)),
        "int64.max": ("int_value", 2**63 - 1),
        "ratio": ("double_value", 0.25),
        "negative.float": ("double_value", -1.5e300),
        "vibepiper.cache.hit": ("bool_value", True),
        "flag.off": ("bool_value", False),
        "vibepiper.tags": ("array_value", ["etl", "nightly", "ünï"]),
        "no.tags": ("array_value", []),
    }
    assert [key_value.key for key_value in root.attributes] == list(ROOT[6])  # order kept
    assert root.status.code == Status.StatusCode.STATUS_CODE_ERROR
    assert root.status.message == "Failed: boom"
    (event,) = root.events
    assert event.name == "exception"
    assert event.time_unix_nano == START + 2_000_000
    assert attributes_of(event.attributes) == {
        "exception.type": ("string_value", "ValueError"),
        "exception.message": ("string_value", "boom ünïcode"),
        "exception.stacktrace": ("string_value", STACKTRACE),
    }

    assert child.trace_id == root.trace_id
    assert child.span_id == bytes.fromhex("b7ad6b7169203331")
    assert child.parent_span_id == root.span_id
    assert child.name == "task extract"
    assert child.kind == Span.SpanKind.SPAN_KIND_INTERNAL
    assert (child.start_time_unix_nano, child.end_time_unix_nano) == (START + 1_000, START + 10**6)
    assert attributes_of(child.attributes) == {
        "vibepiper.task_run.id": ("string_value", "a1"),
        "vibepiper.run_count": ("int_value", 1),
    }
    assert child.status.code == Status.StatusCode.STATUS_CODE_OK
    assert child.status.message == ""
    assert list(child.events) == []


def string_value(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def test_the_bytes_are_what_the_pb2_classes_build() -> None:
    def key_value(key: str, value: AnyValue) -> KeyValue:
        return KeyValue(key=key, value=value)

    expected = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[key_value("service.name", string_value("v"))]),
                scope_spans=[
                    ScopeSpans(
                        scope=InstrumentationScope(name="vibepiper", version="0.1"),
                        spans=[
                            Span(
                                trace_id=TRACE_ID.to_bytes(16, "big"),
                                span_id=CHILD_ID.to_bytes(8, "big"),
                                parent_span_id=ROOT_ID.to_bytes(8, "big"),
                                name="task extract",
                                kind=Span.SpanKind.SPAN_KIND_INTERNAL,
                                start_time_unix_nano=START + 1_000,
                                end_time_unix_nano=START + 1_000_000,
                                attributes=[
                                    key_value("vibepiper.task_run.id", string_value("a1")),
                                    key_value("vibepiper.run_count", AnyValue(int_value=1)),
                                    key_value(
                                        "tags",
                                        AnyValue(
                                            array_value=ArrayValue(values=[string_value("x")])
                                        ),
                                    ),
                                ],
                                status=Status(code=Status.StatusCode.STATUS_CODE_OK),
                            )
                        ],
                    )
                ],
            )
        ]
    )
    record = (*CHILD[:6], {**dict(CHILD[6]), "tags": ["x"]}, *CHILD[7:])
    data = encode_request([record], {"service.name": "v"}, "vibepiper", "0.1")
    assert decode(data) == expected
    assert data == expected.SerializeToString(deterministic=True)


def test_many_spans_and_long_strings_in_one_request() -> None:
    long_names = ["x" * 125, "y" * 126, "z" * 300, "é" * 10_000]  # length varints of 1-3 bytes
    records = [
        (
            TRACE_ID + i % 3,  # a few traces
            i + 1,
            0 if i % 5 == 0 else i,
            f"task t{i}",
            START + i,
            START + 2 * i + 1,
            {
                "vibepiper.task_run.id": f"run-{i}",
                "long": long_names[i % 4],
                "n": -i,
                "k" * 120: "v" * (i % 5),  # a KeyValue of 126 to 130 bytes
                "clé": "✓",
            },
            i % 3,
            "m" * (i % 200) if i % 7 == 0 else None,
            (),
        )
        for i in range(1_000)
    ]
    spans = only_spans(decode(encode_request(records, RESOURCE, "vibepiper", "")))

    assert len(spans) == 1_000
    for i, span in enumerate(spans):
        assert span.trace_id == (TRACE_ID + i % 3).to_bytes(16, "big")
        assert span.span_id == (i + 1).to_bytes(8, "big")
        assert span.parent_span_id == (b"" if i % 5 == 0 else i.to_bytes(8, "big"))
        assert span.name == f"task t{i}"
        assert (span.start_time_unix_nano, span.end_time_unix_nano) == (
            START + i,
            START + 2 * i + 1,
        )
        assert attributes_of(span.attributes) == {
            "vibepiper.task_run.id": ("string_value", f"run-{i}"),
            "long": ("string_value", long_names[i % 4]),
            "n": ("int_value", -i),
            "k" * 120: ("string_value", "v" * (i % 5)),
            "clé": ("string_value", "✓"),
        }
        assert span.status.code == i % 3
        assert span.status.message == ("m" * (i % 200) if i % 7 == 0 else "")


def test_an_empty_request_decodes() -> None:
    request = decode(encode_request([], {}, "vibepiper", "0"))
    assert only_spans(request) == []
    assert request.resource_spans[0].scope_spans[0].scope.name == "vibepiper"


def test_spans_match_what_the_sdk_exports() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("vibepiper", "0.1")
    with tracer.start_as_current_span("flow f", attributes={"vibepiper.tags": ["a", "b"]}):
        for i in range(3):
            with tracer.start_as_current_span(
                f"task t{i}", attributes={"vibepiper.task.retries": i, "ok": i % 2 == 0}
            ) as span:
                span.set_attribute("vibepiper.ratio", i / 3)
    provider.shutdown()
    finished = memory.get_finished_spans()
    records = [
        (
            span.context.trace_id,
            span.context.span_id,
            span.parent.span_id if span.parent is not None else 0,
            span.name,
            span.start_time,
            span.end_time,
            dict(span.attributes or {}),
            0,
            None,
            (),
        )
        for span in finished
        if span.context is not None and span.start_time and span.end_time
    ]

    ours = only_spans(decode(encode_request(records, {}, "vibepiper", "0.1")))
    theirs = only_spans(encode_spans(finished))
    for span in theirs:  # what records do not carry: flags (is-remote bits), an unset status
        span.ClearField("flags")
        span.ClearField("status")
    assert ours == theirs


# --- LightExporter -------------------------------------------------------------------------------


class Receiver:
    """An OTLP/HTTP endpoint on 127.0.0.1 keeping every POST it gets."""

    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {key.lower(): value for key, value in self.headers.items()}
                if delay:
                    time.sleep(delay)
                receiver.posts.append((self.path, headers, body))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests(self) -> list[ExportTraceServiceRequest]:
        decoded = []
        for _, headers, body in list(self.posts):
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            decoded.append(decode(body))
        return decoded

    def spans(self) -> list[Span]:
        return [span for request in self.requests() for span in only_spans(request)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**options: Any) -> Receiver:
        made.append(Receiver(**options))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def exporters() -> Iterator[Callable[..., LightExporter]]:
    """LightExporters made after the environment is set; all shut down at the end."""
    made: list[LightExporter] = []

    def make(**options: Any) -> LightExporter:
        made.append(LightExporter(RESOURCE, "vibepiper", "9.9", **options))
        return made[-1]

    yield make
    for exporter in made:
        exporter.shutdown(timeout_millis=1_000)


def record(i: int) -> SpanRecord:
    return (
        TRACE_ID,
        i + 1,
        ROOT_ID,
        "task t",
        START + i,
        START + i + 10,
        {"vibepiper.task_run.id": f"run-{i}"},
        0,
        None,
        (),
    )


def span_numbers(spans: list[Span]) -> list[int]:
    return [int.from_bytes(span.span_id, "big") - 1 for span in spans]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_the_internal_otel_client_is_there() -> None:
    assert light_exporter_supported()


def test_a_changed_otel_client_is_noticed(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.common import http as otlp_http

    def export(self: Any, data: bytes, timeout: float) -> None: ...

    monkeypatch.setattr(otlp_http._OTLPHTTPClient, "export", export)
    assert not light_exporter_supported()
    with pytest.raises(RuntimeError):
        LightExporter(RESOURCE, "vibepiper", "0")
    monkeypatch.delattr(otlp_http._OTLPHTTPClient, "export")
    assert not light_exporter_supported()


def test_force_flush_delivers_every_span(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret")
    exporter = exporters()
    exporter.add(ROOT)
    for i in range(10):
        exporter.add(record(i))

    assert exporter.force_flush(10_000)

    (request,) = receiver.requests()
    path, headers, _ = receiver.posts[0]
    assert path == "/v1/traces"
    assert headers["content-type"] == "application/x-protobuf"
    assert headers["x-api-key"] == "s3cret"
    assert "content-encoding" not in headers
    (resource_spans,) = request.resource_spans
    assert attributes_of(resource_spans.resource.attributes)["service.name"] == (
        "string_value",
        "vibepiper",
    )
    assert resource_spans.scope_spans[0].scope.version == "9.9"
    root, *tasks = only_spans(request)
    assert root.name == "flow résumé ✓"
    assert root.events[0].name == "exception"
    assert span_numbers(tasks) == list(range(10))
    assert exporter.force_flush(1_000)  # nothing left: a flush with nothing to send
    assert len(receiver.posts) == 1


def test_spans_go_in_batches_of_512(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100000")  # no backpressure here
    exporter = exporters()
    for i in range(1_200):
        exporter.add(record(i))

    assert exporter.force_flush(20_000)

    assert [len(only_spans(request)) for request in receiver.requests()] == [512, 512, 176]
    assert span_numbers(receiver.spans()) == list(range(1_200))


def test_a_full_batch_is_sent_without_a_flush(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4")
    exporter = exporters()  # the schedule: every 5 s
    for i in range(6):
        exporter.add(record(i))

    deadline = time.monotonic() + 4
    while not receiver.posts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [len(only_spans(request)) for request in receiver.requests()] == [4]


def test_queued_spans_are_sent_on_the_schedule(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    exporter = exporters()
    for i in range(3):
        exporter.add(record(i))

    deadline = time.monotonic() + 10
    while len(receiver.spans()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert span_numbers(receiver.spans()) == [0, 1, 2]


def test_gzip_compression(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    exporter = exporters()
    for i in range(50):
        exporter.add(record(i))

    assert exporter.force_flush(10_000)

    (_, headers, body) = receiver.posts[0]
    assert headers["content-encoding"] == "gzip"
    assert body[:2] == b"\x1f\x8b"
    assert span_numbers(receiver.spans()) == list(range(50))


def test_backpressure_loses_no_span(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers(delay=0.005)  # a collector slower than the spans come
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    otel_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "16")
    otel_env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8")
    exporter = exporters(max_wait_millis=30_000)
    adders = [
        threading.Thread(target=lambda k=k: [exporter.add(record(k * 200 + i)) for i in range(200)])
        for k in range(2)
    ]
    for adder in adders:
        adder.start()
    for adder in adders:
        adder.join()

    assert exporter.force_flush(30_000)

    assert exporter.dropped_spans == 0
    assert sorted(span_numbers(receiver.spans())) == list(range(400))
    assert max(len(only_spans(request)) for request in receiver.requests()) <= 8


def test_a_dead_endpoint_neither_raises_nor_hangs(
    otel_env: pytest.MonkeyPatch, exporters: Callable[..., LightExporter]
) -> None:
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    otel_env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4")
    otel_env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2")
    exporter = exporters(max_wait_millis=300)
    started = time.monotonic()
    for i in range(100):  # the queue fills: one bounded wait, then spans are dropped
        exporter.add(record(i))
    assert time.monotonic() - started < 5
    assert exporter.dropped_spans > 0

    started = time.monotonic()
    assert not exporter.force_flush(300)
    assert time.monotonic() - started < 2

    started = time.monotonic()
    exporter.shutdown(timeout_millis=300)
    assert time.monotonic() - started < 2
    exporter.add(record(0))  # after shutdown: dropped, quietly
    assert not exporter.force_flush(100)


def test_a_refused_export_makes_force_flush_false(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers(status=400)
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    exporter = exporters()
    exporter.add(record(0))

    assert not exporter.force_flush(10_000)

    assert len(receiver.posts) == 1
    exporter.add(record(1))  # the exporter goes on
    assert not exporter.force_flush(10_000)
    assert len(receiver.posts) == 2


def test_shutdown_sends_what_is_queued(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    exporter = exporters()
    for i in range(5):
        exporter.add(record(i))

    exporter.shutdown(timeout_millis=10_000)

    assert span_numbers(receiver.spans()) == list(range(5))


def test_a_malformed_record_costs_only_itself(
    otel_env: pytest.MonkeyPatch,
    receivers: Callable[..., Receiver],
    exporters: Callable[..., LightExporter],
) -> None:
    receiver = receivers()
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    exporter = exporters()
    exporter.add(record(0))
    exporter.add((*record(1)[:3], None, *record(1)[4:]))  # type: ignore[arg-type]
    exporter.add(record(2))

    assert not exporter.force_flush(10_000)

    assert span_numbers(receiver.spans()) == [0, 2]

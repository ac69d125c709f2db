"""Flow scripts export their spans over OTLP/HTTP to a receiver started by the test."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.client.conftest import Server
from tests.e2e.workers_support import deploy, pool_name, workers
from vibepiper.client._client import SyncVibePiperClient

pytestmark = pytest.mark.slow

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int
    status_message: str
    service_name: str
    events: list[str] = field(default_factory=list)


@dataclass
class Receiver:
    url: str
    spans: list[Span] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.05)
        with self.lock:
            return list(self.spans)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _decode(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    Span(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        status_code=span.status.code,
                        status_message=span.status.message,
                        service_name=str(resource.get("service.name")),
                        events=[event.name for event in span.events],
                    )
                )
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces with a protobuf body."""
    found = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_response(404)
                self.end_headers()
                return
            spans = _decode(body)
            with found.lock:
                found.spans.extend(spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def run_script(
    tmp_path: Path, source: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "TRACEPARENT"
    }
    full_env.update(env)
    done = subprocess.run(
        [sys.executable, str(script)],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


FLOW_SCRIPT = """
    import json
    from vibepiper import flow, task

    @task
    def double(x):
        return 2 * x

    @task(retries=1, retry_delay_seconds=0)
    def fails():
        raise RuntimeError("no luck")

    @flow
    def child(x):
        return double(x)

    @flow(name="parent")
    def parent():
        fails(return_state=True)
        return double.submit(1).result() + child(2)

    state = parent(return_state=True)
    print(json.dumps({"flow_run_id": str(state.state_details.flow_run_id)}))
"""


def test_spans_arrive_over_otlp_http(tmp_path: Path, receiver: Receiver) -> None:
    done = run_script(
        tmp_path,
        FLOW_SCRIPT,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "etl-tests"},
    )
    flow_run_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]
    spans = receiver.wait_for(5)
    assert sorted(s.name for s in spans) == [
        "flow child",
        "flow parent",
        "task double",
        "task double",
        "task fails",
    ]
    assert {s.service_name for s in spans} == {"etl-tests"}
    assert len({s.trace_id for s in spans}) == 1
    root = next(s for s in spans if s.name == "flow parent")
    sub = next(s for s in spans if s.name == "flow child")
    assert root.parent_span_id == ""
    assert root.attributes["vibepiper.flow_run.id"] == flow_run_id
    assert root.attributes["vibepiper.state.type"] == "COMPLETED"
    assert sub.parent_span_id == root.span_id
    doubles = {s.attributes["vibepiper.flow_run.id"]: s for s in spans if s.name == "task double"}
    assert doubles[flow_run_id].parent_span_id == root.span_id
    assert doubles[sub.attributes["vibepiper.flow_run.id"]].parent_span_id == sub.span_id
    failed = next(s for s in spans if s.name == "task fails")
    assert failed.parent_span_id == root.span_id
    assert failed.status_code == 2  # STATUS_CODE_ERROR
    assert "no luck" in failed.status_message
    assert failed.attributes["vibepiper.run_count"] == 2
    assert failed.attributes["vibepiper.task.retries"] == 1


USER_SPANS_SCRIPT = """
    from opentelemetry import trace
    from vibepiper import flow, task

    tracer = trace.get_tracer("etl-code")

    @task
    def load(rows):
        span = trace.get_current_span()
        span.set_attribute("etl.rows", rows)
        span.add_event("validated")
        with tracer.start_as_current_span("write parquet") as inner:
            inner.set_attribute("etl.bytes", 4096)
        return rows

    @task
    def boom():
        raise ValueError("bad row 7")

    @flow(name="users")
    def users():
        boom(return_state=True)
        return load(3)

    assert users() == 3
    from vibepiper.telemetry import tracing
    print(type(tracing.TRACER).__name__)
"""


@pytest.mark.parametrize(
    ("sampler", "tracer"), [(None, "RunTracer"), ("always_on", "Tracer")], ids=["own", "sdk"]
)
def test_the_code_of_a_task_annotates_its_span_and_opens_spans_under_it(
    tmp_path: Path, receiver: Receiver, sampler: str | None, tracer: str
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
    if sampler is not None:
        env["OTEL_TRACES_SAMPLER"] = sampler
    done = run_script(tmp_path, USER_SPANS_SCRIPT, env)
    # the runs' spans are VibePiper's own, unless a sampler is asked for (the SDK's)
    assert done.stdout.split()[-1] == tracer
    spans = {s.name: s for s in receiver.wait_for(4)}
    assert sorted(spans) == ["flow users", "task boom", "task load", "write parquet"]
    load, inner = spans["task load"], spans["write parquet"]
    assert load.attributes["etl.rows"] == 3
    assert load.events == ["validated"]
    assert inner.parent_span_id == load.span_id
    assert inner.trace_id == load.trace_id == spans["flow users"].trace_id
    assert inner.attributes == {"etl.bytes": 4096}
    boom = spans["task boom"]
    assert boom.status_code == 2 and "bad row 7" in boom.status_message
    assert boom.events == ["exception"]


def test_traceparent_in_the_environment_is_continued(tmp_path: Path, receiver: Receiver) -> None:
    """How a worker's run process joins the trace of whoever started the run."""
    run_script(
        tmp_path,
        """
        from vibepiper import flow, task

        @task
        def step():
            return 1

        @flow
        def adopted():
            return step()

        adopted()
        """,
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "TRACEPARENT": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01",
        },
    )
    spans = receiver.wait_for(2)
    root = next(s for s in spans if s.name == "flow adopted")
    step = next(s for s in spans if s.name == "task step")
    assert {s.trace_id for s in spans} == {TRACE_ID}
    assert root.parent_span_id == PARENT_SPAN_ID
    assert root.service_name == "vibepiper"
    assert step.parent_span_id == root.span_id


def test_import_loads_no_opentelemetry(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import sys
        import vibepiper
        from vibepiper import flow

        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        assert not loaded, loaded

        @flow
        def plain():
            return 1

        plain()  # tracing off: running a flow loads none either
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        assert not loaded, loaded
        print("ok")
        """,
        {"OTEL_SERVICE_NAME": "unused"},
    )
    assert done.stdout.strip().endswith("ok")


def test_dask_task_spans_and_the_spans_inside_them(tmp_path: Path, receiver: Receiver) -> None:
    """A task function on a Dask worker runs under its task run's span."""
    run_script(
        tmp_path,
        """
        from opentelemetry import trace
        from vibepiper import flow, task
        from vibepiper_dask import DaskTaskRunner

        @task
        def work(x):
            with trace.get_tracer("user").start_as_current_span("inside work"):
                return x + 1

        runner = DaskTaskRunner(cluster_kwargs={"n_workers": 1, "processes": False})

        @flow(task_runner=runner)
        def on_dask():
            return [f.result() for f in work.map([1, 2])]

        assert on_dask() == [2, 3]
        """,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url},
    )
    spans = receiver.wait_for(5)
    root = next(s for s in spans if s.name == "flow on-dask")
    works = [s for s in spans if s.name == "task work"]
    insides = [s for s in spans if s.name == "inside work"]
    assert len(works) == 2 and len(insides) == 2
    assert all(s.parent_span_id == root.span_id for s in works)
    assert sorted(s.parent_span_id for s in insides) == sorted(s.span_id for s in works)


def test_ray_task_functions_run_under_their_task_runs_span(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A task function in a Ray worker process runs under its task run's span: a span the
    function opens there (with a provider of that process) is the task span's child."""
    run_script(
        tmp_path,
        """
        from vibepiper import flow, task
        from vibepiper_ray import RayTaskRunner

        @task
        def work(x):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            provider = TracerProvider()  # the Ray worker's own, exporting at once
            provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
            with provider.get_tracer("user").start_as_current_span("inside work"):
                return x + 1

        @flow(task_runner=RayTaskRunner())
        def on_ray():
            return [f.result() for f in work.map([1, 2])]

        assert on_ray() == [2, 3]
        """,
        {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url},
        timeout=180,
    )
    spans = receiver.wait_for(5)
    root = next(s for s in spans if s.name == "flow on-ray")
    works = [s for s in spans if s.name == "task work"]
    insides = [s for s in spans if s.name == "inside work"]
    assert len(works) == 2 and len(insides) == 2
    assert all(s.parent_span_id == root.span_id for s in works)
    assert sorted(s.parent_span_id for s in insides) == sorted(s.span_id for s in works)
    assert {s.trace_id for s in insides} == {root.trace_id}


def test_a_deployment_run_continues_the_trace_of_run_deployment(
    server: Server,
    client: SyncVibePiperClient,
    project: Path,
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    """run_deployment -> the run's job variables -> the worker -> TRACEPARENT -> the run."""
    from opentelemetry.sdk.trace import TracerProvider

    from vibepiper.deployments import run_deployment
    from vibepiper.telemetry import tracing

    pool = pool_name()
    deployment = deploy(client, project, "adder", pool=pool, parameters={"a": 1})
    provider = TracerProvider()
    tracing.configure(provider)
    try:
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        with (
            workers(server, pool, tmp_path, env=env),
            provider.get_tracer("test").start_as_current_span("caller") as caller,
        ):
            run = run_deployment(deployment.id, client=client, timeout=60, poll_interval=0.2)
        assert run.state is not None and run.state.is_completed()
    finally:
        tracing.reset()
    spans = receiver.wait_for(2)
    root = next(s for s in spans if s.name == "flow adder")
    add = next(s for s in spans if s.name == "task add")
    context = caller.get_span_context()
    assert root.trace_id == format(context.trace_id, "032x")
    assert root.parent_span_id == format(context.span_id, "016x")
    assert root.attributes["vibepiper.flow_run.id"] == str(run.id)
    assert root.attributes["vibepiper.deployment.id"] == str(deployment.id)
    assert add.parent_span_id == root.span_id

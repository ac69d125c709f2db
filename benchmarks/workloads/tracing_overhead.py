"""Workload `tracing_overhead`: what OpenTelemetry tracing adds to a task run.

Usage: python tracing_overhead.py [N] [REPS]

One process, one flow of N trivial task runs (default 1,000) in the embedded store,
timed REPS times (default 7) with tracing off, then on (OTEL_EXPORTER_OTLP_ENDPOINT set,
as a user turns it on: spans exported over OTLP/HTTP to a receiver in another process
that answers every POST with 200, flushed before the clock stops), alternating;
reported: the best round of each and the difference per task (issue 21 asks for at most
30 us). Both sides share the process, its imports and its store: the switch is the
tracer the engines check.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECEIVER = """
import http.server, sys

class Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Answer).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["VIBEPIPER_HOME"] = str(Path(tmp) / "home")
            os.environ.pop("VIBEPIPER_API_URL", None)
            result = _measure(n, reps, port)
    finally:
        receiver.terminate()
        receiver.wait()
    from _bench import emit

    emit(**result)


def _measure(n: int, reps: int, port: int) -> dict[str, float | int]:
    from vibepiper import flow, task
    from vibepiper.store import get_store
    from vibepiper.telemetry import tracing

    @task
    def step(i: int) -> int:
        return i

    @flow
    def many() -> None:
        for i in range(n):
            step(i)

    # on as a user turns it on: the endpoint variable, read at the first run
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
    os.environ["OTEL_SERVICE_NAME"] = "bench"
    tracing.reset()
    store = get_store()
    many()  # warm-up: imports, the store, the exporter process
    store.flush()
    tracing.flush()
    on = tracing.TRACER
    assert on is not None, "tracing did not turn on"
    best = {"off": float("inf"), "on": float("inf")}
    for _ in range(reps):
        for mode in ("off", "on"):
            tracing.TRACER = on if mode == "on" else None  # the switch the engines read
            began = time.perf_counter()
            many()
            store.flush()
            if mode == "on":
                tracing.flush()  # the spans' export is part of the cost
            best[mode] = min(best[mode], time.perf_counter() - began)
    return {
        "n": n,
        "reps": reps,
        "tracer": type(on).__name__,
        "off_per_task_us": best["off"] * 1e6 / n,
        "on_per_task_us": best["on"] * 1e6 / n,
        "added_per_task_us": (best["on"] - best["off"]) * 1e6 / n,
    }


if __name__ == "__main__":
    main()

"""Workload `pause_resume`: how soon a paused flow continues after it is resumed.

Usage: python pause_resume.py MODE [N]    (MODE: embedded | server)

One flow pauses N times in a row (`pause_flow_run`, keys pause-1..N). Another thread
watches for each Paused state through the client, then calls `resume_flow_run`;
timed: from just before the resume call to the moment `pause_flow_run` returned in the
flow (so the resume's own request is included). `embedded`: no server, the resume goes
through the in-process API to the SQLite file the flow's process watches; `server`: a
real local server (SQLite), the flow long-polls it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from _server import running_server


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "embedded"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    with tempfile.TemporaryDirectory(prefix="pause-") as tmp, ExitStack() as stack:
        home = Path(tmp)
        os.environ["VIBEPIPER_HOME"] = str(home / "client")
        if mode == "server":
            (home / "server").mkdir()
            os.environ["VIBEPIPER_API_URL"] = stack.enter_context(running_server(home / "server"))
        from vibepiper import flow, pause_flow_run, resume_flow_run
        from vibepiper.client import get_client
        from vibepiper.runtime import flow_run

        continued: list[float] = []
        ids: list[object] = []

        @flow(name="pauses")
        def pauses() -> int:
            ids.append(flow_run.id)
            for _ in range(n):
                pause_flow_run(timeout=120)
                continued.append(time.perf_counter())
            return n

        thread = threading.Thread(target=pauses, daemon=True)
        thread.start()
        latencies: list[float] = []
        with get_client(sync_client=True) as client:
            for i in range(n):
                deadline = time.monotonic() + 60
                while True:
                    if ids:
                        try:
                            run = client.read_flow_run(ids[0])
                        except Exception:
                            run = None
                        if run is not None and run.state_name == "Paused" and len(continued) == i:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"pause {i + 1} never came")
                    time.sleep(0.002)
                asked = time.perf_counter()
                resume_flow_run(ids[0])
                while len(continued) <= i:
                    time.sleep(0.0005)
                latencies.append(continued[i] - asked)
        thread.join(30)
        from _bench import emit

        ordered = sorted(latencies)
        emit(
            mode=mode,
            n=n,
            p50_ms=statistics.median(ordered) * 1000,
            p95_ms=ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000,
            max_ms=ordered[-1] * 1000,
        )


if __name__ == "__main__":
    main()

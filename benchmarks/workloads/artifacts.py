"""Workload `artifacts`: 500 keyed markdown and 500 table artifacts from one flow, over
a real local server (SQLite).

Usage: python artifacts.py [N]

A flow creates N keyed markdown artifacts and N table artifacts (10 rows each) with
`create_markdown_artifact` / `create_table_artifact`, in a fresh process pointed at a
`vibepiper server start` (VIBEPIPER_API_URL). Timed: from the flow's call to the moment
every artifact is on the server (the flow returned and this process's store flushed),
then checked through `POST /api/artifacts/count`. Prefect 3.8.8 pays one HTTP round trip
per artifact (11-21 ms each on this machine); ours ride the run's batched writes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _server import running_server


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory(prefix="artifacts-") as tmp:
        home = Path(tmp)
        (home / "server").mkdir()
        with running_server(home / "server") as url:
            os.environ["VIBEPIPER_API_URL"] = url
            os.environ["VIBEPIPER_HOME"] = str(home / "client")
            import httpx

            from vibepiper import flow
            from vibepiper.artifacts import create_markdown_artifact, create_table_artifact
            from vibepiper.store import get_store

            rows = [{"day": d, "orders": d * 7, "revenue": d * 12.5} for d in range(10)]

            @flow(name="publish-reports")
            def publish() -> None:
                for i in range(n):
                    create_markdown_artifact(f"# Report {i}\n\nAll good.", key=f"report-{i}")
                    create_table_artifact(rows, description=f"table {i}")

            publish()  # warm-up: imports, the flow's first run, the connection
            begun = time.perf_counter()
            publish()
            get_store().flush()
            seconds = time.perf_counter() - begun
            count = httpx.post(f"{url}/artifacts/count", json={}, timeout=30).json()
            from _bench import emit

            emit(n=n, seconds=seconds, per_artifact_ms=seconds * 1000 / (2 * n), stored=count)


if __name__ == "__main__":
    main()

"""Workload `blocks_variables`: round trips of variables and secrets.

Usage: python blocks_variables.py embedded|server [N]

`embedded`: no server; the SDK reaches the embedded store (this process's
VIBEPIPER_HOME) through the in-process API. `server`: a real `vibepiper server start`
on a fresh SQLite home, reached over HTTP (VIBEPIPER_API_URL). After 20 untimed warm-up
calls of each operation (the first loads the in-process API or opens the connection),
each of these is timed N times (default 300), one call at a time:

    Variable.set(name, value, overwrite=True)
    Variable.get(name)
    Secret(value=...).save(name, overwrite=True)
    Secret.load(name).get()

Reports the median and p95 of each, in milliseconds. Reads run in their own loop after
the writes, so they see an unchanged database (what a flow reading its configuration
sees): in process, that is the case the read cache serves.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WARM_UP = 20


def timed(call: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(WARM_UP):
        call()
    samples = []
    for _ in range(n):
        begun = time.perf_counter()
        call()
        samples.append(time.perf_counter() - begun)
    return {
        "median_ms": statistics.median(samples) * 1000,
        "p95_ms": statistics.quantiles(samples, n=20)[18] * 1000,
        "n": n,
    }


def measure(n: int) -> dict[str, Any]:
    from vibepiper.blocks.system import Secret
    from vibepiper.variables import Variable

    value = {"batch_size": 500, "regions": ["eu", "us"]}
    counter = iter(range(10**9))

    def set_variable() -> None:
        Variable.set("bench_config", {**value, "i": next(counter)}, overwrite=True)

    def save_secret() -> None:
        Secret(value=f"s3cret-{next(counter)}").save("bench-secret", overwrite=True)

    results = {
        "variable_set": timed(set_variable, n),
        "secret_save": timed(save_secret, n),
        "variable_get": timed(lambda: Variable.get("bench_config"), n),
        "secret_load_get": timed(lambda: Secret.load("bench-secret").get(), n),
    }
    assert Variable.get("bench_config")["batch_size"] == 500
    assert str(Secret.load("bench-secret").get()).startswith("s3cret-")
    return results


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "embedded"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    if mode == "embedded":
        os.environ.pop("VIBEPIPER_API_URL", None)
        found = measure(n)
    elif mode == "server":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _server import running_server

        with (
            tempfile.TemporaryDirectory(prefix="blocks-server-") as tmp,
            running_server(Path(tmp)) as url,
        ):
            os.environ["VIBEPIPER_API_URL"] = url
            found = measure(n)
    else:
        raise SystemExit(f"usage: {sys.argv[0]} embedded|server [N]")
    from _bench import emit

    emit(mode=mode, **found)


if __name__ == "__main__":
    main()

"""`serve_deployments`: the run loop of `flow.serve()` / `serve(*deployments)`.

A serve process claims the runs of the deployments it registered (no work pool) and
runs each in its own process, like a worker. It stops on SIGINT/SIGTERM (when called
from the main thread) or when `stop` is set: it claims nothing more, cancels the runs
it is running (they end Cancelled and run their `on_cancellation` hooks; a run still
alive after the grace period is killed and marked Cancelled) and returns. A signal
prints "stopping..." at once; with nothing running, the loop is gone within a second
(its claim's long poll is that short).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from vibepiper.workers.base import RunLoop, print_line

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient


def serve_deployments(
    client: SyncVibePiperClient,
    deployment_ids: Sequence[uuid.UUID],
    *,
    limit: int | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the deployments' due runs until stopped (see the module docstring).

    Args:
        client: a client of the server the deployments are registered on; the run
            processes use the same server (and `VIBEPIPER_API_KEY` from the settings).
        deployment_ids: the deployments whose runs this process runs.
        limit: at most this many runs at once (None: no limit).
        stop: set it to stop serving (from another thread).
    """
    from vibepiper.settings import get_settings

    if not deployment_ids:
        raise ValueError("serve_deployments needs at least one deployment id")
    loop = RunLoop(
        client,
        name=f"serve-{socket.gethostname()}-{os.getpid()}",
        api_url=client.api_url,
        api_key=get_settings().api_key,
        deployment_ids=list(deployment_ids),
        limit=limit,
        stop=stop,
        echo=print_line,
    )
    with stop_on_signals(loop.stop):
        loop.run()


@contextmanager
def stop_on_signals(
    stop: threading.Event,
    *,
    act: Callable[[], None] | None = None,
    first: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Set `stop` (or call `act`) on SIGINT/SIGTERM while inside, saying "stopping..."
    (or calling `first`) on the first (only the main thread can catch signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if not stop.is_set():
            (first or print_stopping)()
        (act or stop.set)()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def print_stopping() -> None:
    """Write "stopping..." to stderr; safe in a signal handler, which may interrupt a
    `print` in progress (it bypasses Python's buffered streams)."""
    try:
        os.write(sys.stderr.fileno(), b"stopping...\n")
    except (AttributeError, OSError, ValueError):  # no real stderr (captured, closed)
        pass

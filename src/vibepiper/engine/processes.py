"""Worker processes that run task functions for the ProcessPoolTaskRunner.

Each worker is `python -m vibepiper.engine._process_child`, fed cloudpickled calls
over its stdin and answering on its stdout with length-prefixed frames. The parent
keeps each task run's orchestration (states, retries, hooks); the child only calls
the function. A call past its timeout kills its worker, which is replaced.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from vibepiper.engine.remote_call import deliver, pack_call
from vibepiper.exceptions import TaskRunTimeoutError

if TYPE_CHECKING:
    from vibepiper.context import TaskRunContext

_HEADER = struct.Struct("!Q")
READY = b"vibepiper-worker-ready"


class TaskRunProcessCrashed(Exception):
    """The process running a task function exited before answering."""


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vibepiper.engine._process_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        # A task's timeout must not pay for interpreter start-up: wait until the
        # worker has imported what it needs before handing it work.
        assert self.process.stdout is not None
        if read_frame(self.process.stdout) != READY:
            code = self.process.poll()
            self.kill()
            raise TaskRunProcessCrashed(f"A task worker process failed to start (exit code {code})")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class ProcessWorkerPool:
    """At most `max_workers` reusable worker processes, started on demand."""

    def __init__(self, max_workers: int) -> None:
        self._max_workers = max_workers
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_workers)
        self._all: set[_Worker] = set()
        self._closed = False

    def _acquire(self) -> _Worker:
        self._slots.acquire()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            worker = _Worker()
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._all.add(worker)
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._lock:
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
                worker.kill()
        self._slots.release()

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout: float | None,
        ctx: TaskRunContext,
    ) -> Any:
        """Run `fn(*args, **kwargs)` in a worker process and return its value."""
        payload = pack_call(fn, args, kwargs, ctx)
        worker = self._acquire()
        healthy = False
        try:
            assert worker.process.stdin is not None and worker.process.stdout is not None
            write_frame(worker.process.stdin, payload)
            answer = _read_with_timeout(worker, timeout)
            healthy = True
        except TimeoutError:
            raise TaskRunTimeoutError(
                f"Task run exceeded timeout of {timeout} second(s); its process was killed"
            ) from None
        except (BrokenPipeError, EOFError, TaskRunProcessCrashed):
            code = worker.process.poll()
            raise TaskRunProcessCrashed(
                f"The process running task run {ctx.task_run.name!r} exited unexpectedly"
                f" (exit code {code})"
            ) from None
        finally:
            self._release(worker, healthy)
        return deliver(answer)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.kill()


def _read_with_timeout(worker: _Worker, timeout: float | None) -> bytes:
    stdout = worker.process.stdout
    assert stdout is not None
    box: dict[str, bytes | None] = {}
    if timeout is None:
        data = read_frame(stdout)
    else:
        reader = threading.Thread(target=lambda: box.update(data=read_frame(stdout)), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            worker.kill()
            raise TimeoutError
        data = box.get("data")
    if data is None:
        raise TaskRunProcessCrashed
    return data

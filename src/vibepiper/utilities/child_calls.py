"""The child side of calls made in a separate process: `python -m vibepiper.utilities.child_calls`.

The server runs CPU-bound pure-Python work (schedule arithmetic) in a child process
rather than on a thread: a thread would hold the GIL for most of its run, and every
time the event loop's thread gave the GIL up (each socket read or write) it would wait
for it again, so requests slowed down by tens of milliseconds each. A child also can
be killed when it runs past its budget, whatever it is doing.

Protocol: the parent writes pickled `(function, args, kwargs)` messages to the child's
stdin and reads a pickled `(ok, value_or_exception)` answer from its stdout, one call at
a time, framed by `multiprocessing.connection.Connection`. The function is pickled by
reference, so it must be a module-level function the child can import. The child exits
when its stdin closes (its parent ended or closed it).
"""

from __future__ import annotations

import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any


def preload(*modules: str) -> None:
    """Import `modules` now (a warm-up call)."""
    import importlib

    for module in modules:
        importlib.import_module(module)


def serve(requests: Connection, answers: Connection) -> None:
    """Answer calls until `requests` closes."""
    while True:
        try:
            function, args, kwargs = requests.recv()
        except (EOFError, OSError):
            return
        try:
            answer: tuple[bool, Any] = (True, function(*args, **kwargs))
        except Exception as error:
            answer = (False, error)
        answers.send(answer)


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when this
    # child stops (it closes stdin), so an interrupt here would only print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = Connection(os.dup(sys.stdin.fileno()), writable=False)
    answers = Connection(os.dup(sys.stdout.fileno()), readable=False)
    # nothing else may write to the answer pipe: stray prints go to stderr
    sys.stdout = sys.stderr
    serve(requests, answers)


if __name__ == "__main__":
    main()

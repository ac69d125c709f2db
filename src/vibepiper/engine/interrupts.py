"""One line, not a traceback, when Ctrl-C ends a script's flow run.

The engine records the interrupted run (Crashed, or Cancelled for an async flow whose
coroutine `asyncio.run` cancelled) and re-raises the KeyboardInterrupt, so a script may
still catch it. Left uncaught, Python would print its traceback through every frame of
the engine; `note_interrupted` marks the exception with the run's name and state and
installs, once and chained to the hook before it, an excepthook that prints

    Interrupted: flow run 'eager-heron' is Crashed

for a KeyboardInterrupt so marked (or whose cause or context is). Every other
exception goes to the previous hook. Python then ends the process as for any unhandled
Ctrl-C: killed by SIGINT, which a shell reports as status 130.
"""

from __future__ import annotations

import sys
from types import TracebackType

from vibepiper.exceptions import PausedRun

_MARK = "__vibepiper_interrupted__"
_CHAIN_DEPTH = 5


def note_interrupted(
    exc: BaseException, flow_run_name: str, state_name: str, line: str | None = None
) -> None:
    """Mark `exc` as the interrupt that ended top-level flow run `flow_run_name` (or, with
    `line`, the PausedRun of a suspended one: uncaught, it prints `line`)."""
    try:
        setattr(exc, _MARK, line or f"Interrupted: flow run {flow_run_name!r} is {state_name}")
    except AttributeError:  # pragma: no cover - exceptions take attributes
        return
    if getattr(sys.excepthook, _MARK, False):
        return
    previous = sys.excepthook

    def excepthook(
        kind: type[BaseException], value: BaseException, traceback: TracebackType | None
    ) -> None:
        line = _line(value) if isinstance(value, (KeyboardInterrupt, PausedRun)) else None
        if line is None:
            previous(kind, value, traceback)
            return
        print(line, file=sys.stderr, flush=True)
        if isinstance(value, PausedRun):
            return
        # uncaught: the process is stopping, so the store does not wait long at exit (a
        # script that catches the interrupt and goes on never gets here)
        from vibepiper.store.registry import mark_signal_exit

        mark_signal_exit()

    setattr(excepthook, _MARK, True)
    sys.excepthook = excepthook


def _line(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return None
        line = getattr(seen, _MARK, None)
        if isinstance(line, str):
            return line
        seen = seen.__cause__ or seen.__context__
    return None

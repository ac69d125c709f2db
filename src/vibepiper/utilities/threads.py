"""Stopping CPU-bound Python code that will not stop by itself.

A thread cannot be killed, but an exception can be raised inside it: it takes effect at
the thread's next Python bytecode, so a pure-Python loop (dateutil walking an rrule, a
user's busy task) ends promptly. The engine uses this for task timeouts and the server
for schedule arithmetic that runs past its budget.
"""

from __future__ import annotations

import ctypes


def raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> bool:
    """Raise `exc_type` inside the thread `thread_id` at its next Python bytecode."""
    done: int = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )
    if done > 1:  # more than one thread touched: undo
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return False
    return done == 1

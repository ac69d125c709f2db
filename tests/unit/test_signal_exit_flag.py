"""Only a process that is really stopping on a signal makes its store stop waiting.

A Ctrl-C that a script (or a test) catches around a flow call must not leave the process
believing it is exiting: its later flushes would no longer wait for the server.
"""

from __future__ import annotations

import pytest

from vibepiper import flow
from vibepiper.store.registry import exiting_on_signal


@flow
def interrupted() -> None:
    raise KeyboardInterrupt


def test_a_caught_keyboard_interrupt_does_not_mark_the_process_as_exiting() -> None:
    assert not exiting_on_signal()
    with pytest.raises(KeyboardInterrupt):
        interrupted()
    assert not exiting_on_signal()

"""Which proposed state a run may move to, given the state it is in.

Pure functions over states: no I/O, no clock beyond the states' own timestamps.
The embedded store and the server both call `propose` before persisting a state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vibepiper.states import TERMINAL_STATE_TYPES, State, StateType

# States a run may enter from a terminal state: an explicit retry or re-run.
_RERUN_TYPES = frozenset({StateType.SCHEDULED, StateType.PENDING})


@dataclass(slots=True, frozen=True)
class Decision:
    """The outcome of a proposal: the state to persist (or keep) and why."""

    accepted: bool
    state: State[Any]
    reason: str | None = None


def propose(current: State[Any] | None, proposed: State[Any], *, force: bool = False) -> Decision:
    """Decide whether a run in `current` may move to `proposed`.

    Rules:
    - `force` accepts anything (used when an operator sets a state by hand).
    - a run with no state yet accepts anything;
    - a terminal run (Completed, Failed, Cancelled, Crashed) stays terminal unless a
      retry or re-run is proposed (a Scheduled or Pending state);
    - a Cancelling run may only finish (any terminal state); it never runs again;
    - a Paused run may resume (Running) or end; anything else proceeds.
    """
    if force or current is None:
        return Decision(True, proposed)
    current_type = current.type
    if current_type in TERMINAL_STATE_TYPES:
        if proposed.type in _RERUN_TYPES:
            return Decision(True, proposed)
        return Decision(
            False,
            current,
            f"run is already {current.name}; a terminal state only leaves for a retry",
        )
    if current_type is StateType.CANCELLING:
        if proposed.type in TERMINAL_STATE_TYPES:
            return Decision(True, proposed)
        return Decision(False, current, "run is being cancelled")
    return Decision(True, proposed)

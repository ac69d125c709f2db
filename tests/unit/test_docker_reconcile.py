"""What a docker worker does with a pool container whose run it does not hold."""

from __future__ import annotations

import pytest

from vibepiper.workers.docker.reconcile import SETTLE_SECONDS, leftover_action

LONG_AGO = SETTLE_SECONDS + 1


@pytest.mark.parametrize(
    ("running", "run_final", "final_for", "auto_remove", "role", "expected"),
    [
        # the run goes on: another worker holds it, or the crash detector ends it soon
        (True, False, 0.0, True, "run", "keep"),
        (False, False, 0.0, True, "run", "keep"),
        # the run ended a while ago (crashed when its worker died): stop, then remove
        (True, True, LONG_AGO, False, "run", "stop-remove"),
        # ... but not while its own worker may still be settling it
        (True, True, 1.0, False, "run", "keep"),
        # the run was deleted: nothing will settle it
        (True, None, 0.0, False, "run", "stop-remove"),
        # ended containers: removed when the job asked for it, kept to look into otherwise
        (False, True, LONG_AGO, True, "run", "remove"),
        (False, True, LONG_AGO, False, "run", "keep"),
        (False, None, 0.0, False, "run", "keep"),
        # hooks containers: left to finish, removed once ended
        (True, True, LONG_AGO, False, "hooks", "keep"),
        (False, True, LONG_AGO, False, "hooks", "remove"),
    ],
)
def test_leftover_action(
    running: bool,
    run_final: bool | None,
    final_for: float,
    auto_remove: bool,
    role: str,
    expected: str,
) -> None:
    action = leftover_action(
        running=running,
        run_final=run_final,
        final_for=final_for,
        auto_remove=auto_remove,
        role=role,
    )
    assert action == expected

"""Containers a dead worker left behind.

A run process dies with its worker; a container does not. When a docker worker is
killed, its containers go on running and its runs keep their states until the server's
crash detector, missing the worker's heartbeats, ends them Crashed. Every docker worker
of the pool then looks at the pool's containers (found by their `io.vibepiper.work-pool`
label) when it starts and every `RECONCILE_SECONDS`: a container whose run has ended,
or no longer exists, is stopped and removed. A container of a run still going that this
worker does not hold is left alone: another live worker holds it, or the crash detector
is about to end it (then the next pass removes it). What is decided depends on the run's
state and on what this worker holds, never on worker names (a restarted worker usually
has a new one).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from vibepiper.workers.docker.config import (
    LABEL_AUTO_REMOVE,
    LABEL_FLOW_RUN_ID,
    LABEL_ROLE,
    LABEL_WORK_POOL,
)

if TYPE_CHECKING:
    from vibepiper.client._client import SyncVibePiperClient

RECONCILE_SECONDS = 10.0
SETTLE_SECONDS = 10.0
"""A run container still running this long after its run ended is a leftover (until
then its live worker may still be waiting for it to exit and flush its last logs)."""
Action = Literal["keep", "stop-remove", "remove"]


def leftover_action(
    *,
    running: bool,
    run_final: bool | None,
    final_for: float,
    auto_remove: bool,
    role: str,
) -> Action:
    """What to do with one of the pool's containers whose run this worker does not hold.
    `run_final`: whether its run is in a final state (None: the run no longer exists);
    `final_for`: for how many seconds it has been."""
    if run_final is False:
        return "keep"  # another worker's, or about to be ended by the crash detector
    if running:
        if role == "hooks":
            return "keep"  # running the hooks of a crashed run: bounded, it ends by itself
        if run_final is not None and final_for < SETTLE_SECONDS:
            return "keep"  # just ended: its own worker is still settling it
        return "stop-remove"
    if auto_remove or role == "hooks":
        return "remove"
    return "keep"  # ended and kept on purpose (auto_remove is off): for a look inside


def reconcile_pool(
    engine: Any,
    client: SyncVibePiperClient,
    pool: str,
    held: set[uuid.UUID],
    *,
    grace: float,
    echo: Callable[[str], None],
) -> int:
    """One pass over the pool's containers; how many it removed."""
    from vibepiper.exceptions import ObjectNotFound
    from vibepiper.states import TERMINAL_STATE_TYPES

    removed = 0
    # the engine's own list (not the SDK's, which inspects each container in turn and
    # fails when one is removed meanwhile, as a worker settling its run does)
    for found in engine.api.containers(all=True, filters={"label": f"{LABEL_WORK_POOL}={pool}"}):
        labels = found.get("Labels") or {}
        name = (found.get("Names") or [found["Id"][:12]])[0].lstrip("/")
        try:
            run_id = uuid.UUID(labels.get(LABEL_FLOW_RUN_ID, ""))
        except ValueError:
            continue
        if run_id in held:
            continue
        final_for = 0.0
        try:
            run = client.read_flow_run(run_id)
        except ObjectNotFound:
            run_final, state = None, "deleted"
        else:
            run_final = run.state_type in TERMINAL_STATE_TYPES
            state = run.state_name or "no state"
            if run_final and run.state is not None:
                final_for = (dt.datetime.now(dt.UTC) - run.state.timestamp).total_seconds()
        action = leftover_action(
            running=found.get("State") == "running",
            run_final=run_final,
            final_for=final_for,
            auto_remove=labels.get(LABEL_AUTO_REMOVE) == "true",
            role=labels.get(LABEL_ROLE, "run"),
        )
        if action == "keep":
            continue
        with contextlib.suppress(Exception):  # gone meanwhile: nothing left to do
            if action == "stop-remove":
                engine.api.stop(found["Id"], timeout=max(1, round(grace)))
            engine.api.remove_container(found["Id"], force=True)
            removed += 1
            echo(f"Removed leftover container {name} of flow run {run_id} ({state})")
    return removed


class Reconciler:
    """Runs `reconcile_pool` now and then every `RECONCILE_SECONDS` on a daemon thread."""

    def __init__(
        self,
        engine: Any,
        client: SyncVibePiperClient,
        pool: str,
        held: Callable[[], set[uuid.UUID]],
        *,
        grace: float,
        echo: Callable[[str], None],
    ) -> None:
        self._engine, self._client, self._pool, self._held = engine, client, pool, held
        self._grace = grace
        self._echo = echo
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vibepiper-reconcile", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        reported = False
        while not self._stop.is_set():
            try:
                reconcile_pool(
                    self._engine,
                    self._client,
                    self._pool,
                    self._held(),
                    grace=self._grace,
                    echo=self._echo,
                )
                reported = False
            except Exception as exc:  # the server or engine is away: try at the next pass
                if not reported:
                    self._echo(f"Could not look for leftover containers: {exc}")
                    reported = True
            self._stop.wait(RECONCILE_SECONDS)

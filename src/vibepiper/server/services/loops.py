"""The loops the server runs: scheduler, late runs, crash detector, lease reaper, pause
timeouts, the automations' evaluator and the runner of their actions, the asset
catalogue's projection and the assets' freshness.

All off with `VIBEPIPER_SERVER_SERVICES=false` (tests that need a quiet server).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from vibepiper.server.database import Database
from vibepiper.server.services.asset_catalogue import catalogue_loop
from vibepiper.server.services.asset_freshness import freshness_loop
from vibepiper.server.services.automation_runner import runner_loop
from vibepiper.server.services.crash_detector import crash_detector_loop
from vibepiper.server.services.flow_run_pauses import pause_timeouts_loop
from vibepiper.server.services.late_runs import late_runs_loop
from vibepiper.server.services.lease_reaper import lease_reaper_loop
from vibepiper.server.services.lifecycle_events import readiness_loop
from vibepiper.server.services.scheduler import scheduler_loop
from vibepiper.server.services.triggers import automations_loop
from vibepiper.server.settings import ServerSettings

AUTOMATIONS_INTERVAL = 0.05
"""Seconds between looks for new events and due actions (an event's action starts within
about this long, plus the time to carry it out)."""


def orchestration_loops(
    db: Database, settings: ServerSettings
) -> list[tuple[str, Coroutine[Any, Any, None]]]:
    """(task name, loop) of each service to start; none when services are off."""
    if not settings.server_services:
        return []
    return [
        ("vibepiper-scheduler", scheduler_loop(db, interval=settings.server_scheduler_interval)),
        ("vibepiper-readiness", readiness_loop(db, interval=settings.server_late_runs_interval)),
        (
            "vibepiper-late-runs",
            late_runs_loop(
                db,
                after_seconds=settings.server_late_runs_after_seconds,
                interval=settings.server_late_runs_interval,
            ),
        ),
        (
            "vibepiper-crash-detector",
            crash_detector_loop(
                db,
                timeout=settings.server_run_heartbeat_timeout,
                interval=settings.server_crash_detector_interval,
            ),
        ),
        ("vibepiper-lease-reaper", lease_reaper_loop(db)),
        (
            "vibepiper-pause-timeouts",
            pause_timeouts_loop(db, interval=settings.server_late_runs_interval),
        ),
        ("vibepiper-automations", automations_loop(db, interval=AUTOMATIONS_INTERVAL)),
        ("vibepiper-automation-actions", runner_loop(db, settings, interval=AUTOMATIONS_INTERVAL)),
        ("vibepiper-asset-catalogue", catalogue_loop(db)),
        ("vibepiper-asset-freshness", freshness_loop(db)),
    ]

"""What `concurrency()` and `rate_limit()` do before and after waiting, sync or async."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from vibepiper.concurrency._leases import (
    acquisition,
    lease_seconds_setting,
    notify_released,
    process_holder,
    renewer,
)
from vibepiper.exceptions import ConcurrencySlotAcquisitionError

if TYPE_CHECKING:
    from vibepiper.schemas.concurrency import SlotGrant
    from vibepiper.store.base import RunStore

logger = logging.getLogger("vibepiper.concurrency")


def _run_logger_or(fallback: logging.Logger) -> logging.Logger | logging.LoggerAdapter[Any]:
    """The current run's logger (so the line is stored with the run), else `fallback`."""
    from vibepiper.exceptions import MissingContextError
    from vibepiper.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return fallback


def as_names(names: str | Sequence[str]) -> list[str]:
    listed = [names] if isinstance(names, str) else list(names)
    if not listed:
        raise ValueError("concurrency() needs at least one limit name")
    return listed


def start(
    names: str | Sequence[str],
    occupy: int,
    timeout_seconds: float | None,
    lease_duration: float | None,
    *,
    rate: bool,
    holder: str | None,
    max_retries: int | None = None,
) -> tuple[RunStore, list[str], float, Generator[float, None, SlotGrant]]:
    """The store, names, lease time and the wait for one `concurrency`/`rate_limit` call."""
    from vibepiper.store import get_store

    if occupy < 1:
        raise ValueError(f"occupy must be at least 1, got {occupy}")
    store = get_store()
    listed = as_names(names)
    if rate:
        from vibepiper.orchestration.concurrency import rate_limit_problem

        known = []
        for name in listed:
            try:
                known.append(store.read_concurrency_limit(name))
            except Exception:
                continue
        problem = rate_limit_problem(known)
        if problem:
            raise ConcurrencySlotAcquisitionError(problem)
    seconds = lease_seconds_setting() if lease_duration is None else lease_duration
    steps = acquisition(
        store,
        listed,
        occupy,
        holder or process_holder(),
        seconds,
        timeout_seconds=timeout_seconds,
        max_retries=max_retries,
        decaying=rate,
    )
    return store, listed, seconds, steps


def granted(
    store: RunStore, grant: SlotGrant, strict: bool, lease_seconds: float, *, rate: bool
) -> uuid.UUID | None:
    """Check a grant for missing limits; start renewing a held lease. Returns its id."""
    if grant.missing:
        if strict:
            if grant.lease_id is not None:
                store.release_slots(grant.lease_id)
            raise ConcurrencySlotAcquisitionError(
                f"no concurrency limit named {', '.join(map(repr, grant.missing))} "
                "(strict=True); create it with `vibepiper gcl create NAME --limit N`"
            )
        # Prefect's line, once per call, in the run's log when there is a run
        _run_logger_or(logger).warning(
            "Concurrency limits %r do not exist - skipping acquisition.", list(grant.missing)
        )
    if grant.lease_id is not None and not rate:
        renewer().hold(store, grant.lease_id, lease_seconds)
    return None if rate else grant.lease_id


def release(store: RunStore, lease_id: uuid.UUID | None) -> None:
    if lease_id is None:
        return
    renewer().drop(lease_id)
    store.release_slots(lease_id)
    notify_released()

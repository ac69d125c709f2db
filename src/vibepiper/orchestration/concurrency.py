"""Concurrency slots, decided once: pure functions over limits, leases and a clock.

The embedded store and the server read the limit rows and the leases held on them
inside one transaction, ask `decide_acquire` whether a request fits, and write the
lease rows it names with the expiry `lease_expiry` gives. No I/O happens here; `now`
is always passed in, so the rules are tested with a fake clock.

The model:
- a *lease* holds `occupy` slots on one limit until `expires_at`; a holder renews it
  while it works and deletes it when done. A holder that dies stops renewing, so its
  slots come back when the lease expires: nothing leaks forever.
- a request names several limits and is all or nothing: granted only if every active
  limit has room for `occupy` more slots; inactive and unknown limits are ignored.
- `rate_limit()` takes *decaying* leases, never renewed nor released: on a limit with
  `slot_decay_per_second = d`, the decaying leases drain one after another at `d` slots
  a second, which is Prefect's decaying counter with each grant freed whole when its
  share has drained.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotGrant, SlotLease

__all__ = [
    "SlotDecision",
    "check_limit_values",
    "decide_acquire",
    "decide_renewal",
    "lease_expiry",
    "live_leases",
    "rate_limit_problem",
    "slots_in_use",
]


@dataclass(slots=True, frozen=True)
class SlotDecision:
    """The answer to one request for slots.

    Attributes:
        granted: every active requested limit has room (or none is active).
        take: the active limits to record a lease row on (empty unless granted).
        blocked_by: the first requested limit without room.
        retry_after: seconds until the blocking slots are sure to be free (their leases
            expire; renewed leases may release sooner or later), None if unknown.
        missing: requested names with no limit.
        impossible: `occupy` exceeds a limit: this request can never be granted.
    """

    granted: bool
    take: tuple[ConcurrencyLimit, ...] = ()
    blocked_by: str | None = None
    retry_after: float | None = None
    missing: tuple[str, ...] = ()
    impossible: bool = False

    def without_lease(self) -> SlotGrant:
        """The answer to give when no lease is written (a refusal, or nothing to take)."""
        return SlotGrant(
            self.granted,
            None,
            self.blocked_by,
            self.retry_after,
            self.missing,
            self.impossible,
        )


def live_leases(leases: Iterable[SlotLease], now: dt.datetime) -> list[SlotLease]:
    """The leases that have not expired at `now`."""
    return [lease for lease in leases if lease.expires_at > now]


def slots_in_use(leases: Iterable[SlotLease], now: dt.datetime) -> int:
    """How many slots the live leases among `leases` occupy at `now`."""
    return sum(lease.occupy for lease in leases if lease.expires_at > now)


def decide_acquire(
    limits: Mapping[str, ConcurrencyLimit],
    leases: Mapping[str, Sequence[SlotLease]],
    names: Sequence[str],
    occupy: int,
    now: dt.datetime,
) -> SlotDecision:
    """Whether `occupy` slots on each limit in `names` can be granted at `now`.

    Args:
        limits: the limit rows by name (names absent here do not exist).
        leases: the leases held on each limit by name (expired ones are ignored).
        names: the limits requested; duplicates count once.
        occupy: slots wanted on each of them (at least 1).
        now: the current time (aware UTC).
    """
    if occupy < 1:
        raise ValueError(f"occupy must be at least 1, got {occupy}")
    missing: list[str] = []
    take: list[ConcurrencyLimit] = []
    for name in dict.fromkeys(names):
        limit = limits.get(name)
        if limit is None:
            missing.append(name)
        elif limit.active:
            take.append(limit)
    for limit in take:
        if occupy > limit.limit:
            return SlotDecision(
                False, blocked_by=limit.name, missing=tuple(missing), impossible=True
            )
    for limit in take:
        held = live_leases(leases.get(limit.name, ()), now)
        short = sum(lease.occupy for lease in held) + occupy - limit.limit
        if short > 0:
            return SlotDecision(
                False,
                blocked_by=limit.name,
                retry_after=_seconds_until_freed(held, short, now),
                missing=tuple(missing),
            )
    return SlotDecision(True, take=tuple(take), missing=tuple(missing))


def _seconds_until_freed(held: list[SlotLease], short: int, now: dt.datetime) -> float:
    freed = 0
    for lease in sorted(held, key=lambda lease: lease.expires_at):
        freed += lease.occupy
        if freed >= short:
            return max((lease.expires_at - now).total_seconds(), 0.0)
    return 0.0  # pragma: no cover - short never exceeds what is held


def lease_expiry(
    limit: ConcurrencyLimit,
    leases: Sequence[SlotLease],
    occupy: int,
    now: dt.datetime,
    lease_seconds: float,
    *,
    decaying: bool = False,
) -> dt.datetime:
    """When a lease granted at `now` on `limit` expires.

    A held lease lasts `lease_seconds` (then its holder renews it). A decaying lease
    starts draining when the decaying leases before it have drained, and takes
    `occupy / slot_decay_per_second` seconds.
    """
    if not decaying:
        return now + dt.timedelta(seconds=lease_seconds)
    rate = limit.slot_decay_per_second
    if rate <= 0:
        raise ValueError(rate_limit_problem([limit]) or "no decay")
    queue_end = max(
        (lease.expires_at for lease in leases if lease.decaying and lease.expires_at > now),
        default=now,
    )
    return queue_end + dt.timedelta(seconds=occupy / rate)


def decide_renewal(
    leases: Sequence[SlotLease], now: dt.datetime, lease_seconds: float
) -> dt.datetime | None:
    """The new expiry of a lease (all its rows), or None if it cannot be renewed.

    A lease that is gone or has expired is lost: its slots may already be someone
    else's, so the holder must not extend it. Decaying leases are never renewed.
    """
    if not leases or any(lease.decaying or lease.expires_at <= now for lease in leases):
        return None
    return now + dt.timedelta(seconds=lease_seconds)


def rate_limit_problem(limits: Iterable[ConcurrencyLimit]) -> str | None:
    """Why `rate_limit()` cannot use these limits (None if it can): each needs a decay."""
    without = [limit.name for limit in limits if limit.active and limit.slot_decay_per_second <= 0]
    if not without:
        return None
    names = ", ".join(repr(name) for name in without)
    return (
        f"rate_limit() needs limits with slot_decay_per_second > 0, and {names} has none; "
        "set one (vibepiper gcl update NAME --slot-decay-per-second X) or use concurrency()"
    )


def check_limit_values(limit: int | None, slot_decay_per_second: float | None) -> None:
    """Raise ValueError unless `limit` >= 0 and `slot_decay_per_second` >= 0."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"a concurrency limit must be a whole number >= 0, got {limit!r}")
    if slot_decay_per_second is not None and not slot_decay_per_second >= 0:
        raise ValueError(f"slot_decay_per_second must be >= 0, got {slot_decay_per_second!r}")

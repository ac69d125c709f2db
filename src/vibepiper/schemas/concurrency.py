"""Concurrency limits and the slot leases held on them, as stores return them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

TAG_PREFIX = "tag:"
"""Tag limits share one namespace with global limits: the limit of tag `db` is `tag:db`."""


def tag_limit_name(tag: str) -> str:
    """The name of the concurrency limit on task runs tagged `tag`."""
    return TAG_PREFIX + tag


@dataclass(slots=True, frozen=True)
class ConcurrencyLimit:
    """A limit on how many slots may be held at once.

    Attributes:
        name: `tag:<tag>` for a tag limit, the user's name for a global limit.
        kind: "tag" (task runs carrying the tag) or "global" (`concurrency()`).
        limit: the most slots held at once.
        active: an inactive limit grants every request without recording it.
        slot_decay_per_second: for `rate_limit()`: slots taken free themselves at this
            rate (0: no decay, `rate_limit()` refuses the limit).
    """

    id: uuid.UUID
    name: str
    kind: str
    limit: int
    active: bool = True
    slot_decay_per_second: float = 0.0
    created: dt.datetime | None = None
    updated: dt.datetime | None = None

    @property
    def tag(self) -> str | None:
        """The tag a tag limit applies to (None for a global limit)."""
        return self.name[len(TAG_PREFIX) :] if self.kind == "tag" else None


@dataclass(slots=True, frozen=True)
class SlotLease:
    """Slots one holder occupies on one limit until `expires_at` (unless renewed).

    One acquisition over several limits is one `lease_id` with a `SlotLease` per limit.
    """

    lease_id: uuid.UUID
    limit_name: str
    holder: str
    occupy: int
    expires_at: dt.datetime
    decaying: bool = False
    created: dt.datetime | None = None


@dataclass(slots=True, frozen=True)
class SlotGrant:
    """What a store answered to one non-blocking request for slots.

    Attributes:
        granted: whether the caller may proceed.
        lease_id: the lease now held; None if not granted, or if no requested limit
            was active (nothing to hold).
        blocked_by: the first limit that had no room (None when granted).
        retry_after: seconds after which the blocking slots are sure to have freed
            (their leases expire), or None when it cannot be known.
        missing: requested names with no limit at all (ignored by the grant).
        impossible: the request asks more slots than a limit has: never grantable.
    """

    granted: bool
    lease_id: uuid.UUID | None = None
    blocked_by: str | None = None
    retry_after: float | None = None
    missing: tuple[str, ...] = ()
    impossible: bool = False

"""Wire models of the concurrency endpoints: limits, slot requests and their leases.

The stores' own values (`schemas.concurrency.ConcurrencyLimit`, `SlotLease`,
`SlotGrant`) are frozen dataclasses on the engine's hot path; these are their HTTP
shapes, validated so that a bad value is a 422 naming the field. Limit names share
one namespace: the limit on tag `db` is named `tag:db` (kind "tag").
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from vibepiper.schemas.api import MAX_INT, Count, Name, RequestModel
from vibepiper.schemas.concurrency import TAG_PREFIX, ConcurrencyLimit, SlotGrant, SlotLease

MAX_LEASE_SECONDS = 7 * 24 * 3600.0
"""Longest lease one request may ask for (a week)."""
MAX_WAIT_SECONDS = 30.0
"""Longest a slot request may wait on the server for room (a long-poll)."""
MAX_NAMES = 100
"""Most limits one slot request may name (a task's tags, or `concurrency([...])`)."""

Decay = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
LeaseSeconds = Annotated[float, Field(gt=0, le=MAX_LEASE_SECONDS, allow_inf_nan=False)]
Kind = Literal["tag", "global"]


class ConcurrencyLimitCreate(RequestModel):
    """A new limit; a tag limit's name is `tag:<tag>`."""

    name: Name
    limit: Count = Field(description="The most slots held at once (0 admits nothing).")
    kind: Kind = "global"
    active: bool = Field(default=True, description="An inactive limit grants every request.")
    slot_decay_per_second: Decay = Field(
        default=0.0, description="For rate_limit(): slots free themselves at this rate."
    )

    @field_validator("kind")
    @classmethod
    def _tag_names(cls, kind: str, info: ValidationInfo) -> str:
        name = info.data.get("name")
        if kind == "tag" and isinstance(name, str) and not name.startswith(TAG_PREFIX):
            raise ValueError(f"a tag limit's name must start with {TAG_PREFIX!r}, got {name!r}")
        return kind


class ConcurrencyLimitUpdate(RequestModel):
    """The fields of a limit to change (absent ones stay as they are)."""

    limit: Count | None = None
    active: bool | None = None
    slot_decay_per_second: Decay | None = None


class ConcurrencyLimitRead(BaseModel):
    """A limit as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    limit: int
    active: bool
    slot_decay_per_second: float
    created: dt.datetime | None = None
    updated: dt.datetime | None = None

    @classmethod
    def of(cls, limit: ConcurrencyLimit) -> ConcurrencyLimitRead:
        return cls.model_validate(limit)

    def to_limit(self) -> ConcurrencyLimit:
        return ConcurrencyLimit(
            self.id,
            self.name,
            self.kind,
            self.limit,
            self.active,
            self.slot_decay_per_second,
            self.created,
            self.updated,
        )


class SlotLeaseRead(BaseModel):
    """Slots one holder occupies on one limit until `expires_at`."""

    model_config = ConfigDict(from_attributes=True)

    lease_id: uuid.UUID
    limit_name: str
    holder: str
    occupy: int
    expires_at: dt.datetime
    decaying: bool = False
    created: dt.datetime | None = None

    def to_lease(self) -> SlotLease:
        return SlotLease(
            self.lease_id,
            self.limit_name,
            self.holder,
            self.occupy,
            self.expires_at,
            self.decaying,
            self.created,
        )


class SlotRequest(RequestModel):
    """Body of `POST /concurrency_limits/acquire`: slots on several limits, all or nothing."""

    names: Annotated[list[Name], Field(min_length=1, max_length=MAX_NAMES)]
    occupy: Annotated[int, Field(ge=1, le=MAX_INT)] = 1
    holder: Name = Field(description="Who holds the slots, for `inspect` (host:pid, run id).")
    lease_seconds: LeaseSeconds = Field(
        default=30.0, description="Held slots free themselves this long after the last renewal."
    )
    decaying: bool = Field(
        default=False, description="rate_limit(): a lease that drains and is never renewed."
    )
    wait_seconds: Annotated[float, Field(ge=0, le=MAX_WAIT_SECONDS, allow_inf_nan=False)] = Field(
        default=0.0,
        description="Long-poll: wait up to this long for room before answering a refusal.",
    )


class SlotGrantRead(BaseModel):
    """The answer to a slot request: granted (with the lease to hold) or why not."""

    granted: bool
    lease_id: uuid.UUID | None = None
    blocked_by: str | None = None
    retry_after: float | None = None
    missing: list[str] = Field(default_factory=list)
    impossible: bool = False

    @classmethod
    def of(cls, grant: SlotGrant) -> SlotGrantRead:
        retry = grant.retry_after
        return cls(
            granted=grant.granted,
            lease_id=grant.lease_id,
            blocked_by=grant.blocked_by,
            retry_after=None if retry is None or not math.isfinite(retry) else retry,
            missing=list(grant.missing),
            impossible=grant.impossible,
        )

    def to_grant(self) -> SlotGrant:
        return SlotGrant(
            self.granted,
            self.lease_id,
            self.blocked_by,
            self.retry_after,
            tuple(self.missing),
            self.impossible,
        )


class LeaseRenewal(RequestModel):
    """Body of `POST /concurrency_leases/{lease_id}/renew`."""

    lease_seconds: LeaseSeconds = 30.0


class LeaseRenewed(BaseModel):
    """False: the lease is gone or expired; its slots may be someone else's now."""

    renewed: bool


class LimitReset(BaseModel):
    """How many leases a reset deleted."""

    freed: int

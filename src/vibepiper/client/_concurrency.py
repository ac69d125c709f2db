"""Concurrency limits in the client, async and blocking: Prefect's tag limits
(`create_concurrency_limit(tag, n)`, ...), global limits by name, and slot leases
(acquire, renew, release). The requests are described in `_layer`."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

from vibepiper.client import _compat, _layer
from vibepiper.client.schemas import objects
from vibepiper.schemas import api_concurrency as conc

if TYPE_CHECKING:
    from vibepiper.client._layer import Call, Plan

T = TypeVar("T")


class ConcurrencyLimits:
    """The async methods of concurrency limits and slot leases (mixed into `VibePiperClient`)."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_concurrency_limit(self, tag: str, concurrency_limit: int) -> uuid.UUID:
        """Limit how many task runs tagged `tag` run at once (the limit `tag:<tag>`); when
        it exists, set its size. Its id."""
        return await self._run(_compat.create_tag_limit(tag, concurrency_limit))

    async def read_concurrency_limit_by_tag(self, tag: str) -> objects.ConcurrencyLimit:
        """The limit on `tag`, with the task runs holding its slots (`ObjectNotFound`
        when there is none)."""
        return await self._run(_compat.read_tag_limit(tag))

    async def read_concurrency_limits(
        self, limit: int = 200, offset: int = 0
    ) -> list[objects.ConcurrencyLimit]:
        """A page of the tag limits, by tag."""
        return await self._run(_compat.read_tag_limits(limit, offset))

    async def delete_concurrency_limit_by_tag(self, tag: str) -> None:
        """Delete the limit on `tag` (its slots are freed)."""
        return await self._send(_compat.delete_tag_limit(tag))

    async def reset_concurrency_limit_by_tag(
        self, tag: str, slot_override: list[uuid.UUID | str] | None = None
    ) -> None:
        """Free the slots of the limit on `tag`, but those the task runs in
        `slot_override` hold."""
        return await self._run(_compat.reset_tag_limit(tag, slot_override))

    async def create_limit(self, body: conc.ConcurrencyLimitCreate) -> conc.ConcurrencyLimitRead:
        """Create a limit of any kind (`ApiConflict` when the name is taken)."""
        return await self._send(_layer.create_limit(body))

    async def read_limits(self, kind: str | None = None) -> list[conc.ConcurrencyLimitRead]:
        """Every limit, or those of one kind ("tag" or "global"), by name."""
        return await self._send(_layer.read_limits(kind))

    async def read_concurrency_limit(self, name: str) -> conc.ConcurrencyLimitRead:
        """The limit named `name` (`tag:<tag>` for a tag limit)."""
        return await self._send(_layer.read_concurrency_limit(name))

    async def update_concurrency_limit(
        self, name: str, body: conc.ConcurrencyLimitUpdate
    ) -> conc.ConcurrencyLimitRead:
        return await self._send(_layer.update_concurrency_limit(name, body))

    async def delete_concurrency_limit(self, name: str) -> None:
        return await self._send(_layer.delete_concurrency_limit(name))

    async def reset_concurrency_limit(self, name: str) -> conc.LimitReset:
        """Free every slot of the limit at once."""
        return await self._send(_layer.reset_concurrency_limit(name))

    async def read_slot_leases(self, name: str) -> list[conc.SlotLeaseRead]:
        """The live leases on the limit, oldest first."""
        return await self._send(_layer.read_slot_leases(name))

    async def acquire_slots(self, body: conc.SlotRequest) -> conc.SlotGrantRead:
        """Try once for slots on every limit named (all or nothing); never waits."""
        return await self._send(_layer.acquire_slots(body))

    async def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> conc.LeaseRenewed:
        """Extend a live lease; `renewed` is False once it is gone or expired."""
        return await self._send(_layer.renew_lease(lease_id, lease_seconds))

    async def release_lease(self, lease_id: uuid.UUID) -> None:
        """Give the lease's slots back."""
        return await self._send(_layer.release_lease(lease_id))


class SyncConcurrencyLimits:
    """The blocking twins of `ConcurrencyLimits` (mixed into `SyncVibePiperClient`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_concurrency_limit(self, tag: str, concurrency_limit: int) -> uuid.UUID:
        """Limit how many task runs tagged `tag` run at once (the limit `tag:<tag>`); when
        it exists, set its size. Its id."""
        return self._run(_compat.create_tag_limit(tag, concurrency_limit))

    def read_concurrency_limit_by_tag(self, tag: str) -> objects.ConcurrencyLimit:
        """The limit on `tag`, with the task runs holding its slots (`ObjectNotFound`
        when there is none)."""
        return self._run(_compat.read_tag_limit(tag))

    def read_concurrency_limits(
        self, limit: int = 200, offset: int = 0
    ) -> list[objects.ConcurrencyLimit]:
        """A page of the tag limits, by tag."""
        return self._run(_compat.read_tag_limits(limit, offset))

    def delete_concurrency_limit_by_tag(self, tag: str) -> None:
        """Delete the limit on `tag` (its slots are freed)."""
        return self._send(_compat.delete_tag_limit(tag))

    def reset_concurrency_limit_by_tag(
        self, tag: str, slot_override: list[uuid.UUID | str] | None = None
    ) -> None:
        """Free the slots of the limit on `tag`, but those the task runs in
        `slot_override` hold."""
        return self._run(_compat.reset_tag_limit(tag, slot_override))

    def create_limit(self, body: conc.ConcurrencyLimitCreate) -> conc.ConcurrencyLimitRead:
        """Create a limit of any kind (`ApiConflict` when the name is taken)."""
        return self._send(_layer.create_limit(body))

    def read_limits(self, kind: str | None = None) -> list[conc.ConcurrencyLimitRead]:
        """Every limit, or those of one kind ("tag" or "global"), by name."""
        return self._send(_layer.read_limits(kind))

    def read_concurrency_limit(self, name: str) -> conc.ConcurrencyLimitRead:
        """The limit named `name` (`tag:<tag>` for a tag limit)."""
        return self._send(_layer.read_concurrency_limit(name))

    def update_concurrency_limit(
        self, name: str, body: conc.ConcurrencyLimitUpdate
    ) -> conc.ConcurrencyLimitRead:
        return self._send(_layer.update_concurrency_limit(name, body))

    def delete_concurrency_limit(self, name: str) -> None:
        return self._send(_layer.delete_concurrency_limit(name))

    def reset_concurrency_limit(self, name: str) -> conc.LimitReset:
        """Free every slot of the limit at once."""
        return self._send(_layer.reset_concurrency_limit(name))

    def read_slot_leases(self, name: str) -> list[conc.SlotLeaseRead]:
        """The live leases on the limit, oldest first."""
        return self._send(_layer.read_slot_leases(name))

    def acquire_slots(self, body: conc.SlotRequest) -> conc.SlotGrantRead:
        """Try once for slots on every limit named (all or nothing); never waits."""
        return self._send(_layer.acquire_slots(body))

    def renew_lease(self, lease_id: uuid.UUID, lease_seconds: float) -> conc.LeaseRenewed:
        """Extend a live lease; `renewed` is False once it is gone or expired."""
        return self._send(_layer.renew_lease(lease_id, lease_seconds))

    def release_lease(self, lease_id: uuid.UUID) -> None:
        """Give the lease's slots back."""
        return self._send(_layer.release_lease(lease_id))

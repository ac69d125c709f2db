"""Automations in the client (`/api/automations`), with Prefect's method names, async and
blocking, over one set of call descriptions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from vibepiper.client._layer import Call, _dump, _int, _list, _model, _none
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import automations as wire
from vibepiper.schemas.automation_log import MetricReplay, MetricReplayRequest

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

T = TypeVar("T")
Automation = wire.AutomationRead


def _body(automation: wire.AutomationCore) -> object:
    return automation.model_dump(mode="json", exclude={"id", "created", "updated"})


def create_automation(automation: wire.AutomationCore) -> Call[Automation]:
    return Call("POST", "automations/", _model(Automation), _body(automation))


def read_automation(automation_id: uuid.UUID) -> Call[Automation]:
    return Call("GET", f"automations/{automation_id}", _model(Automation))


def read_automations(query: wire.AutomationFilter | None = None) -> Call[list[Automation]]:
    return Call("POST", "automations/filter", _list(Automation), _dump(query) or {})


def count_automations(query: wire.AutomationFilter | None = None) -> Call[int]:
    return Call("POST", "automations/count", _int, _dump(query) or {})


def update_automation(automation_id: uuid.UUID, automation: wire.AutomationCore) -> Call[None]:
    return Call("PUT", f"automations/{automation_id}", _none, _body(automation))


def set_enabled(automation_id: uuid.UUID, enabled: bool) -> Call[None]:
    return Call("PATCH", f"automations/{automation_id}", _none, {"enabled": enabled})


def delete_automation(automation_id: uuid.UUID) -> Call[None]:
    return Call("DELETE", f"automations/{automation_id}", _none)


def related_to(resource_id: str) -> Call[list[Automation]]:
    path = f"automations/related-to/{quote(resource_id, safe='')}"
    return Call("GET", path, _list(Automation))


def replay(automation_id: uuid.UUID, request: MetricReplayRequest) -> Call[MetricReplay]:
    return Call("POST", f"automations/{automation_id}/replay", _model(MetricReplay), _dump(request))


def delete_owned_by(resource_id: str) -> Call[None]:
    return Call("DELETE", f"automations/owned-by/{quote(resource_id, safe='')}", _none)


def by_name(name: str) -> Call[list[Automation]]:
    criteria = wire.AutomationCriteria(name=wire.AutomationFilterName(any_=[name]))
    return read_automations(
        wire.AutomationFilter(automations=criteria, sort=wire.AutomationSort.CREATED_DESC)
    )


def automation_or_none(automation_id: uuid.UUID) -> Plan[Automation | None]:
    """The automation with that id, None when there is none (Prefect's answer)."""
    try:
        found: Automation = yield read_automation(automation_id)
    except ObjectNotFound:
        return None
    return found


def find_automation(id_or_name: str | uuid.UUID) -> Plan[Automation | None]:
    """By id when `id_or_name` is one (and such an automation exists), else by name: the
    most recently created of that name; None when nothing matches."""
    if isinstance(id_or_name, uuid.UUID):
        return (yield from automation_or_none(id_or_name))
    try:
        automation_id = uuid.UUID(id_or_name)
    except ValueError:
        pass
    else:
        found = yield from automation_or_none(automation_id)
        if found is not None:
            return found
    named: list[Automation] = yield by_name(id_or_name)
    return named[0] if named else None


class Automations:
    """The async automation methods of the client (Prefect's names)."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def create_automation(self, automation: wire.AutomationCore) -> uuid.UUID:
        """Create it; returns its id (`ApiValidationError` names a field it refused)."""
        return (await self._send(create_automation(automation))).id

    async def update_automation(
        self, automation_id: uuid.UUID, automation: wire.AutomationCore
    ) -> None:
        """Replace the whole automation."""
        await self._send(update_automation(automation_id, automation))

    async def read_automations(self) -> list[Automation]:
        return await self._send(read_automations())

    async def read_automation(self, automation_id: uuid.UUID | str) -> Automation | None:
        return await self._run(automation_or_none(uuid.UUID(str(automation_id))))

    async def read_automations_by_name(self, name: str) -> list[Automation]:
        return await self._send(by_name(name))

    async def find_automation(self, id_or_name: str | uuid.UUID) -> Automation | None:
        return await self._run(find_automation(id_or_name))

    async def pause_automation(self, automation_id: uuid.UUID) -> None:
        await self._send(set_enabled(automation_id, False))

    async def resume_automation(self, automation_id: uuid.UUID) -> None:
        await self._send(set_enabled(automation_id, True))

    async def delete_automation(self, automation_id: uuid.UUID) -> None:
        await self._send(delete_automation(automation_id))

    async def read_resource_related_automations(self, resource_id: str) -> list[Automation]:
        return await self._send(related_to(resource_id))

    async def delete_resource_owned_automations(self, resource_id: str) -> None:
        await self._send(delete_owned_by(resource_id))

    async def replay_automation(
        self, automation_id: uuid.UUID, since: dt.datetime, until: dt.datetime | None = None
    ) -> MetricReplay:
        """A metric trigger's dry run over the stored flow runs."""
        request = MetricReplayRequest(since=since, until=until)
        return await self._send(replay(automation_id, request))


class SyncAutomations:
    """The blocking automation methods (the same as `Automations`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def create_automation(self, automation: wire.AutomationCore) -> uuid.UUID:
        """Create it; returns its id (`ApiValidationError` names a field it refused)."""
        return self._send(create_automation(automation)).id

    def update_automation(self, automation_id: uuid.UUID, automation: wire.AutomationCore) -> None:
        """Replace the whole automation."""
        self._send(update_automation(automation_id, automation))

    def read_automations(self) -> list[Automation]:
        return self._send(read_automations())

    def read_automation(self, automation_id: uuid.UUID | str) -> Automation | None:
        return self._run(automation_or_none(uuid.UUID(str(automation_id))))

    def read_automations_by_name(self, name: str) -> list[Automation]:
        return self._send(by_name(name))

    def find_automation(self, id_or_name: str | uuid.UUID) -> Automation | None:
        return self._run(find_automation(id_or_name))

    def pause_automation(self, automation_id: uuid.UUID) -> None:
        self._send(set_enabled(automation_id, False))

    def resume_automation(self, automation_id: uuid.UUID) -> None:
        self._send(set_enabled(automation_id, True))

    def delete_automation(self, automation_id: uuid.UUID) -> None:
        self._send(delete_automation(automation_id))

    def read_resource_related_automations(self, resource_id: str) -> list[Automation]:
        return self._send(related_to(resource_id))

    def delete_resource_owned_automations(self, resource_id: str) -> None:
        self._send(delete_owned_by(resource_id))

    def replay_automation(
        self, automation_id: uuid.UUID, since: dt.datetime, until: dt.datetime | None = None
    ) -> MetricReplay:
        """A metric trigger's dry run over the stored flow runs."""
        return self._send(replay(automation_id, MetricReplayRequest(since=since, until=until)))

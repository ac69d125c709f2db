"""Automations from Python, with Prefect's names (`prefect.automations`):

    from vibepiper.automations import Automation
    from vibepiper.events import EventTrigger, Posture
    from vibepiper.events.actions import CancelFlowRun

    Automation(
        name="cancel-slow-runs",
        trigger=EventTrigger(
            match={"vibepiper.resource.id": "vibepiper.flow-run.*"},
            after={"vibepiper.flow-run.Running"},
            expect={"vibepiper.flow-run.Completed"},
            for_each={"vibepiper.resource.id"},
            posture=Posture.Proactive,
            within=600,
        ),
        actions=[CancelFlowRun()],
    ).create()

Each method works on the server at `VIBEPIPER_API_URL`, or with none on the embedded
store (through the in-process API). In async code each returns a coroutine to await;
`acreate`, `aread`, ... are the async twins.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict

from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas.automations import AutomationCore
from vibepiper.utilities.dispatch import run_sync
from vibepiper.utilities.plans import adrive as _adrive
from vibepiper.utilities.plans import drive as _drive

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

__all__ = ["Automation"]


def _calls() -> Any:
    from vibepiper.client import _automations  # the client is imported when first used

    return _automations


class Automation(AutomationCore):
    """An automation: a trigger and the actions it runs (`id` set once it is saved)."""

    model_config = ConfigDict(validate_assignment=True)

    id: uuid.UUID | None = None

    # --- create and update ------------------------------------------------------------
    def create(self, *, _sync: bool | None = None) -> Automation:
        """Save it on the server; returns it with its `id` set."""
        if not run_sync(_sync):
            return self.acreate()  # type: ignore[return-value]
        return _drive(self._create_plan())

    async def acreate(self) -> Automation:
        return await _adrive(self._create_plan())

    def _create_plan(self) -> Plan[Automation]:
        calls = _calls()
        saved = yield calls.create_automation(self)
        self.id = saved.id
        return self

    def update(self, *, _sync: bool | None = None) -> None:
        """Replace the saved automation with this one (it needs an `id`)."""
        if not run_sync(_sync):
            return self.aupdate()  # type: ignore[return-value]
        _drive(self._update_plan())
        return None

    async def aupdate(self) -> None:
        await _adrive(self._update_plan())

    def _update_plan(self) -> Plan[None]:
        calls = _calls()
        if self.id is None:
            raise ValueError("this automation has no id: create() it first, or read() it")
        yield calls.update_automation(self.id, self)

    # --- read --------------------------------------------------------------------------
    @classmethod
    def read(
        cls,
        id: uuid.UUID | str | None = None,
        name: str | None = None,
        *,
        _sync: bool | None = None,
    ) -> Automation:
        """The automation with that id, or the latest created with that name; ValueError
        when there is none."""
        if not run_sync(_sync):
            return cls.aread(id, name)  # type: ignore[return-value]
        return _drive(cls._read_plan(id, name))

    @classmethod
    async def aread(cls, id: uuid.UUID | str | None = None, name: str | None = None) -> Automation:
        return await _adrive(cls._read_plan(id, name))

    @classmethod
    def _read_plan(cls, id: uuid.UUID | str | None, name: str | None) -> Plan[Automation]:
        calls = _calls()
        if (id is None) == (name is None):
            raise ValueError("give exactly one of id and name")
        if id is not None:
            found = yield from calls.automation_or_none(uuid.UUID(str(id)))
            if found is None:
                raise ValueError(f"automation with id {str(id)!r} not found")
        else:
            named = yield calls.by_name(str(name))
            if not named:
                raise ValueError(f"automation with name {name!r} not found")
            found = named[0]
        return cls.model_validate(found.model_dump(exclude={"created", "updated"}))

    # --- delete, enable, disable -------------------------------------------------------
    def delete(self, *, _sync: bool | None = None) -> bool:
        """Delete it: True, or False when it was not saved (or is gone already)."""
        if not run_sync(_sync):
            return self.adelete()  # type: ignore[return-value]
        deleted: bool = _drive(self._change_plan(_calls().delete_automation))
        return deleted

    async def adelete(self) -> bool:
        deleted: bool = await _adrive(self._change_plan(_calls().delete_automation))
        return deleted

    def disable(self, *, _sync: bool | None = None) -> bool:
        """Turn it off: True, or False when it was not saved (or is gone)."""
        if not run_sync(_sync):
            return self.adisable()  # type: ignore[return-value]
        return self._switched(_drive(self._change_plan(_switch(False))), False)

    async def adisable(self) -> bool:
        return self._switched(await _adrive(self._change_plan(_switch(False))), False)

    def enable(self, *, _sync: bool | None = None) -> bool:
        """Turn it on: True, or False when it was not saved (or is gone)."""
        if not run_sync(_sync):
            return self.aenable()  # type: ignore[return-value]
        return self._switched(_drive(self._change_plan(_switch(True))), True)

    async def aenable(self) -> bool:
        return self._switched(await _adrive(self._change_plan(_switch(True))), True)

    def _switched(self, done: bool, enabled: bool) -> bool:
        if done:
            self.enabled = enabled
        return done

    def _change_plan(self, call: Any) -> Plan[bool]:
        if self.id is None:
            return False
        try:
            yield call(self.id)
        except ObjectNotFound:
            return False
        return True


def _switch(enabled: bool) -> Any:
    return lambda automation_id: _calls().set_enabled(automation_id, enabled)

"""`Automation` (Prefect's `prefect.automations.Automation`) and the client's automation
methods, with no server (in-process API over the embedded store) and against servers
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from vibepiper.automations import Automation
from vibepiper.client.errors import ApiValidationError
from vibepiper.client.orchestration import get_client
from vibepiper.events import EventTrigger, Posture
from vibepiper.events.actions import CancelFlowRun, DoNothing, RunDeployment


def _automation(name: str) -> Automation:
    return Automation(
        name=name,
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            after={"prefect.flow-run.Running"},
            expect={"prefect.flow-run.Completed"},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            within=600,
        ),
        actions=[CancelFlowRun()],
    )


def test_create_read_update_disable_enable_delete(api_target: str | None) -> None:
    name = f"slow-{uuid.uuid4().hex[:8]}"
    created = _automation(name).create()
    assert isinstance(created.id, uuid.UUID)

    by_id = Automation.read(id=created.id)
    by_name = Automation.read(name=name)
    assert by_id.id == by_name.id == created.id
    assert by_id.trigger.model_dump(mode="json")["expect"] == ["vibepiper.flow-run.Completed"]
    assert by_id.trigger.model_dump(mode="json")["within"] == pytest.approx(600)

    by_id.description = "cancel runs stuck for ten minutes"
    by_id.actions = [DoNothing()]
    by_id.update()
    again = Automation.read(id=created.id)
    assert again.description == "cancel runs stuck for ten minutes"
    assert [a.type for a in again.actions] == ["do-nothing"]

    assert again.disable() is True and again.enabled is False
    assert Automation.read(id=created.id).enabled is False
    assert again.enable() is True
    assert Automation.read(id=created.id).enabled is True

    assert again.delete() is True
    assert again.delete() is False
    with pytest.raises(ValueError, match="not found"):
        Automation.read(id=created.id)
    with pytest.raises(ValueError, match="not found"):
        Automation.read(name=f"never-{uuid.uuid4().hex}")


def test_the_async_twins_and_the_clients_methods(api_target: str | None) -> None:
    name = f"async-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        created = await _automation(name).acreate()
        assert (await Automation.aread(name=name)).id == created.id
        assert await created.adisable() is True
        async with get_client() as client:
            found = await client.find_automation(name)
            assert found is not None and found.enabled is False
            assert (await client.find_automation(str(created.id))) is not None
            assert await client.read_automation(uuid.uuid4()) is None
            await client.resume_automation(created.id)
            assert (await client.read_automation(created.id)).enabled is True  # type: ignore[union-attr]
            named = await client.read_automations_by_name(name)
            assert [a.id for a in named] == [created.id]
        assert await created.adelete() is True

    asyncio.run(scenario())


def test_a_refused_automation_names_the_field(api_target: str | None) -> None:
    ghost = uuid.uuid4()
    bad = Automation(
        name="runs-a-ghost",
        trigger=EventTrigger(expect={"orders.loaded"}),
        actions=[RunDeployment(deployment_id=ghost)],
    )
    with pytest.raises(ApiValidationError, match=f"no deployment has id {ghost}"):
        bad.create()
    assert bad.id is None
    with get_client(sync_client=True) as client:
        assert client.find_automation("runs-a-ghost") is None

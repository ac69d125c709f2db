"""Events end to end with no server (embedded store, read through the in-process API)
and with servers on SQLite and PostgreSQL: a flow's state events and `emit_event`, read
back with Prefect's client methods."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from vibepiper import flow, task
from vibepiper.client.orchestration import get_client
from vibepiper.events import emit_event
from vibepiper.schemas.event_filters import (
    EventFilter,
    EventNameFilter,
    EventRelatedFilter,
    EventResourceFilter,
)

ID = "vibepiper.resource.id"


def test_state_events_and_emitted_events_are_read_back(api_target: str | None) -> None:
    tag = f"ev{uuid.uuid4().hex[:8]}"

    @task(tags=[tag])
    def double(x: int) -> int:
        return 2 * x

    @flow(name=f"flow-{tag}")
    def pipeline() -> int:
        emit_event(f"{tag}.started", resource={"prefect.resource.id": f"{tag}.thing"})
        return sum(double(i) for i in range(3))

    state = pipeline(return_state=True)
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        _check_events(client, tag, flow_run_id, state.id)


def _check_events(client: Any, tag: str, flow_run_id: Any, state_id: Any) -> None:
    # the flow run's own events, oldest first, chained by `follows`
    spec = EventFilter(
        resource=EventResourceFilter(id=[f"vibepiper.flow-run.{flow_run_id}"]), order="ASC"
    )
    page = client.read_events(spec)
    names = [event.event for event in page.events]
    assert names == [
        "vibepiper.flow-run.Pending",
        "vibepiper.flow-run.Running",
        "vibepiper.flow-run.Completed",
    ]
    assert page.events[1].follows == page.events[0].id
    assert page.events[-1].id == state_id
    # the task runs' events name the flow run and the tag
    tasks = client.read_events(
        EventFilter(
            event=EventNameFilter(prefix=["vibepiper.task-run."]),
            related=EventRelatedFilter(id=[f"vibepiper.tag.{tag}"]),
        ),
        limit=50,
    )
    assert tasks.total == 9
    assert {e.event for e in tasks.events} == {
        "vibepiper.task-run.Pending",
        "vibepiper.task-run.Running",
        "vibepiper.task-run.Completed",
    }
    assert all(
        e.resource_in_role["flow-run"].id == f"vibepiper.flow-run.{flow_run_id}"
        for e in tasks.events
    )
    # the emitted event, stored with vibepiper. labels, related to the run
    [started] = client.read_events(
        EventFilter(event=EventNameFilter(name=[f"{tag}.started"]))
    ).events
    assert started.resource.root == {ID: f"{tag}.thing"}
    assert started.resource_in_role["flow-run"].id == f"vibepiper.flow-run.{flow_run_id}"
    counts = client.count_events_by(
        "event",
        None,
    )
    assert any(count.value == "vibepiper.task-run.Completed" for count in counts)


def test_paging_and_the_async_client(api_target: str | None) -> None:
    tag = f"pg{uuid.uuid4().hex[:8]}"
    for i in range(7):
        emit_event(f"{tag}.tick", resource={ID: f"{tag}.r"}, payload={"i": i})
    spec = EventFilter(event=EventNameFilter(prefix=[f"{tag}."]))

    async def read_all() -> list[int]:
        async with get_client() as client:
            page = await client.read_events(spec, limit=3)
            seen = [event.payload["i"] for event in page.events]
            while page.next_page:
                page = await client.read_events_page(page.next_page)
                seen.extend(event.payload["i"] for event in page.events)
            return seen

    assert asyncio.run(read_all()) == [6, 5, 4, 3, 2, 1, 0]


def test_reading_events_waits_for_those_this_process_is_still_writing(
    monkeypatch: Any, tmp_path: Any
) -> None:
    """A flow returns once its runs are written, its events a moment later: a client
    reading the embedded store in the same process sees them all the same."""
    import threading

    from vibepiper.client import in_process
    from vibepiper.settings import reload_settings
    from vibepiper.store import embedded, reset_store

    monkeypatch.setenv("VIBEPIPER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VIBEPIPER_API_URL", raising=False)
    reload_settings()
    reset_store()
    with get_client(sync_client=True) as client:  # started before the flow: no delay later
        client.read_events(EventFilter())
    held = threading.Event()
    real_build = embedded.build_events

    def slow_build(*args: Any) -> Any:
        held.wait(0.5)
        return real_build(*args)

    monkeypatch.setattr(embedded, "build_events", slow_build)

    @flow
    def quick() -> int:
        return 1

    try:
        state = quick(return_state=True)
        flow_run_id = state.state_details.flow_run_id
        with get_client(sync_client=True) as client:
            page = client.read_events(
                EventFilter(resource=EventResourceFilter(id=[f"vibepiper.flow-run.{flow_run_id}"]))
            )
        assert len(page.events) == 3
    finally:
        held.set()
        reset_store()
        in_process.shutdown()

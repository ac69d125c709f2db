"""The embedded writer's events: rows of `event` and `event_resource`.

Two kinds reach the writer: the state changes it records anyway (each becomes its
`vibepiper.flow-run.<Name>` / `vibepiper.task-run.<Name>` event, shaped by
`vibepiper.orchestration.state_events`, in the transaction of its state row) and the
events scripts emit (`vibepiper.events.emit_event`), already validated.

A task run's events name its flow run, flow and the flow run's deployment, work queue
and pool: `EventFacts` remembers what the writer saw of each flow run, and reads from
the database, once, what it did not see (a flow run recorded by another process, the
name of a deployment or pool). Everything here runs in the writer thread.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple

from vibepiper.database.codec import encode_json, encode_timestamp
from vibepiper.orchestration.state_events import (
    RelatedSet,
    RunEvents,
    flow_run_related,
    related_set,
)
from vibepiper.orchestration.state_events import task_run_related as _task_related
from vibepiper.schemas.encoded_events import EncodedEvent
from vibepiper.schemas.runs import FlowRun, TaskRun
from vibepiper.states import State

Rows = list[tuple[Any, ...]]

MAX_REMEMBERED = 10_000
"""Flow runs (and subflow task runs) whose facts the writer keeps between batches."""

_ID_LABEL = "vibepiper.resource.id"
_ROLE_LABEL = "vibepiper.resource.role"


class FlowRunFacts(NamedTuple):
    """What the events of a flow run and of its task runs say about it."""

    name: str | None
    flow: tuple[str, str | None] | None
    tags: tuple[str, ...]
    deployment: tuple[str, str | None] | None
    work_queue: tuple[str, str] | None
    work_pool: tuple[str, str, str] | None
    parent_task_run: tuple[str, str | None] | None

    def related(self) -> RelatedSet:
        """The related resources of the flow run's own events."""
        return related_set(
            flow_run_related(
                flow=self.flow or ("", None),
                tags=self.tags,
                deployment=self.deployment,
                work_queue=self.work_queue,
                work_pool=self.work_pool,
                parent_task_run=self.parent_task_run,
            )
        )


_LOOKUP = """
SELECT fr.id, fr.name, fr.flow_id, f.name, fr.tags, fr.deployment_id, d.name,
       wq.id, fr.work_queue_name, wp.id, fr.work_pool_name, wp.type,
       fr.parent_task_run_id, tr.name
FROM flow_run fr
LEFT JOIN flow f ON f.id = fr.flow_id
LEFT JOIN deployment d ON d.id = fr.deployment_id
LEFT JOIN work_pool wp ON wp.name = fr.work_pool_name
LEFT JOIN work_queue wq ON wq.work_pool_id = wp.id AND wq.name = fr.work_queue_name
LEFT JOIN task_run tr ON tr.id = fr.parent_task_run_id
WHERE fr.id IN ({marks})
"""


class EventFacts:
    """The writer's memory of flow runs, for the related resources of their events."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con
        self._flow_runs: dict[str, FlowRunFacts] = {}
        self._subflow_parents: dict[str, str] = {}  # proxy task run id -> its name

    def note_proxy(self, run_id: str, name: str) -> None:
        """A task run standing for a subflow: its name is the subflow run's parent's."""
        self._subflow_parents[run_id] = name
        _bound(self._subflow_parents)

    def of_flow_run(self, run: FlowRun, run_id: str) -> FlowRunFacts:
        """The facts of `run` as this process holds it (the database adds the names of its
        deployment, pool and queue, which the engine does not hold)."""
        known = self._flow_runs.get(run_id)
        placement = None if known is None else known[3:6]
        deployment_id = None if run.deployment_id is None else str(run.deployment_id)
        if deployment_id is not None and (placement is None or placement[0] is None):
            found = self.read([run_id]).get(run_id)
            placement = None if found is None else found[3:6]
        deployment, work_queue, work_pool = placement or (None, None, None)
        if deployment is None and deployment_id is not None:
            deployment = (deployment_id, None)
        parent = None
        if run.parent_task_run_id is not None:
            parent_id = str(run.parent_task_run_id)
            parent = (parent_id, self._subflow_parents.get(parent_id))
        facts = FlowRunFacts(
            run.name,
            (str(run.flow_id), run.flow_name),
            tuple(run.tags),
            deployment,
            work_queue,
            work_pool,
            parent,
        )
        if facts != known:
            self._flow_runs[run_id] = facts
            _bound(self._flow_runs)
        return facts

    def of_flow_run_id(self, run_id: str) -> FlowRunFacts | None:
        """The facts of a flow run seen earlier, or read now (None if it is unknown)."""
        facts = self._flow_runs.get(run_id)
        if facts is None:
            facts = self.read([run_id]).get(run_id)
        return facts

    def read(self, run_ids: list[str]) -> dict[str, FlowRunFacts]:
        """Read the facts of flow runs from the database (outside any transaction)."""
        marks = ",".join("?" * len(run_ids))
        try:
            rows = self._con.execute(_LOOKUP.format(marks=marks), run_ids).fetchall()
        except sqlite3.Error:  # locked, or a foreign file: the events name ids only
            return {}
        found = {}
        for row in rows:
            (run_id, name, flow_id, flow_name, tags, deployment_id, deployment_name) = row[:7]
            queue_id, queue_name, pool_id, pool_name, pool_type, parent_id, parent_name = row[7:]
            facts = FlowRunFacts(
                name,
                (flow_id, flow_name),
                tuple(_tags(tags)),
                None if deployment_id is None else (deployment_id, deployment_name),
                None if queue_id is None else (queue_id, queue_name),
                None if pool_id is None else (pool_id, pool_name, pool_type or ""),
                None if parent_id is None else (parent_id, parent_name),
            )
            found[run_id] = self._flow_runs[run_id] = facts
        _bound(self._flow_runs)
        return found


def _tags(text: str | None) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [tag for tag in value if isinstance(tag, str)] if isinstance(value, list) else []


def _bound(remembered: dict[str, Any]) -> None:
    if len(remembered) > MAX_REMEMBERED:
        for key in list(remembered)[: MAX_REMEMBERED // 2]:
            del remembered[key]


def task_run_related(
    facts: FlowRunFacts | None, run: TaskRun, flow_run_id: str | None
) -> RelatedSet:
    """The related resources of a task run's events: its flow run's (`facts`, None when
    unknown) and its own tags. The task runs of one flow run with the same tags share
    them: the batch builder computes them once per batch for them all."""
    if facts is None:
        flow_run = None if flow_run_id is None else (flow_run_id, None)
        return related_set(_task_related(flow_run=flow_run, flow=None, tags=run.tags))
    assert flow_run_id is not None
    return related_set(
        _task_related(
            flow_run=(flow_run_id, facts.name),
            flow=facts.flow,
            tags=(*run.tags, *facts.tags),
            deployment=facts.deployment,
            work_queue=facts.work_queue,
            work_pool=facts.work_pool,
        )
    )


class StateEventRows:
    """The `event` rows of one batch (`Batch.write` indexes their related resources)."""

    __slots__ = ("_json", "emitted", "events", "subjects")

    def __init__(self) -> None:
        self.events: Rows = []  # state events
        self.emitted: Rows = []  # scripts' events
        self.subjects: Rows = []
        # the JSON of each resource object the batch's emitted events hold, by identity
        # (the events keep them alive for the batch): a materializing flow's events
        # share their run's related resources, encoded once instead of once per event
        self._json: dict[int, str] = {}

    def of_run(
        self,
        run_events: RunEvents,
        related: RelatedSet,
        occurred: str,
        text: Callable[[Any], str],
    ) -> RunEventRows:
        """The writer of one run's state events in this batch; the related resources they
        all share are indexed now, once (`occurred`: the run's first event of the batch;
        `text` gives an id's text)."""
        subject = run_events.resource_id
        self.subjects.extend(
            [(resource_id, role, subject, occurred) for resource_id, role in related.keys]
        )
        return RunEventRows(run_events, related.json, self.events, text)

    def add_emitted(self, event: Any, received: str) -> None:
        """An event a script emitted (a validated `vibepiper.events.Event`), or one the
        engine wrote as text (an `EncodedEvent`)."""
        if type(event) is EncodedEvent:
            self.emitted.append((*event[:7], received, event[7]))
            return
        resource = event.resource
        self.emitted.append(
            (
                str(event.id),
                encode_timestamp(event.occurred),
                event.event,
                resource.root[_ID_LABEL],
                self._encoded(resource),
                "[" + ",".join([self._encoded(item) for item in event.related]) + "]",
                encode_json(event.payload),
                received,
                None if event.follows is None else str(event.follows),
            )
        )

    def _encoded(self, resource: Any) -> str:
        """The JSON of a `Resource` or `RelatedResource` (its labels)."""
        key = id(resource)
        text = self._json.get(key)
        if text is None:
            text = self._json[key] = encode_json(resource.root)
        return text


class RunEventRows:
    """Appends the `event` rows of one run's states (the writer builds thousands a
    second: the parts every event of the run shares are looked up once)."""

    __slots__ = ("_events", "_parts", "_related", "_resource_id", "_text")

    def __init__(
        self, run_events: RunEvents, related: str, events: Rows, text: Callable[[Any], str]
    ) -> None:
        self._parts = run_events.parts
        self._resource_id = run_events.resource_id
        self._related = related
        self._events = events
        self._text = text

    def add(
        self,
        state: State[Any],
        state_id: str,
        timestamp: str,
        run_count: int,
        previous: State[Any] | None,
        received: str,
    ) -> None:
        """The event of entering `state` from `previous`."""
        before = None
        if previous is not None:
            before = (
                self._text(previous.id),
                previous.type._value_,
                previous.name,
                previous.message,
                previous.timestamp,
            )
        event, resource, payload, follows = self._parts(
            state.type._value_,
            state.name,
            state.message,
            timestamp,
            state.timestamp,
            run_count,
            before,
        )
        self._events.append(
            (
                state_id,
                timestamp,
                event,
                self._resource_id,
                resource,
                self._related,
                payload,
                received,
                follows,
            )
        )


def received_now() -> str:
    return encode_timestamp(dt.datetime.now(dt.UTC))

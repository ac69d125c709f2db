"""The event a run's accepted state emits, defined once for every writer.

`vibepiper.flow-run.<StateName>` and `vibepiper.task-run.<StateName>`, shaped as Prefect
shapes them: the run is the resource (its name, run count and the new state's type, name,
message and timestamp as labels), the flow, deployment, work queue and pool, parent task
run and tags are related resources, the payload names the states left and entered, and
the event's id is the state's id, so an event is recorded exactly once, with its state
(the embedded store's writer and the server both record it in the transaction that
records the state). `follows` names the previous state's event when it happened less
than five minutes before.

Both writers build thousands of these a second, so the JSON is written here as text
(strings escaped by the C encoder); nothing is imported but the standard library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _quote
from typing import Literal, NamedTuple

__all__ = [
    "TIGHT_TIMING",
    "PreviousState",
    "Related",
    "RelatedSet",
    "RunEvents",
    "StateEvent",
    "flow_run_related",
    "name_labels",
    "related_json",
    "related_set",
    "task_run_related",
]

TIGHT_TIMING = dt.timedelta(minutes=5)
"""`follows` is set only when the previous event happened within this of the new one."""

TRUNCATE_MESSAGES_AT = 100_000
"""State messages longer than this are cut in events (some carry whole tracebacks)."""

RunKind = Literal["flow-run", "task-run"]


class Related(NamedTuple):
    """A related resource of a run's events: its id, role and other labels (JSON text)."""

    resource_id: str
    role: str
    labels: str


class RelatedSet(NamedTuple):
    """Related resources as an event stores them: the `related` JSON list, and the
    (resource id, role) pairs of its index rows."""

    json: str
    keys: tuple[tuple[str, str], ...]


def related_set(related: Iterable[Related]) -> RelatedSet:
    """The stored form of `related` (each resource with its id and role labels first)."""
    items = []
    keys = []
    for resource_id, role, labels in related:
        items.append(related_json(resource_id, role, labels))
        keys.append((resource_id, role))
    return RelatedSet(f"[{','.join(items)}]", tuple(keys))


def related_json(resource_id: str, role: str, labels: str = "{}") -> str:
    """One related resource as events store it: its id and role labels first, then the
    others (`labels`, a JSON object's text)."""
    head = (
        f'{{"vibepiper.resource.id":{_quote(resource_id)},"vibepiper.resource.role":{_quote(role)}'
    )
    return head + "}" if labels == "{}" else f"{head},{labels[1:]}"


def name_labels(name: str | None, extra: str = "") -> str:
    """The labels (JSON object text) of a resource named `name` (None: unknown), with
    `extra` labels (`,"key":value...` text) after the name."""
    return "{}" if name is None else f'{{"vibepiper.resource.name":{_quote(name)}{extra}}}'


class PreviousState(NamedTuple):
    """The state a run leaves: what its event's payload and `follows` say about it."""

    id: str
    type: str
    name: str
    message: str | None
    timestamp: dt.datetime


class StateEvent(NamedTuple):
    """One state event as text columns; the writer adds the times and related rows."""

    id: str
    event: str
    resource_id: str
    resource: str
    payload: str
    follows: str | None


class RunEvents:
    """The state events of one run: the parts they share are written once."""

    __slots__ = ("_head", "_orchestration", "kind", "resource_id")

    def __init__(self, kind: RunKind, run_id: str, name: str) -> None:
        self.kind = kind
        self.resource_id = f"vibepiper.{kind}.{run_id}"
        self._head = (
            f'{{"vibepiper.resource.id":"{self.resource_id}",'
            f'"vibepiper.resource.name":{_quote(name)},"vibepiper.run-count":"'
        )
        # Prefect marks the events of task runs, which the client orchestrates
        self._orchestration = ',"vibepiper.orchestration":"client"}' if kind == "task-run" else "}"

    def state_event(
        self,
        state_id: str,
        state_type: str,
        state_name: str,
        state_message: str | None,
        timestamp: str,
        occurred: dt.datetime,
        run_count: int,
        previous: PreviousState | None,
    ) -> StateEvent:
        """The event of entering the state; `timestamp` is its ISO text, `occurred` its time."""
        event, resource, payload, follows = self.parts(
            state_type, state_name, state_message, timestamp, occurred, run_count, previous
        )
        return StateEvent(state_id, event, self.resource_id, resource, payload, follows)

    def parts(
        self,
        state_type: str,
        state_name: str,
        state_message: str | None,
        timestamp: str,
        occurred: dt.datetime,
        run_count: int,
        previous: tuple[str, str, str, str | None, dt.datetime] | None,
    ) -> tuple[str, str, str, str | None]:
        """`state_event` as a plain tuple (event, resource, payload, follows), for writers
        that build thousands a second; `previous` is (id, type, name, message, time)."""
        message = _message(state_message)
        name = _NAMES.get(state_name) or _quote(state_name)
        resource = (
            f'{self._head}{run_count}","vibepiper.state-message":{message},'
            f'"vibepiper.state-name":{name},"vibepiper.state-timestamp":"{timestamp}",'
            f'"vibepiper.state-type":"{state_type}"{self._orchestration}'
        )
        event = f"vibepiper.{self.kind}.{state_name}"
        if previous is None:
            return event, resource, _payload(None, state_type, state_name, message), None
        before_id, before_type, before_name, before_message, before_time = previous
        follows = before_id if -TIGHT_TIMING < occurred - before_time < TIGHT_TIMING else None
        initial = (before_type, before_name, _message(before_message))
        return event, resource, _payload(initial, state_type, state_name, message), follows


_NAMES = {name: _quote(name) for name in ("Pending", "Running", "Completed", "Failed", "Cached")}

# Most payloads repeat (Pending -> Running -> Completed, no messages): built once each.
_PAYLOADS: dict[tuple[tuple[str, str, str] | None, str, str, str], str] = {}


def _payload(
    initial: tuple[str, str, str] | None, state_type: str, state_name: str, message: str
) -> str:
    key = (initial, state_type, state_name, message)
    found = _PAYLOADS.get(key)
    if found is not None:
        return found
    validated = _state_payload(state_type, state_name, message)
    if initial is None:
        payload = (
            f'{{"intended":{{"from":null,"to":"{state_type}"}},"initial_state":null,'
            f'"validated_state":{validated}}}'
        )
    else:
        payload = (
            f'{{"intended":{{"from":"{initial[0]}","to":"{state_type}"}},'
            f'"initial_state":{_state_payload(*initial)},"validated_state":{validated}}}'
        )
    plain = message == '""' and (initial is None or initial[2] == '""')
    if plain and len(_PAYLOADS) < 4096:  # messages vary: only message-less ones repeat
        _PAYLOADS[key] = payload
    return payload


def _message(message: str | None) -> str:
    if not message:
        return '""'
    return _quote(message[:TRUNCATE_MESSAGES_AT])


def _state_payload(state_type: str, name: str, message: str) -> str:
    if message == '""':
        return f'{{"type":"{state_type}","name":{_quote(name)}}}'
    return f'{{"type":"{state_type}","name":{_quote(name)},"message":{message}}}'


def _named(kind: str, role: str, object_id: str, name: str | None, extra: str = "") -> Related:
    return Related(f"vibepiper.{kind}.{object_id}", role, name_labels(name, extra))


def _tags(tags: Iterable[str]) -> list[Related]:
    return [Related(f"vibepiper.tag.{tag}", "tag", "{}") for tag in sorted(set(tags))]


def _placement(
    deployment: tuple[str, str | None] | None,
    work_queue: tuple[str, str] | None,
    work_pool: tuple[str, str, str] | None,
) -> list[Related]:
    related = []
    if deployment is not None:
        related.append(_named("deployment", "deployment", *deployment))
    if work_queue is not None:
        related.append(_named("work-queue", "work-queue", *work_queue))
    if work_pool is not None:
        pool_id, name, pool_type = work_pool
        extra = f',"vibepiper.work-pool.type":{_quote(pool_type)}'
        related.append(_named("work-pool", "work-pool", pool_id, name, extra))
    return related


def flow_run_related(
    *,
    flow: tuple[str, str | None],
    tags: Iterable[str] = (),
    deployment: tuple[str, str | None] | None = None,
    work_queue: tuple[str, str] | None = None,
    work_pool: tuple[str, str, str] | None = None,
    parent_task_run: tuple[str, str | None] | None = None,
) -> tuple[Related, ...]:
    """The related resources of a flow run's events: its flow, deployment, work queue and
    pool, the task run it runs under (a subflow's), then its tags (role `tag`).

    Objects are `(id, name)` (a pool `(id, name, type)`); a name may be unknown (None).
    """
    related = [_named("flow", "flow", *flow), *_placement(deployment, work_queue, work_pool)]
    if parent_task_run is not None:
        related.append(_named("task-run", "task-run", *parent_task_run))
    return (*related, *_tags(tags))


def task_run_related(
    *,
    flow_run: tuple[str, str | None] | None,
    flow: tuple[str, str | None] | None,
    tags: Iterable[str] = (),
    deployment: tuple[str, str | None] | None = None,
    work_queue: tuple[str, str] | None = None,
    work_pool: tuple[str, str, str] | None = None,
) -> tuple[Related, ...]:
    """The related resources of a task run's events: its flow run, flow, the flow run's
    deployment, work queue and pool, then the tags of the task run and its flow run."""
    related = []
    if flow_run is not None:
        related.append(_named("flow-run", "flow-run", *flow_run))
    if flow is not None:
        related.append(_named("flow", "flow", *flow))
    related.extend(_placement(deployment, work_queue, work_pool))
    return (*related, *_tags(tags))

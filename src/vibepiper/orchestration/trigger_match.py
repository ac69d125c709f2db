"""Which events an event trigger takes in and how it groups them, and whether an
automation would fire itself: pure functions the server's evaluator and the CLI's dry
run share.

An event is covered by a trigger when its resource matches `match`, every specification
in `match_related` names one of its related resources, and its name is expected (or
`expect` is empty) or is one of `after`. Names are exact or end in `*` (a prefix).

A trigger's patterns are compiled on first use and kept while the trigger lives, so each
later event costs a set lookup and a few prefix tests. Change a trigger by making a new
one (`model_copy(update=...)`) or by assigning its fields; a set changed in place
(`trigger.expect.add(...)`) is not seen.
"""

from __future__ import annotations

import operator
import uuid
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from vibepiper.schemas.automations import (
    ActionTypes,
    AutomationCore,
    CancelFlowRun,
    ChangeFlowRunState,
    CompoundTrigger,
    EventTrigger,
    Posture,
    ResourceSpecification,
    RunDeployment,
    SequenceTrigger,
    SuspendFlowRun,
    TriggerTypes,
)
from vibepiper.schemas.events import Event, ReceivedEvent
from vibepiper.states import StateType

__all__ = [
    "bucket_key",
    "bucket_labels",
    "event_matches",
    "find_feedback_loop",
    "is_after",
    "is_expected",
]

ID = "vibepiper.resource.id"
ROLE = "vibepiper.resource.role"
STATE_LABELS = frozenset({"vibepiper.state-name", "vibepiper.state-type"})


@dataclass(frozen=True, slots=True)
class _Names:
    exact: frozenset[str]
    prefixes: tuple[str, ...]

    def holds(self, name: str) -> bool:
        return name in self.exact or name.startswith(self.prefixes)


def _names(patterns: Collection[str]) -> _Names:
    exact = frozenset(item for item in patterns if not item.endswith("*"))
    prefixes = tuple(sorted({item[:-1] for item in patterns if item.endswith("*")}))
    return _Names(exact, prefixes)


@dataclass(frozen=True, slots=True)
class _Compiled:
    source: tuple[object, ...]
    expect: _Names | None  # None: every name is expected
    after: _Names | None  # None: no name is
    covered: _Names | None  # None: every name is
    match: Callable[[Mapping[str, str]], bool]
    related: tuple[Callable[[Mapping[str, str]], bool], ...]
    for_each: tuple[str, ...]
    paths: tuple[tuple[str | None, str], ...]  # (role or None for the resource, label)


def _path(label: str) -> tuple[str | None, str]:
    # read as Prefect's `find_resource_label`: `related:<role>:<label>`, else the resource's
    directive, _, related_label = label.rpartition(":")
    directive, _, role = directive.partition(":")
    return (role, related_label) if directive == "related" else (None, label)


_compiled_triggers: dict[int, _Compiled] = {}
"""Compiled forms by `id()` of their live trigger (dropped when the trigger is)."""


def _compiled(trigger: EventTrigger) -> _Compiled:
    # kept outside the model, so a trigger that has matched still equals its copies
    key = id(trigger)
    source = (trigger.expect, trigger.after, trigger.match, trigger.match_related, trigger.for_each)
    found = _compiled_triggers.get(key)
    if found is not None and all(map(operator.is_, found.source, source)):
        return found
    for_each = tuple(sorted(trigger.for_each))
    compiled = _Compiled(
        source=source,
        expect=_names(trigger.expect) if trigger.expect else None,
        after=_names(trigger.after) if trigger.after else None,
        covered=_names(trigger.expect | trigger.after) if trigger.expect else None,
        match=trigger.match.label_matcher(),
        related=tuple(spec.label_matcher() for spec in trigger.related_specifications()),
        for_each=for_each,
        paths=tuple(_path(label) for label in for_each),
    )
    if found is None:
        weakref.finalize(trigger, _compiled_triggers.pop, key, None)
    _compiled_triggers[key] = compiled
    return compiled


def _resources_match(compiled: _Compiled, event: Event) -> bool:
    if not compiled.match(event.resource.root):
        return False
    for matches in compiled.related:
        if not any(matches(related.root) for related in event.related):
            return False
    return True


def event_matches(trigger: EventTrigger, event: Event) -> bool:
    """Whether `trigger` takes `event` in: its resource matches `match`, each of
    `match_related` names one of its related resources, and its name is expected (any
    name when `expect` is empty) or is one of `after`."""
    compiled = _compiled(trigger)
    if compiled.covered is not None and not compiled.covered.holds(event.event):
        return False
    return _resources_match(compiled, event)


def is_expected(trigger: EventTrigger, event: Event) -> bool:
    """Whether `event`'s name is one `trigger` counts (True for any when `expect` is
    empty)."""
    expect = _compiled(trigger).expect
    return expect is None or expect.holds(event.event)


def is_after(trigger: EventTrigger, event: Event) -> bool:
    """Whether `event`'s name is one of `trigger`'s `after` (False when it is empty)."""
    after = _compiled(trigger).after
    return after is not None and after.holds(event.event)


def _label(event: Event, role: str | None, label: str) -> str | None:
    if role is None:
        return event.resource.root.get(label)
    for related in event.related:
        if related.root.get(ROLE) == role:
            return related.root.get(label)
    return None


def bucket_key(trigger: EventTrigger, event: Event) -> tuple[str, ...]:
    """The values of `trigger`'s `for_each` labels in `event`, in the labels' sorted
    order (Prefect's): a label of the resource, or `related:<role>:<label>` of the first
    related resource in that role; "" where there is none. Empty without `for_each`."""
    return tuple(_label(event, role, label) or "" for role, label in _compiled(trigger).paths)


def bucket_labels(trigger: EventTrigger, event: Event) -> dict[str, str]:
    """`bucket_key` by label (a firing's `triggering_labels`)."""
    return dict(zip(_compiled(trigger).for_each, bucket_key(trigger, event), strict=True))


# --- feedback loops ---------------------------------------------------------------------
_NEW_RUN_STATES = (
    ("Scheduled", StateType.SCHEDULED),
    ("Pending", StateType.PENDING),
    ("Running", StateType.RUNNING),
)
_FLOW_RUN_ACTIONS = frozenset(
    {
        "cancel-flow-run",
        "change-flow-run-state",
        "delete-flow-run",
        "resume-flow-run",
        "suspend-flow-run",
    }
)
_TARGETS = {
    "deployment_id": ("deployment", "target"),
    "work_queue_id": ("work-queue", "target"),
    "work_pool_id": ("work-pool", "target"),
    "automation_id": ("automation", "target"),
    "block_document_id": ("block-document", "block"),
}


def _lone_reactive(trigger: TriggerTypes) -> Iterator[EventTrigger]:
    """The Reactive event triggers that fire the automation on their own."""
    if isinstance(trigger, EventTrigger):
        if trigger.posture is Posture.Reactive:
            yield trigger
    elif isinstance(trigger, CompoundTrigger):
        if trigger.num_expected_firings == 1:
            for child in trigger.triggers:
                yield from _lone_reactive(child)
    elif isinstance(trigger, SequenceTrigger) and len(trigger.triggers) == 1:
        yield from _lone_reactive(trigger.triggers[0])


def _fresh(kind: str) -> str:
    return f"vibepiper.{kind}.{uuid.uuid4()}"


def _event(name: str, resource: dict[str, str], related: list[dict[str, str]]) -> Event:
    return ReceivedEvent.model_validate({"event": name, "resource": resource, "related": related})


def _targets(action: ActionTypes) -> list[dict[str, str]]:
    related = []
    for field, (kind, role) in _TARGETS.items():
        value = getattr(action, field, None)
        if value is not None:
            related.append({ID: f"vibepiper.{kind}.{value}", ROLE: role})
    if action.type in _FLOW_RUN_ACTIONS:
        related.append({ID: _fresh("flow-run"), ROLE: "target"})
    if isinstance(action, RunDeployment):
        related.append({ID: _fresh("flow-run"), ROLE: "flow-run"})
    return related


def _own_events(automation: AutomationCore, resource_id: str) -> Iterator[Event]:
    """The events the server emits about this automation when it fires and acts."""
    resource = {
        ID: resource_id,
        "vibepiper.resource.name": automation.name,
        "vibepiper.trigger-type": automation.trigger.type,
    }
    if isinstance(automation.trigger, EventTrigger):
        resource["vibepiper.posture"] = automation.trigger.posture.value
    cause = [{ID: _fresh("event"), ROLE: "triggering-event"}]
    for name in ("triggered", "resolved"):
        yield _event(f"vibepiper.automation.{name}", resource, cause)
    for action in automation.all_actions():
        for name in ("triggered", "executed", "failed"):
            yield _event(f"vibepiper.automation.action.{name}", resource, _targets(action))


def _fires_on(trigger: EventTrigger, events: list[Event], check_related: bool) -> Event | None:
    """The first of `events` that fires `trigger` (armed by one of them when it has
    `after`), or None."""
    compiled = _compiled(trigger)
    covered = [
        event
        for event in events
        if (
            _resources_match(compiled, event)
            if check_related
            else compiled.match(event.resource.root)
        )
    ]
    if compiled.after is not None and not any(is_after(trigger, event) for event in covered):
        return None
    return next((event for event in covered if is_expected(trigger, event)), None)


def _new_runs(action: RunDeployment) -> list[Event]:
    related = []
    if action.deployment_id is not None:
        related = [
            {ID: f"vibepiper.deployment.{action.deployment_id}", ROLE: "deployment"},
            {ID: _fresh("flow"), ROLE: "flow"},
        ]
    resource = {ID: _fresh("flow-run")}
    return [
        _event(
            f"vibepiper.flow-run.{name}",
            {**resource, "vibepiper.state-name": name, "vibepiper.state-type": state.value},
            related,
        )
        for name, state in _NEW_RUN_STATES
    ]


def _state_change(action: ActionTypes) -> tuple[str, StateType] | None:
    if isinstance(action, ChangeFlowRunState):
        return action.name or action.state.value.capitalize(), action.state
    if isinstance(action, CancelFlowRun):
        return "Cancelling", StateType.CANCELLING
    if isinstance(action, SuspendFlowRun):
        return "Suspended", StateType.PAUSED
    return None


def _action_loop(action: ActionTypes, triggers: list[EventTrigger]) -> str | None:
    if isinstance(action, RunDeployment):
        # a selected deployment's runs carry it as a related resource; an inferred one's
        # share the triggering run's deployment and flow, so only `match` can tell them apart
        selected = action.source == "selected"
        runs = _new_runs(action)
        for trigger in triggers:
            found = _fires_on(trigger, runs, check_related=selected)
            if found is None:
                continue
            if selected:
                return (
                    f"the trigger matches the {found.event} events of the flow runs that "
                    f"deployment {action.deployment_id} starts, so each firing would start "
                    "another: narrow `match` or `match_related` so that its runs do not match"
                )
            return (
                f"the trigger matches the {found.event} events of the flow runs the inferred "
                "deployment starts, so each firing would start another: run a selected "
                "deployment, and narrow `match` or `match_related` so that its runs do not "
                "match"
            )
    change = _state_change(action)
    if change is not None:
        name, state = change
        labels = {"vibepiper.state-name": name, "vibepiper.state-type": state.value}
        for trigger in triggers:
            # the run the action changes is the one that matched: only its state is new
            narrowed = ResourceSpecification(
                {key: value for key, value in trigger.match.root.items() if key in STATE_LABELS}
            )
            moved = _event(f"vibepiper.flow-run.{name}", {ID: _fresh("flow-run"), **labels}, [])
            if is_expected(trigger, moved) and narrowed.matches(labels):
                return (
                    f"the {action.type} action moves the flow run to {name}, an event the "
                    "trigger expects, so each firing would fire it again: narrow `expect`"
                )
    return None


def find_feedback_loop(
    automation: AutomationCore, automation_id: uuid.UUID | None = None
) -> str | None:
    """Why `automation` would fire itself again and again, or None.

    Checks the events it causes against each Reactive event trigger that fires it on its
    own: the events about the automation itself (`vibepiper.automation.triggered`,
    `...action.executed`, ...), the Scheduled/Pending/Running events of the flow runs its
    run-deployment actions start (Prefect's rule), and the state its flow-run actions
    move a run to. Without `automation_id` (a new automation), a `match` naming some
    other automation's id is no loop. Disabled automations are checked too: enabling
    one is not checked again. It errs toward allowing: labels it cannot know (a run's
    name, its tags) are taken not to match.
    """
    triggers = list(_lone_reactive(automation.trigger))
    if not triggers:
        return None
    resource_id = f"vibepiper.automation.{automation_id or uuid.uuid4()}"
    own = list(_own_events(automation, resource_id))
    for trigger in triggers:
        found = _fires_on(trigger, own, check_related=True)
        if found is not None:
            return (
                f"the trigger matches the {found.event} events this automation emits about "
                "itself, so each firing would fire it again: narrow `match` (e.g. to another "
                "automation's vibepiper.resource.id) or `expect`"
            )
    for action in automation.all_actions():
        reason = _action_loop(action, triggers)
        if reason is not None:
            return reason
    return None

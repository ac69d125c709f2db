"""Events: `emit_event` and the models of what happened to which resource (Prefect's
`prefect.events` names).

    from vibepiper.events import emit_event

    emit_event("orders.loaded", resource={"vibepiper.resource.id": "orders.2024-06-01"})

Where an event goes is where runs go: the embedded store (no server), or the server at
`VIBEPIPER_API_URL` (batched, kept on disk while the server is away). Emitting never
waits on the network and never raises for a store or network problem; an invalid event
(a resource without `vibepiper.resource.id`, too many labels) raises `ValueError` as
Prefect's models do, and one larger than 1,500,000 bytes of JSON raises `EventTooLarge`.
Inside a flow or task run, the run, its flow and tags are added as related resources.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from vibepiper.schemas.events import (
    MAX_EVENT_SIZE_BYTES,
    TIGHT_TIMING,
    Event,
    EventTooLarge,
    ReceivedEvent,
    RelatedResource,
    Resource,
    canonical_labels,
)

__all__ = [
    # automations' triggers and actions, loaded on first use (`vibepiper.schemas.automations`)
    *sorted(
        {
            "ActionTypes",
            "AutomationCore",
            "CallWebhook",
            "CancelFlowRun",
            "ChangeFlowRunState",
            "CompoundTrigger",
            "DeleteFlowRun",
            "DeploymentCompoundTrigger",
            "DeploymentEventTrigger",
            "DeploymentMetricTrigger",
            "DeploymentSequenceTrigger",
            "DeploymentTriggerTypes",
            "DoNothing",
            "EventTrigger",
            "MetricName",
            "MetricTrigger",
            "MetricTriggerOperator",
            "MetricTriggerQuery",
            "PauseAutomation",
            "PauseDeployment",
            "PauseWorkPool",
            "PauseWorkQueue",
            "Posture",
            "ResourceSpecification",
            "ResumeAutomation",
            "ResumeDeployment",
            "ResumeFlowRun",
            "ResumeWorkPool",
            "ResumeWorkQueue",
            "RunDeployment",
            "SendNotification",
            "SequenceTrigger",
            "SuspendFlowRun",
            "TriggerTypes",
        }
    ),
    "Event",
    "EventTooLarge",
    "ReceivedEvent",
    "RelatedResource",
    "Resource",
    "emit_event",
]

logger = logging.getLogger("vibepiper.events")

_LAZY = frozenset(__all__[: __all__.index("Event")])


def __getattr__(name: str) -> Any:
    """Triggers and actions, imported when first asked for (`import vibepiper` stays light)."""
    if name in _LAZY:
        from vibepiper.schemas import automations

        return getattr(automations, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_ID = "vibepiper.resource.id"
_ROLE = "vibepiper.resource.role"


def emit_event(
    event: str,
    resource: Mapping[str, str],
    occurred: dt.datetime | None = None,
    related: Sequence[Mapping[str, str] | RelatedResource] | None = None,
    payload: Mapping[str, Any] | None = None,
    id: uuid.UUID | None = None,
    follows: Event | None = None,
    **kwargs: Any,
) -> Event | None:
    """Record that `event` happened to `resource`; returns the event.

    Args:
        event: the event's name, e.g. `orders.loaded` (`prefect.` reads as `vibepiper.`).
        resource: labels of the resource, with a non-empty `vibepiper.resource.id`.
        occurred: when it happened (default: now).
        related: other resources, each with `vibepiper.resource.id` and `.role`.
        payload: free JSON data.
        id: the event's id (default: a new time-ordered one).
        follows: an event this one follows; kept only when it happened within 5 minutes.

    Raises:
        EventTooLarge: the event is over 1,500,000 bytes of JSON.
        ValueError: the event breaks a rule of its models.
    """
    fields: dict[str, Any] = {
        "event": event,
        "resource": dict(resource),
        "related": [_labels(item) for item in related or ()],
        "payload": dict(payload or {}),
        **kwargs,
    }
    if occurred is not None:
        fields["occurred"] = occurred
    if id is not None:
        fields["id"] = id
    fields["related"].extend(_from_run_context(fields["related"]))
    built = Event(**fields)
    if follows is not None and -TIGHT_TIMING < built.occurred - follows.occurred < TIGHT_TIMING:
        built.follows = follows.id
    size = built.size()
    if size > MAX_EVENT_SIZE_BYTES:
        raise EventTooLarge(size)
    try:
        from vibepiper.store.registry import get_store

        get_store().emit_event(built)
    except Exception as exc:  # emitting must not break the caller's flow
        logger.warning("Could not record event %s: %s", built.event, exc)
    return built


def _labels(item: Mapping[str, str] | RelatedResource) -> dict[str, str]:
    if isinstance(item, RelatedResource):
        return dict(item.root)
    return canonical_labels(item)


def _from_run_context(given: list[dict[str, str]]) -> list[dict[str, str]]:
    """The current flow run, its flow, the current task run and their tags, as related
    resources (those not named already)."""
    from vibepiper.context import FlowRunContext, TaskRunContext

    flow_context = FlowRunContext.get()
    task_context = TaskRunContext.get()
    found: list[dict[str, str]] = []
    tags: set[str] = set()
    if flow_context is not None:
        run = flow_context.flow_run
        found.append(_related(f"vibepiper.flow-run.{run.id}", "flow-run", run.name))
        found.append(_related(f"vibepiper.flow.{run.flow_id}", "flow", run.flow_name))
        tags.update(run.tags)
    if task_context is not None:
        task_run = task_context.task_run
        found.append(_related(f"vibepiper.task-run.{task_run.id}", "task-run", task_run.name))
        tags.update(task_run.tags)
    found.extend(_related(f"vibepiper.tag.{tag}", "tag", None) for tag in sorted(tags))
    named = {
        (item.get("vibepiper.resource.id"), item.get("vibepiper.resource.role")) for item in given
    }
    return [item for item in found if (item[_ID], item[_ROLE]) not in named]


def _related(resource_id: str, role: str, name: str | None) -> dict[str, str]:
    labels = {_ID: resource_id, _ROLE: role}
    if name is not None:
        labels["vibepiper.resource.name"] = name
    return labels

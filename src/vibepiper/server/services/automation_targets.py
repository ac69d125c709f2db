"""What an automation's action acts on, and what its templates see, found from the
firing that runs it.

Targets (Prefect's inference): an action whose `source` is "inferred" acts on the first
object of its kind among the resources the firing names: the bucket's
`vibepiper.resource.id` label (a `for_each` over resources, which proactive triggers
use without an event), then the triggering event's resource, then its related
resources in order. A resource id is `vibepiper.<kind>.<uuid>` (`prefect.` reads as
`vibepiper.`); one whose tail is not a UUID is passed over.

What templates see is read by `automation_templates.template_context`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from vibepiper.schemas.api_filters import MAX_LIMIT
from vibepiper.schemas.events import canonical
from vibepiper.server.services.automation_context import ActionContext, ActionFailed

MAX_VARIABLES = MAX_LIMIT
"""Most variables a template sees (the first by name)."""

_OBJECTS = ("flow_run", "flow", "deployment", "work_pool", "work_queue")
_TEMPLATED_FIELDS = ("parameters", "job_variables", "message")
_TEMPLATE_MARKS = ("{{", "{%", "{#", "__prefect_kind", "__vibepiper_kind")


def resource_ids(context: ActionContext) -> list[str]:
    """The resource ids the firing names, in the order targets are inferred from."""
    found = []
    labels = {canonical(key): value for key, value in context.labels.items()}
    if labels.get("vibepiper.resource.id"):
        found.append(canonical(labels["vibepiper.resource.id"]))
    if context.event is not None:
        found.extend(resource.id for resource in context.event.involved_resources)
    return found


def first_of_kind(context: ActionContext, kind: str) -> uuid.UUID | None:
    """The id of the first resource of `kind` (e.g. "flow-run") the firing names."""
    prefix = f"vibepiper.{kind}."
    for resource_id in resource_ids(context):
        if resource_id.startswith(prefix):
            try:
                return uuid.UUID(resource_id[len(prefix) :])
            except ValueError:
                continue
    return None


def target(context: ActionContext, kind: str, selected: uuid.UUID | None) -> uuid.UUID:
    """`selected` when the action names its object, else the one inferred from the firing.

    Raises:
        ActionFailed: nothing of `kind` can be inferred (not retryable).
    """
    if selected is not None:
        return selected
    found = first_of_kind(context, kind)
    if found is not None:
        return found
    what = kind.replace("-", " ")
    if context.event is None:
        raise ActionFailed(f"no {what} could be inferred: no event triggered the automation")
    raise ActionFailed(
        f"no {what} could be inferred: event {context.event.event!r} of "
        f"{context.event.resource.id!r} names no {what}"
    )


def templated_text(action_json: Mapping[str, Any]) -> str:
    """The action's templated fields as JSON text ("" when none holds a template)."""
    text = json.dumps([action_json.get(name) for name in _TEMPLATED_FIELDS])
    return text if any(mark in text for mark in _TEMPLATE_MARKS) else ""

"""Deployment triggers: automations that run a deployment when their trigger fires.

`flow.to_deployment(..., triggers=[...])` (so `flow.serve`, `flow.deploy` and
`serve(*deployments)`) and `triggers:` under an entry of `vibepiper.yaml` take Prefect's
deployment triggers (`DeploymentEventTrigger`, ...), plain triggers (`EventTrigger`, ...:
their fields are copied into the deployment kind) or their dicts (`type` defaults to
"event"). Each one becomes an automation owned by the deployment (`owner_resource:
vibepiper.deployment.<id>`) whose run-deployment action runs it with the trigger's
`parameters` and `job_variables`; one left unnamed is named
`<deployment>__automation_<n>`, as Prefect names it.

Registering a deployment replaces its automations, as Prefect does (`sync_automations`):
the automations it owns are deleted and one is created per trigger, so registering again
makes no duplicate and a trigger taken out is gone. A bad trigger is a ValueError naming
it and its field when the deployment is built, and `check_triggers` runs the server's
checks that need nothing stored (a trigger its own runs would fire again) before anything
is registered.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from pydantic import ValidationError

    from vibepiper.client import SyncVibePiperClient
    from vibepiper.schemas.automations import (
        DeploymentCompoundTrigger,
        DeploymentEventTrigger,
        DeploymentMetricTrigger,
        DeploymentSequenceTrigger,
    )

    DeploymentTrigger: TypeAlias = (
        DeploymentEventTrigger
        | DeploymentMetricTrigger
        | DeploymentCompoundTrigger
        | DeploymentSequenceTrigger
    )

_KINDS = frozenset({"event", "metric", "compound", "sequence"})
_CHECK_ID = uuid.UUID(int=0)
"""Stands for the deployment's id while its triggers are checked before it exists."""


def owner(deployment_id: uuid.UUID) -> str:
    """The resource that owns a deployment's trigger automations."""
    return f"vibepiper.deployment.{deployment_id}"


def deployment_triggers(triggers: Iterable[Any] | None, name: str) -> list[DeploymentTrigger]:
    """`triggers` of the deployment `name` as deployment triggers (copies), each named.

    Raises TypeError for something that is no trigger, ValueError naming the trigger
    (`triggers[1] ('on-upload')`) and its field for a trigger that does not validate.
    """
    if triggers is None:
        return []
    if isinstance(triggers, str | bytes | Mapping) or hasattr(triggers, "model_dump"):
        raise TypeError(f"triggers must be a list of triggers, got {type(triggers).__name__}")
    out = []
    for index, trigger in enumerate(triggers):
        converted = as_deployment_trigger(trigger, f"triggers[{index}]")
        if converted.name is None:
            converted = converted.model_copy(update={"name": f"{name}__automation_{index + 1}"})
        out.append(converted)
    return out


def as_deployment_trigger(trigger: Any, where: str = "trigger") -> DeploymentTrigger:
    """`trigger` (a deployment trigger, a plain trigger or a dict) as a new deployment
    trigger; TypeError or ValueError starting with `where`."""
    from pydantic import ValidationError

    from vibepiper.schemas.automations import (
        CompoundTrigger,
        EventTrigger,
        MetricTrigger,
        SequenceTrigger,
    )

    if isinstance(trigger, EventTrigger | MetricTrigger | CompoundTrigger | SequenceTrigger):
        data: Any = trigger.model_dump()
    elif isinstance(trigger, Mapping):
        data = dict(trigger)
    else:
        raise TypeError(
            f"{where}: expected a trigger (DeploymentEventTrigger, EventTrigger, ... or a "
            f"dict), got {type(trigger).__name__}"
        )
    try:
        converted: DeploymentTrigger = _adapter().validate_python(data)
    except ValidationError as exc:
        raise ValueError(f"{_label(where, data)}: {_one_line(exc)}") from None
    return converted


def check_triggers(full_name: str, triggers: Sequence[DeploymentTrigger]) -> None:
    """ValueError naming the trigger whose automation the server would refuse for a
    reason that needs nothing stored: one its own runs would fire again."""
    from vibepiper.orchestration.trigger_match import find_feedback_loop

    for index, trigger in enumerate(triggers):
        reason = find_feedback_loop(trigger.as_automation(_CHECK_ID))
        if reason is not None:
            where = _label(f"triggers[{index}]", {"name": trigger.name})
            reason = reason.replace(f"deployment {_CHECK_ID}", "this deployment")
            raise ValueError(f"deployment {full_name!r}: {where}: {reason}")


def sync_automations(
    client: SyncVibePiperClient,
    deployment_id: uuid.UUID,
    full_name: str,
    triggers: Sequence[DeploymentTrigger],
) -> list[uuid.UUID]:
    """Make the deployment's automations its triggers' (Prefect's replace-on-apply):
    delete those it owns, create one per trigger; the new automations' ids.

    Raises ValueError naming the trigger when the server refuses its automation.
    """
    from vibepiper.client import ApiValidationError

    client.delete_resource_owned_automations(owner(deployment_id))
    created = []
    for index, trigger in enumerate(triggers):
        try:
            created.append(client.create_automation(trigger.as_automation(deployment_id)))
        except ApiValidationError as exc:
            where = _label(f"triggers[{index}]", {"name": trigger.name})
            raise ValueError(f"deployment {full_name!r}: {where}: {exc}") from None
    return created


def _adapter() -> Any:
    from pydantic import TypeAdapter

    from vibepiper.schemas.automations import DeploymentTriggerTypes

    return TypeAdapter(DeploymentTriggerTypes)


def _label(where: str, data: Any) -> str:
    name = data.get("name") if isinstance(data, Mapping) else None
    return f"{where} ({name!r})" if isinstance(name, str) and name else where


def _one_line(exc: ValidationError) -> str:
    """Each error as `field: message`, the union's kind tags left out of the path."""
    parts = []
    for error in exc.errors():
        loc = error["loc"]
        path = ".".join(
            str(part)
            for position, part in enumerate(loc)
            if not (part in _KINDS and (position == 0 or isinstance(loc[position - 1], int)))
        )
        message = " ".join(str(error["msg"]).split())
        if error["type"] == "union_tag_invalid":
            path, tag = f"{path}.type" if path else "type", (error.get("ctx") or {}).get("tag")
            message = f"{tag!r} is not a trigger type (event, metric, compound or sequence)"
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)

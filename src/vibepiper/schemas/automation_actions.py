"""Actions of automations (issue 16): what an automation runs when its trigger fires or
resolves, with Prefect 3's names, JSON shapes and rules.

Where this differs from Prefect, and why:
- Actions refuse unknown fields (Prefect's ignore them), as triggers do.
- At most 50 actions in each list, so a stored automation cannot overflow the evaluator.
- `delete-flow-run` is an action beyond Prefect's open-source server.
- Notification and webhook templates are not compiled here (Jinja is a server extra):
  the server checks them when it saves an automation.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vibepiper.schemas.api import JsonDict, Name, Text
from vibepiper.schemas.automation_triggers import Window
from vibepiper.states import StateType

__all__ = [
    "DEFAULT_NOTIFICATION_BODY",
    "DEFAULT_NOTIFICATION_SUBJECT",
    "MAX_ACTIONS",
    "ActionTypes",
    "CallWebhook",
    "CancelFlowRun",
    "ChangeFlowRunState",
    "DeleteFlowRun",
    "DoNothing",
    "PauseAutomation",
    "PauseDeployment",
    "PauseWorkPool",
    "PauseWorkQueue",
    "ResumeAutomation",
    "ResumeDeployment",
    "ResumeFlowRun",
    "ResumeWorkPool",
    "ResumeWorkQueue",
    "RunDeployment",
    "SendNotification",
    "SuspendFlowRun",
]

MAX_ACTIONS = 50
"""Most actions in each of `actions`, `actions_on_trigger` and `actions_on_resolve`."""

DEFAULT_NOTIFICATION_SUBJECT = "VibePiper automated notification"
DEFAULT_NOTIFICATION_BODY = (
    "Automation {{ automation.name }} fired"
    "{% if event %} on {{ event.event }} of {{ event.resource.id }}"
    " at {{ event.occurred }}{% endif %}."
)
"""A send-notification body left out: which automation fired, on what event."""


Source = Literal["selected", "inferred"]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_timedelta="float")

    type: str


class _TargetedAction(_Action):
    """An action on one object: the one `<kind>_id` names (source "selected"), or the
    first of its kind among the triggering event's resources (source "inferred")."""

    _target: ClassVar[str]

    source: Source = "selected"

    @model_validator(mode="after")
    def _selected_or_inferred(self) -> Self:
        given = getattr(self, self._target) is not None
        if self.source == "selected" and not given:
            raise ValueError(f"{self._target} is required when source is 'selected'")
        if self.source == "inferred" and given:
            raise ValueError(f"{self._target} is not allowed when source is 'inferred'")
        return self


class DoNothing(_Action):
    """Run nothing (the automation still records that it fired)."""

    type: Literal["do-nothing"] = "do-nothing"


class _DeploymentAction(_TargetedAction):
    _target: ClassVar[str] = "deployment_id"
    deployment_id: uuid.UUID | None = None


class RunDeployment(_DeploymentAction):
    """Create a flow run of the deployment (its own parameters and job variables where
    these are None)."""

    type: Literal["run-deployment"] = "run-deployment"
    parameters: JsonDict | None = None
    job_variables: JsonDict | None = None
    schedule_after: Window = Field(
        default=dt.timedelta(0), description="Schedule the run this long after firing."
    )


class PauseDeployment(_DeploymentAction):
    """Pause the deployment's schedules."""

    type: Literal["pause-deployment"] = "pause-deployment"


class ResumeDeployment(_DeploymentAction):
    """Resume the deployment's schedules."""

    type: Literal["resume-deployment"] = "resume-deployment"


class CancelFlowRun(_Action):
    """Cancel the flow run of the triggering event."""

    type: Literal["cancel-flow-run"] = "cancel-flow-run"


class SuspendFlowRun(_Action):
    """Suspend the flow run of the triggering event."""

    type: Literal["suspend-flow-run"] = "suspend-flow-run"


class ResumeFlowRun(_Action):
    """Resume the paused or suspended flow run of the triggering event."""

    type: Literal["resume-flow-run"] = "resume-flow-run"


class DeleteFlowRun(_Action):
    """Delete the flow run of the triggering event."""

    type: Literal["delete-flow-run"] = "delete-flow-run"


class ChangeFlowRunState(_Action):
    """Move the flow run of the triggering event to a state of type `state`."""

    type: Literal["change-flow-run-state"] = "change-flow-run-state"
    name: Name | None = Field(default=None, description="Default: the type's name.")
    state: StateType
    message: Text | None = None


class SendNotification(_Action):
    """Send `subject` and `body` (Jinja templates) through a notification block."""

    type: Literal["send-notification"] = "send-notification"
    block_document_id: uuid.UUID
    subject: Text = DEFAULT_NOTIFICATION_SUBJECT
    body: Text = DEFAULT_NOTIFICATION_BODY


def _payload_text(value: Any) -> Any:
    # older Prefect clients send the payload as a JSON object
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2)
    return value


class CallWebhook(_Action):
    """Call a webhook block with `payload` (a Jinja template)."""

    type: Literal["call-webhook"] = "call-webhook"
    block_document_id: uuid.UUID
    payload: Annotated[Text, BeforeValidator(_payload_text)] = ""


class _WorkQueueAction(_TargetedAction):
    _target: ClassVar[str] = "work_queue_id"
    work_queue_id: uuid.UUID | None = None


class PauseWorkQueue(_WorkQueueAction):
    """Pause the work queue."""

    type: Literal["pause-work-queue"] = "pause-work-queue"


class ResumeWorkQueue(_WorkQueueAction):
    """Resume the work queue."""

    type: Literal["resume-work-queue"] = "resume-work-queue"


class _WorkPoolAction(_TargetedAction):
    _target: ClassVar[str] = "work_pool_id"
    work_pool_id: uuid.UUID | None = None


class PauseWorkPool(_WorkPoolAction):
    """Pause the work pool."""

    type: Literal["pause-work-pool"] = "pause-work-pool"


class ResumeWorkPool(_WorkPoolAction):
    """Resume the work pool."""

    type: Literal["resume-work-pool"] = "resume-work-pool"


class _AutomationAction(_TargetedAction):
    _target: ClassVar[str] = "automation_id"
    automation_id: uuid.UUID | None = None


class PauseAutomation(_AutomationAction):
    """Turn the automation off."""

    type: Literal["pause-automation"] = "pause-automation"


class ResumeAutomation(_AutomationAction):
    """Turn the automation on."""

    type: Literal["resume-automation"] = "resume-automation"


ActionTypes = Annotated[
    DoNothing
    | RunDeployment
    | PauseDeployment
    | ResumeDeployment
    | CancelFlowRun
    | SuspendFlowRun
    | ResumeFlowRun
    | DeleteFlowRun
    | ChangeFlowRunState
    | SendNotification
    | CallWebhook
    | PauseWorkQueue
    | ResumeWorkQueue
    | PauseWorkPool
    | ResumeWorkPool
    | PauseAutomation
    | ResumeAutomation,
    Field(discriminator="type"),
]
"""Any action an automation may run, told apart by `type`."""

Actions = Annotated[list[ActionTypes], Field(max_length=MAX_ACTIONS)]

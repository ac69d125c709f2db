"""Wire models of automations (issue 16): Prefect 3's automation bodies, their filters
and deployment triggers, with Prefect's names, JSON shapes and rules.

An automation is a trigger over events and the actions it runs when the trigger fires
(`actions`, `actions_on_trigger`) or resolves (`actions_on_resolve`). The server keeps
the trigger and the actions as the JSON these models dump (`model_dump(mode="json")`,
durations in seconds as Prefect sends them) and reads them back with these models. An
`owner_resource` beginning `prefect.` is read as `vibepiper.` (`canonical`).

The triggers live in `vibepiper.schemas.automation_triggers` and the actions in
`vibepiper.schemas.automation_actions`; this module re-exports both, so one stored JSON
document is read through one import path. Deployment triggers live here because each is
both a trigger and an automation body.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from vibepiper.schemas.api import JsonDict, Name, RequestModel, Tags, Text, UtcDatetime
from vibepiper.schemas.api_filters import Ids, Limit, Names, Offset, TagList
from vibepiper.schemas.automation_actions import (
    DEFAULT_NOTIFICATION_BODY,
    DEFAULT_NOTIFICATION_SUBJECT,
    MAX_ACTIONS,
    Actions,
    ActionTypes,
    CallWebhook,
    CancelFlowRun,
    ChangeFlowRunState,
    DeleteFlowRun,
    DoNothing,
    PauseAutomation,
    PauseDeployment,
    PauseWorkPool,
    PauseWorkQueue,
    ResumeAutomation,
    ResumeDeployment,
    ResumeFlowRun,
    ResumeWorkPool,
    ResumeWorkQueue,
    RunDeployment,
    SendNotification,
    SuspendFlowRun,
)
from vibepiper.schemas.automation_triggers import (
    MAX_TRIGGER_DEPTH,
    MAX_TRIGGERS,
    MAX_WINDOW,
    PROACTIVE_MIN_WITHIN,
    CompoundTrigger,
    EventTrigger,
    MetricName,
    MetricTrigger,
    MetricTriggerOperator,
    MetricTriggerQuery,
    Posture,
    ResourceSpecification,
    SequenceTrigger,
    TriggerTypes,
    _trigger_kind,  # shared with TriggerTypes: errors name this function
)
from vibepiper.schemas.events import canonical

__all__ = [
    "DEFAULT_NOTIFICATION_BODY",
    "DEFAULT_NOTIFICATION_SUBJECT",
    "MAX_ACTIONS",
    "MAX_TRIGGERS",
    "MAX_TRIGGER_DEPTH",
    "MAX_WINDOW",
    "PROACTIVE_MIN_WITHIN",
    "ActionTypes",
    "AutomationCore",
    "AutomationCreate",
    "AutomationCriteria",
    "AutomationFilter",
    "AutomationFilterCreated",
    "AutomationFilterEnabled",
    "AutomationFilterId",
    "AutomationFilterName",
    "AutomationFilterOwnerResource",
    "AutomationFilterTags",
    "AutomationPartialUpdate",
    "AutomationRead",
    "AutomationSort",
    "AutomationUpdate",
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
]


# --- automations ------------------------------------------------------------------------
def _owner(value: str | None) -> str | None:
    return None if value is None else canonical(value)


class AutomationCore(BaseModel):
    """A trigger and the actions it runs."""

    name: Name
    description: Text = ""
    enabled: bool = True
    tags: Tags = Field(default_factory=list)
    trigger: TriggerTypes
    actions: Actions = Field(description="Run when the trigger fires.")
    actions_on_trigger: Actions = Field(
        default_factory=list, description="Run when the automation enters Triggered."
    )
    actions_on_resolve: Actions = Field(
        default_factory=list, description="Run when the automation enters Resolved."
    )
    owner_resource: Annotated[Name | None, AfterValidator(_owner)] = Field(
        default=None, description="The resource that owns it, e.g. vibepiper.deployment.<id>."
    )

    def all_actions(self) -> list[ActionTypes]:
        """`actions`, then `actions_on_trigger`, then `actions_on_resolve`."""
        return [*self.actions, *self.actions_on_trigger, *self.actions_on_resolve]


class AutomationCreate(AutomationCore, RequestModel):
    """Body of `POST /automations/`."""


class AutomationUpdate(AutomationCore, RequestModel):
    """Body of `PUT /automations/{id}`: the whole automation, replaced."""


class AutomationPartialUpdate(RequestModel):
    """Body of `PATCH /automations/{id}`: turn it on or off."""

    enabled: bool = True


class AutomationRead(AutomationCore):
    """An automation as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created: UtcDatetime
    updated: UtcDatetime


# --- deployment triggers ----------------------------------------------------------------
_DEPLOYMENT_FIELDS = frozenset({"name", "description", "enabled", "parameters", "job_variables"})


class _DeploymentTrigger(BaseModel):
    """A trigger declared on a deployment: the automation it makes runs the deployment."""

    _plain: ClassVar[type[BaseModel]]

    name: Name | None = Field(
        default=None, description="Default: `Automation for deployment <id>`."
    )
    description: Text = ""
    enabled: bool = True
    parameters: JsonDict | None = Field(
        default=None, description="Parameters of the runs (default: the deployment's)."
    )
    job_variables: JsonDict | None = None

    def as_trigger(self) -> TriggerTypes:
        """The plain trigger, without the automation's fields."""
        trigger = self._plain.model_validate(self.model_dump(exclude=set(_DEPLOYMENT_FIELDS)))
        assert isinstance(trigger, EventTrigger | MetricTrigger | CompoundTrigger | SequenceTrigger)
        return trigger

    def as_automation(self, deployment_id: uuid.UUID) -> AutomationCreate:
        """The automation that runs deployment `deployment_id` when this trigger fires,
        owned by the deployment."""
        return AutomationCreate(
            name=self.name or f"Automation for deployment {deployment_id}",
            description=self.description,
            enabled=self.enabled,
            trigger=self.as_trigger(),
            actions=[
                RunDeployment(
                    source="selected",
                    deployment_id=deployment_id,
                    parameters=self.parameters,
                    job_variables=self.job_variables,
                )
            ],
            owner_resource=f"vibepiper.deployment.{deployment_id}",
        )


class DeploymentEventTrigger(_DeploymentTrigger, EventTrigger):
    """An event trigger that runs its deployment."""

    _plain: ClassVar[type[BaseModel]] = EventTrigger


class DeploymentMetricTrigger(_DeploymentTrigger, MetricTrigger):
    """A metric trigger that runs its deployment."""

    _plain: ClassVar[type[BaseModel]] = MetricTrigger


class DeploymentCompoundTrigger(_DeploymentTrigger, CompoundTrigger):
    """A compound trigger that runs its deployment."""

    _plain: ClassVar[type[BaseModel]] = CompoundTrigger


class DeploymentSequenceTrigger(_DeploymentTrigger, SequenceTrigger):
    """A sequence trigger that runs its deployment."""

    _plain: ClassVar[type[BaseModel]] = SequenceTrigger


DeploymentTriggerTypes = Annotated[
    Annotated[DeploymentEventTrigger, Tag("event")]
    | Annotated[DeploymentMetricTrigger, Tag("metric")]
    | Annotated[DeploymentCompoundTrigger, Tag("compound")]
    | Annotated[DeploymentSequenceTrigger, Tag("sequence")],
    Discriminator(_trigger_kind),
]
"""A trigger of a deployment (`deployments[].triggers` in prefect.yaml), told apart by
`type` (an event trigger when left out)."""


# --- filters ----------------------------------------------------------------------------
class AutomationSort(enum.StrEnum):
    """Orders of `POST /automations/filter`."""

    CREATED_DESC = "CREATED_DESC"
    UPDATED_DESC = "UPDATED_DESC"
    NAME_ASC = "NAME_ASC"
    NAME_DESC = "NAME_DESC"


class AutomationFilterId(RequestModel):
    """Automations with any of these ids."""

    any_: Ids | None = None


class AutomationFilterName(RequestModel):
    """Automations with any of these names."""

    any_: Names | None = Field(default=None, description="Exact names, any of them.")


class AutomationFilterCreated(RequestModel):
    """Automations created at or before a time."""

    before_: UtcDatetime | None = None


class AutomationFilterTags(RequestModel):
    """Automations carrying every one of these tags."""

    all_: TagList | None = Field(default=None, description="Automations with every one.")


class AutomationFilterEnabled(RequestModel):
    """Automations turned on (true) or off (false)."""

    eq_: bool | None = None


class AutomationFilterOwnerResource(RequestModel):
    """Automations owned by any of these resources."""

    any_: Names | None = Field(default=None, description="e.g. vibepiper.deployment.<id>")

    @field_validator("any_")
    @classmethod
    def _canonical(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [canonical(item) for item in value]


class AutomationCriteria(RequestModel):
    """Which automations: every part given must hold (Prefect's `AutomationFilter`)."""

    id: AutomationFilterId | None = None
    name: AutomationFilterName | None = None
    created: AutomationFilterCreated | None = None
    tags: AutomationFilterTags | None = None
    enabled: AutomationFilterEnabled | None = None
    owner_resource: AutomationFilterOwnerResource | None = None


class AutomationFilter(RequestModel):
    """Body of `POST /automations/filter`, as Prefect's client sends it."""

    sort: AutomationSort = AutomationSort.NAME_ASC
    limit: Limit = 200
    offset: Offset = 0
    automations: AutomationCriteria | None = None

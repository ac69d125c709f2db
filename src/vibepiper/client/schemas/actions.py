"""Request bodies of the client, under the names Prefect gives them
(`prefect.client.schemas.actions`).

They are the API's own request models (`vibepiper.schemas`), so their fields are the
API's: `FlowRunUpdate(name=..., tags=..., parameters=..., flow_version=...)`,
`StateCreate(type=..., message=...)`. Most scripts never build them: the client's
methods take Prefect's keyword arguments (`update_flow_run(run_id, name="x")`).
"""

from __future__ import annotations

from vibepiper.schemas.api import (
    FlowRunCreate,
    FlowRunUpdate,
    LogCreate,
    StateCreate,
    TaskRunCreate,
)
from vibepiper.schemas.blocks import (
    BlockDocumentCreate,
    BlockDocumentUpdate,
    BlockSchemaCreate,
    BlockTypeCreate,
    BlockTypeUpdate,
)
from vibepiper.schemas.deployments import (
    DeploymentCreate,
    DeploymentFlowRunCreate,
    DeploymentUpdate,
    WorkPoolCreate,
    WorkPoolUpdate,
    WorkQueueCreate,
    WorkQueueUpdate,
)
from vibepiper.schemas.schedules import DeploymentScheduleCreate, DeploymentScheduleUpdate
from vibepiper.schemas.variables import VariableCreate, VariableUpdate

__all__ = [
    "BlockDocumentCreate",
    "BlockDocumentUpdate",
    "BlockSchemaCreate",
    "BlockTypeCreate",
    "BlockTypeUpdate",
    "DeploymentCreate",
    "DeploymentFlowRunCreate",
    "DeploymentScheduleCreate",
    "DeploymentScheduleUpdate",
    "DeploymentUpdate",
    "FlowRunCreate",
    "FlowRunUpdate",
    "LogCreate",
    "StateCreate",
    "TaskRunCreate",
    "VariableCreate",
    "VariableUpdate",
    "WorkPoolCreate",
    "WorkPoolUpdate",
    "WorkQueueCreate",
    "WorkQueueUpdate",
]

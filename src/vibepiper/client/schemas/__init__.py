"""The client's models at Prefect's paths: `.objects` (what it reads), `.filters` and
`.sorting` (what `read_*` methods take), `.actions` (request bodies), `.responses`
(`OrchestrationResult`). The names Prefect exports from `prefect.client.schemas` are
here too."""

from __future__ import annotations

from vibepiper.client.schemas.objects import (
    ConcurrencyLimit,
    Deployment,
    Flow,
    FlowRun,
    Log,
    State,
    StateDetails,
    StateType,
    TaskRun,
    Worker,
    WorkPool,
    WorkQueue,
)
from vibepiper.client.schemas.responses import (
    DeploymentResponse,
    OrchestrationResult,
    SetStateStatus,
    StateAbortDetails,
    StateAcceptDetails,
    StateRejectDetails,
    StateWaitDetails,
)

__all__ = [
    "ConcurrencyLimit",
    "Deployment",
    "DeploymentResponse",
    "Flow",
    "FlowRun",
    "Log",
    "OrchestrationResult",
    "SetStateStatus",
    "State",
    "StateAbortDetails",
    "StateAcceptDetails",
    "StateDetails",
    "StateRejectDetails",
    "StateType",
    "StateWaitDetails",
    "TaskRun",
    "WorkPool",
    "WorkQueue",
    "Worker",
]

"""Answers of the client shaped as Prefect's `prefect.client.schemas.responses`.

`OrchestrationResult` is what `set_flow_run_state` and `set_task_run_state` return: the
`status` (`SetStateStatus.ACCEPT` or `REJECT`; the API never answers `ABORT` or `WAIT`),
the run's `state` afterwards as a `State`, and `details` (a rejection's `reason`).
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, Field

from vibepiper.client.schemas.objects import Deployment, RunState, state_from_read
from vibepiper.schemas import api

__all__ = [
    "DeploymentResponse",
    "OrchestrationResult",
    "SetStateStatus",
    "StateAbortDetails",
    "StateAcceptDetails",
    "StateRejectDetails",
    "StateWaitDetails",
]

DeploymentResponse = Deployment
"""Prefect's name for a deployment as read."""


class SetStateStatus(enum.StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"
    WAIT = "WAIT"


class StateAcceptDetails(BaseModel):
    type: Literal["accept_details"] = "accept_details"


class StateRejectDetails(BaseModel):
    type: Literal["reject_details"] = "reject_details"
    reason: str | None = None


class StateAbortDetails(BaseModel):
    type: Literal["abort_details"] = "abort_details"
    reason: str | None = None


class StateWaitDetails(BaseModel):
    type: Literal["wait_details"] = "wait_details"
    delay_seconds: int
    reason: str | None = None


class OrchestrationResult(BaseModel):
    """What the orchestration rules made of a proposed state."""

    state: RunState = None
    status: SetStateStatus
    details: StateAcceptDetails | StateRejectDetails | StateAbortDetails | StateWaitDetails = Field(
        discriminator="type"
    )

    @property
    def reason(self) -> str | None:
        """Why the state was not accepted (None when it was)."""
        return getattr(self.details, "reason", None)

    @classmethod
    def from_api(cls, result: api.OrchestrationResult) -> OrchestrationResult:
        details: StateAcceptDetails | StateRejectDetails
        if result.status == "ACCEPT":
            details = StateAcceptDetails()
        else:
            details = StateRejectDetails(reason=result.reason)
        state = state_from_read(result.state) if result.state is not None else None
        return cls(state=state, status=SetStateStatus(result.status), details=details)

"""What an automation's action is carried out with: the firing that ran it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from vibepiper.schemas.events import ReceivedEvent


@dataclass(frozen=True)
class ActionContext:
    """One firing of an automation, as its actions see it.

    `event` is the event that fired it (a reactive trigger's last matching event, or the
    event that opened a proactive trigger's window); None when nothing did (a proactive
    trigger with no `after`, a metric trigger). `labels` are the bucket's labels
    (`for_each`); `kind` is "triggered" or "resolved".
    """

    automation_id: uuid.UUID
    automation_name: str
    firing_id: uuid.UUID
    kind: str = "triggered"
    event: ReceivedEvent | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ui_base: str | None = None
    position: int = 0  # the action's place among the firing's actions

    def automation(self) -> dict[str, Any]:
        """The automation as templates name it (`automation.name`, `automation.id`)."""
        return {"id": str(self.automation_id), "name": self.automation_name}


class ActionFailed(Exception):
    """An action could not be carried out: `reason` says why in one line; `retryable`
    says whether trying again later may succeed (a server or network that did not
    answer) or not (a deployment that no longer exists, a template that fails)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable

"""What may be claimed: concurrency slots of pools, queues and deployments, and the
overlap policies of schedules, as one claim pass sees them.

`Slots` counts, once per pass, the runs occupying each limit and then tracks the runs
the pass takes, so a pass never overfills a limit; runs it cannot take stay Scheduled
and are claimed by a later pass once a slot frees. `apply_overlap` asks
`orchestration.scheduling.decide_overlap` what to do with a due run of a schedule
whose deployment still has a run going: start it, hold it back (`queue_one`), end it
Cancelled with the reason (`skip`), or cancel the runs going first (`cancel_previous`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vibepiper.database import tables as t
from vibepiper.server.repositories import claims, flow_runs
from vibepiper.server.repositories.claims import Scope
from vibepiper.server.services._transitions import transition
from vibepiper.states import State, StateType

_r = t.flow_run.c


@dataclass
class Slots:
    pool_limit: int | None = None
    queue_limits: dict[str, int | None] = field(default_factory=dict)
    pool_held: int = 0
    queue_held: dict[str, int] = field(default_factory=dict)
    deployment_held: dict[uuid.UUID, int] = field(default_factory=dict)
    policies: dict[uuid.UUID, str] = field(default_factory=dict)
    active: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    waiting: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)

    async def count(
        self, connection: AsyncConnection, scope: Scope, candidates: Sequence[Mapping[Any, Any]]
    ) -> None:
        """Count the runs occupying each limit the candidates are under."""
        if scope.work_pool_name is not None:
            in_pool = _r.work_pool_name == scope.work_pool_name
            pool = await claims.held_counts(connection, _r.work_pool_name, [scope.work_pool_name])
            self.pool_held = pool.get(scope.work_pool_name, 0)
            queues = list(self.queue_limits)
            self.queue_held = await claims.held_counts(
                connection, _r.work_queue_name, queues, in_pool
            )
        deployment_ids = list({row["deployment_id"] for row in candidates})
        self.deployment_held = await claims.held_counts(
            connection, _r.deployment_id, deployment_ids
        )
        schedule_ids = list(
            {row["deployment_schedule_id"] for row in candidates if row["deployment_schedule_id"]}
        )
        self.policies = await claims.overlap_policies(connection, schedule_ids)

    def free(self, row: Mapping[Any, Any]) -> bool:
        """Whether taking `row` keeps every limit it is under."""
        if self.pool_limit is not None and self.pool_held >= self.pool_limit:
            return False
        queue_limit = self.queue_limits.get(row["work_queue_name"])
        if (
            queue_limit is not None
            and self.queue_held.get(row["work_queue_name"], 0) >= queue_limit
        ):
            return False
        limit = row["deployment_concurrency_limit"]
        return limit is None or self.deployment_held.get(row["deployment_id"], 0) < limit

    def take(self, row: Mapping[Any, Any]) -> None:
        self.pool_held += 1
        queue = row["work_queue_name"]
        self.queue_held[queue] = self.queue_held.get(queue, 0) + 1
        deployment = row["deployment_id"]
        self.deployment_held[deployment] = self.deployment_held.get(deployment, 0) + 1
        if deployment in self.active:
            self.active[deployment].append(row["id"])


async def apply_overlap(connection: AsyncConnection, row: Mapping[Any, Any], slots: Slots) -> bool:
    """Apply the overlap policy of the run's schedule; True when it may be claimed now."""
    from vibepiper.orchestration.scheduling import decide_overlap

    policy = (
        slots.policies.get(row["deployment_schedule_id"]) if row["deployment_schedule_id"] else None
    )
    if policy is None or policy == "allow":
        return True
    deployment = row["deployment_id"]
    if deployment not in slots.active:
        slots.active[deployment] = await claims.active_runs(connection, deployment)
    waiting = slots.waiting.setdefault(deployment, [])
    decision = decide_overlap(
        policy,  # type: ignore[arg-type]
        active_run_ids=slots.active[deployment],
        waiting_run_ids=waiting,
    )
    if decision.action == "start":
        return True
    if decision.action == "wait":
        waiting.append(row["id"])
        return False
    if decision.action == "skip":
        state: State[Any] = State(StateType.CANCELLED, message=decision.reason)
        await transition(connection, row, state, expect_type="SCHEDULED")
        return False
    await _cancel_previous(connection, decision.cancel_ids, decision.reason)
    return True


async def _cancel_previous(
    connection: AsyncConnection, run_ids: Sequence[uuid.UUID], reason: str
) -> None:
    from vibepiper.server.services.cancellation import cancel_row

    for run_id in run_ids:
        previous = await flow_runs.get_for_update(connection, run_id)
        if previous is not None:
            await cancel_row(connection, previous, reason)

"""Prefect's arguments turned into the API's requests (no I/O), so the client's methods
keep Prefect's signatures over the API's own calls.

- A `State` proposed for a run becomes a `SetState`; a new proposal every time (its id
  is left to the server), as Prefect sends one.
- `update_flow_run(...)` and `create_flow_run_from_deployment(...)` keywords become their
  request bodies; what the API does not hold (`empirical_policy`, `context`, ...) is
  refused by name rather than dropped.
- Tag concurrency limits are the API's limits named `tag:<TAG>` (kind "tag"). Creating
  one that exists sets its size, as Prefect's server does; `active_slots` are the task
  runs holding its leases.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any, TypeVar

from vibepiper.client import _filters, _layer
from vibepiper.client._layer import Call, Plan
from vibepiper.client.errors import ApiConflict
from vibepiper.client.schemas import filters as pf
from vibepiper.client.schemas import objects
from vibepiper.schemas import api
from vibepiper.schemas import api_concurrency as conc
from vibepiper.schemas import api_filters as af
from vibepiper.schemas import deployments as dep
from vibepiper.schemas.concurrency import TAG_PREFIX, tag_limit_name
from vibepiper.schemas.serialization import to_jsonable
from vibepiper.states import State, StateType

_TASK_RUN_HOLDER = re.compile(r"^task run ([0-9a-fA-F-]{36})\b")


# --- ids and filters -------------------------------------------------------------------
def object_id(value: uuid.UUID | str) -> uuid.UUID:
    """An id given as a UUID or its text (Prefect accepts both)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def flow_run_query(
    query: af.FlowRunFilter | pf.FlowRunFilter | None, **prefect: Any
) -> af.FlowRunFilter:
    """`query` (the API's own filter), or the one Prefect's filters describe."""
    if isinstance(query, pf.FlowRunFilter):
        query, prefect = None, _with(prefect, "flow_run_filter", query)
    return _filters.flow_run_query(**prefect) if query is None else _native(query, prefect)


def task_run_query(
    query: af.TaskRunFilter | pf.TaskRunFilter | None, **prefect: Any
) -> af.TaskRunFilter:
    """`query` (the API's own filter), or the one Prefect's filters describe."""
    if isinstance(query, pf.TaskRunFilter):
        query, prefect = None, _with(prefect, "task_run_filter", query)
    return _filters.task_run_query(**prefect) if query is None else _native(query, prefect)


def deployment_query(
    query: dep.DeploymentFilter | pf.DeploymentFilter | None, **prefect: Any
) -> dep.DeploymentFilter:
    """`query` (the API's own filter), or the one Prefect's filters describe."""
    if isinstance(query, pf.DeploymentFilter):
        query, prefect = None, _with(prefect, "deployment_filter", query)
    return _filters.deployment_query(**prefect) if query is None else _native(query, prefect)


def log_query(
    log_filter: af.LogFilter | pf.LogFilter | None,
    limit: int | None,
    offset: int | None,
    sort: Any,
) -> af.LogFilter:
    """The API's log filter: `log_filter` itself, or what Prefect's arguments ask."""
    if isinstance(log_filter, af.LogFilter):
        return _native(log_filter, {"limit": limit, "offset": offset})
    return _filters.log_query(log_filter, limit, offset, sort)


_F = TypeVar("_F")


def _native(query: _F, prefect: dict[str, Any]) -> _F:
    """The API's own filter, when no Prefect argument is given beside it."""
    if any(value not in (None, 0) for value in prefect.values()):
        raise TypeError("give the API's own filter or Prefect's filter arguments, not both")
    return query


def _with(prefect: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    if prefect.get(name) is not None:
        raise TypeError(f"{type(value).__name__} given twice (positionally and as {name}=)")
    return {**prefect, name: value}


# --- states ----------------------------------------------------------------------------
def state_create(state: State[Any]) -> api.StateCreate:
    """The API's form of a state a client proposes."""
    return api.StateCreate(
        type=state.type,
        name=state.name,
        message=state.message,
        state_details=state.state_details.to_json(),
    )


def set_state(state: State[Any] | api.SetState, force: bool) -> api.SetState:
    """The body proposing `state` (a `State`, or the API's `SetState` as it is)."""
    if isinstance(state, api.SetState):
        return state.model_copy(update={"force": True}) if force else state
    if not isinstance(state, State):
        raise TypeError(f"state must be a vibepiper.states.State, got {type(state).__name__}")
    return api.SetState(state=state_create(state), force=force)


# --- flow runs -------------------------------------------------------------------------
def flow_run_update(
    *,
    flow_version: str | None,
    parameters: dict[str, Any] | None,
    name: str | None,
    tags: Iterable[str] | None,
    empirical_policy: Any,
    infrastructure_pid: str | None,
    job_variables: dict[str, Any] | None,
) -> api.FlowRunUpdate:
    """The body of `update_flow_run`; what a flow run does not hold is refused."""
    _refuse(
        "update_flow_run",
        empirical_policy=(empirical_policy, "retries are set on the flow: @flow(retries=...)"),
        infrastructure_pid=(infrastructure_pid, "the worker or process running it sets it"),
        job_variables=(job_variables, "they belong to the deployment's run request"),
    )
    return api.FlowRunUpdate(
        name=name,
        tags=list(tags) if tags is not None else None,
        parameters=to_jsonable(parameters) if parameters is not None else None,
        flow_version=flow_version,
    )


def deployment_run(
    body: dep.DeploymentFlowRunCreate | None,
    *,
    parameters: dict[str, Any] | None,
    context: dict[str, Any] | None,
    state: State[Any] | None,
    name: str | None,
    tags: Iterable[str] | None,
    idempotency_key: str | None,
    parent_task_run_id: uuid.UUID | None,
    work_queue_name: str | None,
    job_variables: dict[str, Any] | None,
) -> dep.DeploymentFlowRunCreate | None:
    """The body of `create_flow_run_from_deployment`: `body` as given, or the one
    Prefect's keywords describe (not both)."""
    fields: dict[str, Any] = {
        "parameters": to_jsonable(parameters) if parameters is not None else None,
        "name": name,
        "tags": list(tags) if tags is not None else None,
        "idempotency_key": idempotency_key,
        "parent_task_run_id": parent_task_run_id,
        "job_variables": job_variables,
    }
    given = {key: value for key, value in fields.items() if value is not None}
    if body is not None:
        if given or state is not None or context or work_queue_name is not None:
            raise TypeError("give either a DeploymentFlowRunCreate body or keywords, not both")
        return body
    _refuse(
        "create_flow_run_from_deployment",
        context=(context or None, "a run's context is not stored"),
        work_queue_name=(work_queue_name, "a run waits in its deployment's queue"),
    )
    if state is not None:
        given["state"] = state_create(state)
        scheduled = state.state_details.scheduled_time
        if state.type is StateType.SCHEDULED and scheduled is not None:
            given["scheduled_time"] = scheduled
    return dep.DeploymentFlowRunCreate.model_validate(given) if given else None


def _refuse(method: str, **given: tuple[Any, str]) -> None:
    for argument, (value, reason) in given.items():
        if value is not None:
            raise ValueError(f"{method}: {argument} is not supported by VibePiper ({reason})")


# --- tag concurrency limits ------------------------------------------------------------
def create_tag_limit(tag: str, concurrency_limit: int) -> Plan[uuid.UUID]:
    """Create the limit on `tag`, or set its size when it exists; its id."""
    name = tag_limit_name(tag)
    body = conc.ConcurrencyLimitCreate(name=name, limit=concurrency_limit, kind="tag")
    try:
        created: conc.ConcurrencyLimitRead = yield _layer.create_limit(body)
        return created.id
    except ApiConflict:
        pass
    change = conc.ConcurrencyLimitUpdate(limit=concurrency_limit)
    updated: conc.ConcurrencyLimitRead = yield _layer.update_concurrency_limit(name, change)
    return updated.id


def read_tag_limit(tag: str) -> Plan[objects.ConcurrencyLimit]:
    """The limit on `tag` with the task runs holding its slots."""
    limit: conc.ConcurrencyLimitRead = yield _layer.read_concurrency_limit(tag_limit_name(tag))
    leases: list[conc.SlotLeaseRead] = yield _layer.read_slot_leases(limit.name)
    return tag_limit(limit, leases)


def read_tag_limits(limit: int, offset: int) -> Plan[list[objects.ConcurrencyLimit]]:
    """A page of the tag limits (by tag), each with the task runs holding its slots."""
    every: list[conc.ConcurrencyLimitRead] = yield _layer.read_limits("tag")
    page = []
    for found in every[offset : offset + limit]:
        leases: list[conc.SlotLeaseRead] = yield _layer.read_slot_leases(found.name)
        page.append(tag_limit(found, leases))
    return page


def delete_tag_limit(tag: str) -> Call[None]:
    return _layer.delete_concurrency_limit(tag_limit_name(tag))


def reset_tag_limit(tag: str, slot_override: list[uuid.UUID | str] | None) -> Plan[None]:
    """Free the limit's slots, but those held by the task runs in `slot_override`."""
    name = tag_limit_name(tag)
    if slot_override is None:
        yield _layer.reset_concurrency_limit(name)
        return
    keep = {str(run_id).lower() for run_id in slot_override}
    leases: list[conc.SlotLeaseRead] = yield _layer.read_slot_leases(name)
    for lease in leases:
        if _task_run(lease.holder) not in keep:
            yield _layer.release_lease(lease.lease_id)


def tag_limit(
    limit: conc.ConcurrencyLimitRead, leases: list[conc.SlotLeaseRead]
) -> objects.ConcurrencyLimit:
    """Prefect's view of a tag limit and its live leases."""
    holders = [_task_run(lease.holder) for lease in leases]
    return objects.ConcurrencyLimit(
        id=limit.id,
        tag=limit.name.removeprefix(TAG_PREFIX),
        concurrency_limit=limit.limit,
        active=limit.active,
        active_slots=[uuid.UUID(holder) for holder in holders if holder is not None],
        slots_in_use=sum(lease.occupy for lease in leases),
        created=limit.created,
        updated=limit.updated,
    )


def _task_run(holder: str) -> str | None:
    """The task run id a lease holder names (`task run <id> (host:pid)`), if it does."""
    found = _TASK_RUN_HOLDER.match(holder)
    return found.group(1).lower() if found else None


# --- server ----------------------------------------------------------------------------
def healthcheck() -> Plan[Exception | None]:
    """None when the API answers its health check, else the error (not raised)."""
    try:
        yield _layer.health()
    except Exception as exc:
        return exc
    return None

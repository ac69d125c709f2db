"""Prefect's nested filters (`client.schemas.filters`) turned into the API's flat ones.

Each filter model is walked for the criteria it sets (fields holding something other
than their default); every criterion must be in the table of that object, which names
the API field it becomes. One that is not is refused with `UnsupportedFilter` naming it
and listing the table: a script must never get more runs than it asked for. Lists given
for one API field by two filters (a deployment id in `flow_run_filter` and in
`deployment_filter`) are intersected, as AND asks.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

from vibepiper.client.errors import UnsupportedFilter
from vibepiper.client.schemas import filters as pf
from vibepiper.client.schemas import sorting
from vibepiper.schemas import api_filters as af
from vibepiper.schemas import deployments as dep

DEFAULT_LIMIT = 200
"""Rows a `read_*` method returns when not told (Prefect's server default)."""

Rule = str | Callable[[Any], dict[str, Any]]


def _root_only(is_null: bool) -> dict[str, Any]:
    if not is_null:
        raise UnsupportedFilter(
            "the API cannot select only subflow runs (parent_task_run_id.is_null_=False); "
            "it can select runs that are not subflows (is_null_=True) or those of given "
            "parents (parent_task_run_id.any_, parent_flow_run_id.any_ with one id)"
        )
    return {"root_only": True}


def _one_parent(ids: list[Any]) -> dict[str, Any]:
    if len(ids) != 1:
        raise UnsupportedFilter(
            f"the API selects the subflow runs of one flow run at a time; "
            f"parent_flow_run_id.any_ holds {len(ids)}"
        )
    return {"parent_flow_run_id": ids[0]}


def _tags_any(tags: list[str]) -> dict[str, Any]:
    # no tag at all to match: nothing matches (the API reads an empty list as no filter)
    return {"tags_any": tags} if tags else {"id": []}


RUN_CRITERIA: dict[str, Rule] = {
    "id.any_": "id",
    "name.any_": "name",
    "name.like_": "name_like",
    "tags.all_": "tags_all",
    "tags.any_": _tags_any,
    "state.type.any_": "state_type",
    "state.name.any_": "state_name",
    "start_time.after_": "start_time_after",
    "start_time.before_": "start_time_before",
}
FLOW_RUN_CRITERIA: dict[str, Rule] = {
    **RUN_CRITERIA,
    "deployment_id.any_": "deployment_id",
    "expected_start_time.after_": "expected_start_time_after",
    "expected_start_time.before_": "expected_start_time_before",
    "parent_task_run_id.any_": "parent_task_run_id",
    "parent_task_run_id.is_null_": _root_only,
    "parent_flow_run_id.any_": _one_parent,
}
TASK_RUN_CRITERIA: dict[str, Rule] = {**RUN_CRITERIA, "flow_run_id.any_": "flow_run_id"}
DEPLOYMENT_CRITERIA: dict[str, Rule] = {
    "id.any_": "id",
    "name.like_": "name_like",
    "paused.eq_": "paused",
}
LOG_CRITERIA: dict[str, Rule] = {
    "level.ge_": "level_ge",
    "timestamp.after_": "timestamp_after",
    "timestamp.before_": "timestamp_before",
    "flow_run_id.any_": "flow_run_id",
    "task_run_id.any_": "task_run_id",
}
NOTHING: dict[str, Rule] = {}


def flow_run_query(
    *,
    flow_filter: pf.FlowFilter | None = None,
    flow_run_filter: pf.FlowRunFilter | None = None,
    task_run_filter: pf.TaskRunFilter | None = None,
    deployment_filter: pf.DeploymentFilter | None = None,
    work_pool_filter: pf.WorkPoolFilter | None = None,
    work_queue_filter: pf.WorkQueueFilter | None = None,
    sort: sorting.FlowRunSort | str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> af.FlowRunFilter:
    """The API's flow run filter asking what Prefect's filters ask."""
    what = "flow runs"
    values: dict[str, Any] = {}
    _apply(values, what, flow_run_filter, FLOW_RUN_CRITERIA)
    _apply(values, what, flow_filter, {"id.any_": "flow_id", "name.any_": "flow_name"})
    _apply(values, what, deployment_filter, {"id.any_": "deployment_id"})
    _apply(values, what, work_pool_filter, {"name.any_": "work_pool_name"})
    _apply(values, what, task_run_filter, NOTHING)
    _apply(values, what, work_queue_filter, NOTHING)
    values |= _sort(sort, af.FlowRunSort, what)
    return af.FlowRunFilter.model_validate(values | _page(limit, offset))


def task_run_query(
    *,
    flow_filter: pf.FlowFilter | None = None,
    flow_run_filter: pf.FlowRunFilter | None = None,
    task_run_filter: pf.TaskRunFilter | None = None,
    deployment_filter: pf.DeploymentFilter | None = None,
    sort: sorting.TaskRunSort | str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> af.TaskRunFilter:
    """The API's task run filter asking what Prefect's filters ask."""
    what = "task runs"
    values: dict[str, Any] = {}
    _apply(values, what, task_run_filter, TASK_RUN_CRITERIA)
    _apply(values, what, flow_run_filter, {"id.any_": "flow_run_id"})
    _apply(values, what, flow_filter, NOTHING)
    _apply(values, what, deployment_filter, NOTHING)
    values |= _sort(sort, af.TaskRunSort, what)
    return af.TaskRunFilter.model_validate(values | _page(limit, offset))


def deployment_query(
    *,
    flow_filter: pf.FlowFilter | None = None,
    flow_run_filter: pf.FlowRunFilter | None = None,
    task_run_filter: pf.TaskRunFilter | None = None,
    deployment_filter: pf.DeploymentFilter | None = None,
    work_pool_filter: pf.WorkPoolFilter | None = None,
    work_queue_filter: pf.WorkQueueFilter | None = None,
    sort: sorting.DeploymentSort | str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> dep.DeploymentFilter:
    """The API's deployment filter asking what Prefect's filters ask."""
    what = "deployments"
    if sort is not None:
        raise UnsupportedFilter(
            f"the API cannot sort deployments by {sort}: they come by flow name, then name"
        )
    values: dict[str, Any] = {}
    _apply(values, what, deployment_filter, DEPLOYMENT_CRITERIA)
    _apply(values, what, flow_filter, {"name.any_": "flow_name"})
    _apply(values, what, work_pool_filter, {"name.any_": "work_pool_name"})
    _apply(values, what, flow_run_filter, NOTHING)
    _apply(values, what, task_run_filter, NOTHING)
    _apply(values, what, work_queue_filter, NOTHING)
    return dep.DeploymentFilter.model_validate(values | _page(limit, offset))


def log_query(
    log_filter: pf.LogFilter | None = None,
    limit: int | None = None,
    offset: int | None = None,
    sort: sorting.LogSort | str | None = None,
) -> af.LogFilter:
    """The API's log filter asking what Prefect's `LogFilter` asks."""
    values: dict[str, Any] = {}
    _apply(values, "logs", log_filter, LOG_CRITERIA)
    values |= _sort(sort, af.LogSort, "logs")
    return af.LogFilter.model_validate(values | _page(limit, offset or 0))


def _page(limit: int | None, offset: int) -> dict[str, Any]:
    return {"limit": DEFAULT_LIMIT if limit is None else limit, "offset": offset}


def _sort(sort: enum.Enum | str | None, api_sort: type[enum.Enum], what: str) -> dict[str, Any]:
    """`{"sort": <the API's member>}`, or nothing for the API's default."""
    if sort is None:
        return {}
    value = sort.value if isinstance(sort, enum.Enum) else str(sort)
    try:
        return {"sort": api_sort(value)}
    except ValueError:
        can = ", ".join(member.name for member in api_sort)
        raise UnsupportedFilter(f"the API cannot sort {what} by {value}; it can by {can}") from None


def _apply(
    values: dict[str, Any], what: str, model: BaseModel | None, table: dict[str, Rule]
) -> None:
    """Add to `values` the API fields the criteria of `model` become."""
    if model is None:
        return
    label = type(model).__name__
    for path, value in _criteria(model, label):
        rule = table.get(path)
        if rule is None:
            can = ", ".join(f"{label}.{known}" for known in table) or "nothing"
            raise UnsupportedFilter(
                f"the API cannot filter {what} by {label}.{path}; it can filter them by: {can}"
            )
        for field, value_for_field in (
            {rule: value} if isinstance(rule, str) else rule(value)
        ).items():
            _merge(values, field, value_for_field, what)


def _merge(values: dict[str, Any], field: str, value: Any, what: str) -> None:
    if field not in values:
        values[field] = value
    elif isinstance(values[field], list) and isinstance(value, list):
        values[field] = [item for item in values[field] if item in value]
    else:
        raise UnsupportedFilter(f"two filters ask for the {field} of {what}: give it once")


def _criteria(model: BaseModel, label: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of each criterion `model` sets, depth first."""
    given = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if name == "operator" or value is None or value == field.default:
            continue
        given.append((name, value))
    operator = getattr(model, "operator", pf.Operator.and_)
    if operator == pf.Operator.or_ and len(given) > 1:
        joined = " or ".join(f"{label}.{prefix}{name}" for name, _ in given)
        raise UnsupportedFilter(
            f"the API combines criteria with AND only; cannot ask for {joined} "
            "(read each and join the results)"
        )
    for name, value in given:
        if isinstance(value, BaseModel):
            yield from _criteria(value, label, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value

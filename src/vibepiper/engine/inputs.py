"""Task inputs: find the futures and states inside arguments, record them as edges,
and replace them by their results before the task body runs.

Collections searched: list, tuple, set, frozenset, dict (values). `quote(x)` stops
the search; `allow_failure(x)` lets a failed upstream through as its exception;
`unmapped(x)` is unwrapped; `opaque(x)` resolves a future or state `x` without
searching its result, and passes anything else unsearched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vibepiper.exceptions import UpstreamTaskError
from vibepiper.futures import PrefectFuture
from vibepiper.schemas.runs import TaskRunInput
from vibepiper.states import State, StateType
from vibepiper.utilities.annotations import allow_failure, opaque, quote, unmapped

_LEAF_TYPES = frozenset({int, float, str, bytes, bool, type(None), complex})
_SEQUENCES = (list, tuple, set, frozenset)


def collect_refs(value: Any, out: list[TaskRunInput]) -> None:
    """Append an edge for every future or state found in `value`."""
    kind = type(value)
    if kind in _LEAF_TYPES:
        return
    if isinstance(value, PrefectFuture):
        out.append(TaskRunInput("task_run", value.task_run_id))
    elif isinstance(value, State):
        details = value.state_details
        if details.task_run_id is not None:
            out.append(TaskRunInput("task_run", details.task_run_id))
        elif details.flow_run_id is not None:
            out.append(TaskRunInput("flow_run", details.flow_run_id))
    elif isinstance(value, quote):
        return
    elif isinstance(value, allow_failure | unmapped):
        collect_refs(value.value, out)
    elif isinstance(value, opaque):
        if isinstance(value.value, PrefectFuture | State):
            collect_refs(value.value, out)
    elif isinstance(value, _SEQUENCES):
        for item in value:
            collect_refs(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            collect_refs(item, out)


def task_inputs(parameters: dict[str, Any], wait_for: Any = None) -> dict[str, list[TaskRunInput]]:
    """The input edges of a task run: per parameter, the upstream runs feeding it."""
    edges: dict[str, list[TaskRunInput]] = {}
    for name, value in parameters.items():
        if type(value) in _LEAF_TYPES:
            continue
        refs: list[TaskRunInput] = []
        collect_refs(value, refs)
        if refs:
            edges[name] = refs
    if wait_for:
        refs = []
        collect_refs(list(wait_for), refs)
        if refs:
            edges["wait_for"] = refs
    return edges


def upstream_futures(values: Any) -> list[PrefectFuture[Any]]:
    """Every future inside `values` (to wait for before a task may start)."""
    found: list[PrefectFuture[Any]] = []
    _find_futures(values, found)
    return found


def _find_futures(value: Any, out: list[PrefectFuture[Any]]) -> None:
    kind = type(value)
    if kind in _LEAF_TYPES:
        return
    if isinstance(value, PrefectFuture):
        out.append(value)
    elif isinstance(value, allow_failure | unmapped):
        _find_futures(value.value, out)
    elif isinstance(value, opaque):
        if isinstance(value.value, PrefectFuture):
            out.append(value.value)
    elif isinstance(value, _SEQUENCES):
        for item in value:
            _find_futures(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _find_futures(item, out)


def _state_value(state: State[Any], label: str, allow_failed: bool) -> Any:
    if state.type is StateType.COMPLETED:
        return state.result(_sync=True)
    if allow_failed and state.is_final():
        return state.result(raise_on_failure=False, _sync=True)
    raise UpstreamTaskError(
        f"Upstream {label} did not reach a 'COMPLETED' state "
        f"(it is {state.name}{': ' + state.message if state.message else ''})."
    )


def resolve(value: Any, allow_failed: bool = False) -> Any:
    """`value` with every future and state replaced by its result.

    Raises:
        UpstreamTaskError: an upstream run did not complete (and was not `allow_failure`).
    """
    kind = type(value)
    if kind in _LEAF_TYPES:
        return value
    if isinstance(value, PrefectFuture):
        value.wait()
        return _state_value(value.state, _label(value), allow_failed)
    if isinstance(value, State):
        return _state_value(value, f"run in state {value.name}", allow_failed)
    if isinstance(value, quote):
        return value.value
    if isinstance(value, opaque):
        inner = value.value
        if isinstance(inner, PrefectFuture | State):
            return resolve(inner, allow_failed)  # its result, not searched
        return inner
    if isinstance(value, allow_failure):
        return resolve(value.value, True)
    if isinstance(value, unmapped):
        return resolve(value.value, allow_failed)
    if isinstance(value, _SEQUENCES):
        items = [resolve(item, allow_failed) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return _rebuild(value, items)
    if kind is dict:
        resolved = {key: resolve(item, allow_failed) for key, item in value.items()}
        if all(resolved[key] is item for key, item in value.items()):
            return value
        return resolved
    return value


def _label(future: PrefectFuture[Any]) -> str:
    task_run = getattr(future, "task_run", None)  # the task runners' futures hold it
    if task_run is not None:
        return f"task run {task_run.name!r}"
    return f"task run {future.task_run_id}"


def _rebuild(original: Any, items: list[Any]) -> Any:
    kind = type(original)
    if kind in (list, tuple, set, frozenset):
        return kind(items)
    if isinstance(original, tuple) and hasattr(original, "_fields"):
        return kind(*items)  # a named tuple
    if isinstance(original, list):
        return list(items)  # e.g. a PrefectFutureList becomes the list of results
    base = next(t for t in (tuple, set, frozenset) if isinstance(original, t))
    return base(items)


def resolve_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Resolve every parameter value (see `resolve`)."""
    out = parameters
    for name, value in parameters.items():
        if type(value) in _LEAF_TYPES:
            continue
        new = resolve(value)
        if new is not value:
            if out is parameters:
                out = dict(parameters)
            out[name] = new
    return out


def wait_for_upstream(wait_for: Any) -> None:
    """Wait for `wait_for` futures; raise UpstreamTaskError if one did not complete."""
    for item in wait_for or ():
        resolve(item)


def map_futures(expr: Any, fn: Callable[[PrefectFuture[Any]], Any]) -> Any:
    """A copy of `expr` with every future replaced by `fn(future)`."""
    if isinstance(expr, PrefectFuture):
        return fn(expr)
    if isinstance(expr, _SEQUENCES):
        return _rebuild(expr, [map_futures(item, fn) for item in expr])
    if type(expr) is dict:
        return {key: map_futures(item, fn) for key, item in expr.items()}
    return expr

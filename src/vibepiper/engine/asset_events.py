"""The asset events of a finished materialization, shaped as the assets contract says.

For each materializing task run: one `vibepiper.asset.referenced` per asset it read,
one `vibepiper.asset.materialization.succeeded|failed` per asset it materialized, and
one `vibepiper.asset.check.passed|failed` per check that ran. They go to the run's
store like any emitted event (queued, batched, never a round trip).

A flow materializing thousands of assets emits thousands of these, so they skip the
validation `vibepiper.events.emit_event` does: every label here is built by this module
from validated keys and names, and metadata is made JSON-ready when it is added. The
parts events share are made once: an asset's resource (per asset), a check's related
resource (per check), the flow run's, flow's and deployment's (per flow run).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from vibepiper.schemas.events import Event, RelatedResource, Resource
from vibepiper.utilities.ids import new_id

if TYPE_CHECKING:
    from vibepiper.assets.checks import AssetCheck
    from vibepiper.assets.core import Asset
    from vibepiper.engine.assets import Materialization
    from vibepiper.engine.task_engine import TaskRunEngine

__all__ = ["emit_materialization"]

_ID = "vibepiper.resource.id"
_ROLE = "vibepiper.resource.role"
_NAME = "vibepiper.resource.name"
_FIELDS = ("occurred", "event", "resource", "related", "payload", "id", "follows")
_new = object.__new__
_setattr = object.__setattr__


def _fast_event(
    name: str, resource: Resource, related: list[RelatedResource], payload: Any, when: Any
) -> Event:
    """An `Event` from parts known to be valid, as `Event.model_construct` makes it, at
    half its cost (its defaults and field walk are not needed)."""
    built = _new(Event)
    _setattr(
        built,
        "__dict__",
        {
            "occurred": when,
            "event": name,
            "resource": resource,
            "related": related,
            "payload": payload,
            "id": new_id(),
            "follows": None,
        },
    )
    _setattr(built, "__pydantic_fields_set__", set(_FIELDS))
    _setattr(built, "__pydantic_extra__", None)
    _setattr(built, "__pydantic_private__", None)
    return built


def _fast_related(labels: dict[str, str]) -> RelatedResource:
    """`RelatedResource.model_construct(labels)`, at half its cost."""
    built = _new(RelatedResource)
    _setattr(built, "__dict__", {"root": labels})
    _setattr(built, "__pydantic_fields_set__", {"root"})
    return built


def _checked_event(
    name: str, resource: Resource, related: list[RelatedResource], payload: Any, when: Any
) -> Event:
    return Event.model_construct(
        occurred=when,
        event=name,
        resource=resource,
        related=related,
        payload=payload,
        id=new_id(),
        follows=None,
    )


def _checked_related(labels: dict[str, str]) -> RelatedResource:
    return RelatedResource.model_construct(labels)


def _same(fast: Any, slow: Any) -> bool:
    return bool(
        fast.__dict__.keys() == slow.__dict__.keys()
        and fast.model_fields_set == slow.model_fields_set
        and fast.__pydantic_extra__ == slow.__pydantic_extra__
        and fast.__pydantic_private__ == slow.__pydantic_private__
        and fast.model_dump(exclude={"id"}) == slow.model_dump(exclude={"id"})
    )


def _pick_builders() -> tuple[Any, Any]:
    """The fast builders if they make what pydantic's `model_construct` makes (a pydantic
    release may change its internals), else `model_construct`."""
    when = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    labels = {_ID: "x://y", _ROLE: "r"}
    try:
        related = _fast_related(labels)
        fine = _same(related, _checked_related(labels))
        resource = Resource.model_construct({_ID: "x://y"})
        fast = _fast_event("a.b", resource, [related], {"k": 1}, when)
        fine = fine and _same(fast, _checked_event("a.b", resource, [related], {"k": 1}, when))
        fine = fine and bool(fast.model_dump_json())
    except Exception:  # pragma: no cover - only a pydantic change gets here
        fine = False
    if fine:
        return _fast_event, _fast_related
    return _checked_event, _checked_related  # pragma: no cover


_event, _related = _pick_builders()


def _resource(asset: Asset) -> Resource:
    cached: Resource | None = getattr(asset, "_event_resource", None)
    if cached is None:
        cached = Resource.model_construct(asset.resource_labels())
        object.__setattr__(asset, "_event_resource", cached)
    return cached


def _check_related(check: AssetCheck) -> RelatedResource:
    cached: RelatedResource | None = getattr(check, "_event_related", None)
    if cached is None:
        cached = _related({_ID: f"vibepiper.asset-check.{check.name}", _ROLE: "asset-check"})
        check._event_related = cached
    return cached


def _run_related(engine: TaskRunEngine, materialization: Materialization) -> list[RelatedResource]:
    """The flow run, task run, flow and deployment of the run's events, in that order."""
    run = engine.task_run
    task_run = _related({_ID: f"vibepiper.task-run.{run.id}", _ROLE: "task-run", _NAME: run.name})
    run_assets = materialization.run_assets
    flow_ctx = engine.flow_ctx
    if flow_ctx is None or run_assets is None:
        return [task_run]
    shared = run_assets.related
    if shared is None:
        flow_run = flow_ctx.flow_run
        labels = [
            {_ID: f"vibepiper.flow-run.{flow_run.id}", _ROLE: "flow-run", _NAME: flow_run.name},
            {_ID: f"vibepiper.flow.{flow_run.flow_id}", _ROLE: "flow", _NAME: flow_run.flow_name},
        ]
        if flow_run.deployment_id is not None:
            labels.append(
                {_ID: f"vibepiper.deployment.{flow_run.deployment_id}", _ROLE: "deployment"}
            )
        shared = run_assets.related = [_related(item) for item in labels]
    return [shared[0], task_run, *shared[1:]]


def emit_materialization(
    engine: TaskRunEngine, materialization: Materialization, status: str
) -> None:
    """Queue the events of a materialization that `status` ("succeeded" or "failed")."""
    assets = materialization.downstream or []
    state = engine.state
    emit = engine.store.emit_event
    run_related = _run_related(engine, materialization)
    occurred = materialization.materialized or state.timestamp
    upstream = materialization.upstream
    if upstream:
        downstream = [_related({_ID: asset.key, _ROLE: "asset"}) for asset in assets]
        for asset in upstream.values():
            emit(
                _event(
                    "vibepiper.asset.referenced",
                    _resource(asset),
                    [*downstream, *run_related],
                    {},
                    occurred,
                )
            )
    related = [_related({_ID: key, _ROLE: "asset"}) for key in upstream]
    by = getattr(engine.task, "materialized_by", None)
    if by is not None:
        related.append(
            _related({_ID: f"vibepiper.asset-materialized-by.{by}", _ROLE: "asset-materialized-by"})
        )
    related.extend(run_related)
    error = None if status == "succeeded" else (state.message or state.name)
    name = f"vibepiper.asset.materialization.{status}"
    for asset in assets:
        payload: dict[str, Any] = {"metadata": materialization.metadata.get(asset.key) or {}}
        if error is not None:
            payload["error"] = error
        emit(_event(name, _resource(asset), related, payload, occurred))
    for asset, check, result, when in materialization.checks:
        payload = {
            "check": check.name,
            "severity": result.severity or check.severity,
            "blocking": check.blocking,
            "description": result.description,
            "metadata": result.metadata,
        }
        emit(
            _event(
                "vibepiper.asset.check.passed" if result.passed else "vibepiper.asset.check.failed",
                _resource(asset),
                [_check_related(check), *run_related],
                payload,
                when,
            )
        )

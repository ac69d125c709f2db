"""The asset events of a finished materialization, shaped as the assets contract says.

For each materializing task run: one `vibepiper.asset.referenced` per asset it read,
one `vibepiper.asset.materialization.succeeded|failed` per asset it materialized, and
one `vibepiper.asset.check.passed|failed` per check that ran. They go to the run's
store like any emitted event (queued, batched, never a round trip).

A flow materializing thousands of assets emits thousands of these, so they are written
here as the text a store records (`EncodedEvent`), not as `Event` models: building,
keeping alive until the store's writer takes them and encoding the models cost a
materializing task run about as much as the rest of its run (benchmarks/HISTORY.md,
2026-12-07). Every label is built from validated keys and names, metadata is made
JSON-ready when it is added, and the text parts events share are made once: an asset's
resource (per asset), a check's related resource (per check), the flow run's, flow's and
deployment's (per flow run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vibepiper.orchestration.state_events import name_labels, related_json
from vibepiper.schemas.encoded_events import EncodedEvent
from vibepiper.utilities.ids import new_id
from vibepiper.utilities.stored_text import encode_json, encode_timestamp

if TYPE_CHECKING:
    from vibepiper.assets.checks import AssetCheck
    from vibepiper.assets.core import Asset
    from vibepiper.engine.assets import Materialization
    from vibepiper.engine.task_engine import TaskRunEngine

__all__ = ["emit_materialization"]


def _related(resource_id: str, role: str, name: str | None = None) -> str:
    return related_json(resource_id, role, name_labels(name))


def _resource(asset: Asset) -> str:
    text: str | None = asset._event_resource
    if text is None:
        text = encode_json(asset.resource_labels())
        object.__setattr__(asset, "_event_resource", text)
    return text


def _check_related(check: AssetCheck) -> str:
    text: str | None = check._event_related
    if text is None:
        text = check._event_related = _related(f"vibepiper.asset-check.{check.name}", "asset-check")
    return text


def _run_related(engine: TaskRunEngine, materialization: Materialization) -> str:
    """The flow run, task run, flow and deployment of the run's events, in that order,
    as the inside of a JSON list."""
    run = engine.task_run
    task_run = _related(f"vibepiper.task-run.{run.id}", "task-run", run.name)
    run_assets = materialization.run_assets
    flow_ctx = engine.flow_ctx
    if flow_ctx is None or run_assets is None:
        return task_run
    shared = run_assets.related
    if shared is None:
        flow_run = flow_ctx.flow_run
        rest = _related(f"vibepiper.flow.{flow_run.flow_id}", "flow", flow_run.flow_name)
        if flow_run.deployment_id is not None:
            rest += "," + _related(f"vibepiper.deployment.{flow_run.deployment_id}", "deployment")
        flow_run_text = _related(f"vibepiper.flow-run.{flow_run.id}", "flow-run", flow_run.name)
        shared = run_assets.related = (flow_run_text, rest)
    return f"{shared[0]},{task_run},{shared[1]}"


def emit_materialization(
    engine: TaskRunEngine, materialization: Materialization, status: str
) -> None:
    """Queue the events of a materialization that `status` ("succeeded" or "failed")."""
    assets = materialization.downstream or []
    state = engine.state
    emit = engine.store.emit_event
    run_related = _run_related(engine, materialization)
    occurred = encode_timestamp(materialization.materialized or state.timestamp)
    upstream = materialization.upstream
    if upstream:
        downstream = "".join(_related(asset.key, "asset") + "," for asset in assets)
        for asset in upstream.values():
            emit(
                EncodedEvent(
                    str(new_id()),
                    occurred,
                    "vibepiper.asset.referenced",
                    asset.key,
                    _resource(asset),
                    f"[{downstream}{run_related}]",
                    "{}",
                )
            )
    related = "".join(_related(key, "asset") + "," for key in upstream)
    by = getattr(engine.task, "materialized_by", None)
    if by is not None:
        related += _related(f"vibepiper.asset-materialized-by.{by}", "asset-materialized-by") + ","
    related = f"[{related}{run_related}]"
    error = None if status == "succeeded" else (state.message or state.name)
    name = f"vibepiper.asset.materialization.{status}"
    for asset in assets:
        payload: dict[str, Any] = {"metadata": materialization.metadata.get(asset.key) or {}}
        if error is not None:
            payload["error"] = error
        emit(
            EncodedEvent(
                str(new_id()),
                occurred,
                name,
                asset.key,
                _resource(asset),
                related,
                encode_json(payload),
            )
        )
    for asset, check, result, when in materialization.checks:
        payload = {
            "check": check.name,
            "severity": result.severity or check.severity,
            "blocking": check.blocking,
            "description": result.description,
            "metadata": result.metadata,
        }
        emit(
            EncodedEvent(
                str(new_id()),
                encode_timestamp(when),
                "vibepiper.asset.check.passed" if result.passed else "vibepiper.asset.check.failed",
                asset.key,
                _resource(asset),
                f"[{_check_related(check)},{run_related}]",
                encode_json(payload),
            )
        )

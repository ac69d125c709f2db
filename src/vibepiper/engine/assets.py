"""The task engine's asset hook: lineage, checks and asset events of a task run.

`TaskRunEngine` calls it only for a task that reads or materializes assets (its
`asset_deps` is not None) or that runs in a flow run where one already did (the flow
run's `assets` is set): every other task run pays one or two attribute reads.

- `begin` (before the first attempt, inputs resolved): the assets the run reads,
  inferred from its inputs (a future of, or the very value returned by, a task run
  upstream that materialized or read assets) and declared with `asset_deps`; what the
  run passes downstream (a materialization: its assets, any other task: what it read).
  A run reading an asset whose blocking check failed in this flow run does not start.
- `after_body` (the body returned): the checks of the materialized assets run; a failed
  blocking error-level check fails the attempt (as an exception would).
- `finish` (final state): the `referenced`, `materialization.*` and `check.*` events,
  shaped as the assets contract says, queued on the run's store without validation.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from vibepiper.assets.checks import AssetCheckFailed, CheckResult, checks_for
from vibepiper.context import TaskRunContext
from vibepiper.exceptions import UpstreamTaskError
from vibepiper.states import Pending, State, StateType

if TYPE_CHECKING:
    from vibepiper.assets.checks import AssetCheck
    from vibepiper.assets.core import Asset
    from vibepiper.engine.task_engine import TaskRunEngine

__all__ = [
    "Materialization",
    "RunAssets",
    "after_body",
    "begin",
    "current_materialization",
    "finish",
]

_log = logging.getLogger("vibepiper.assets")
_ID = "vibepiper.resource.id"
_ROLE = "vibepiper.resource.role"
_NAME = "vibepiper.resource.name"
# values whose identity says nothing of where they came from (cached, shared objects)
_UNTRACKED = frozenset({type(None), bool, int, float, complex})
_COLLECTIONS = (list, tuple, set, frozenset)
_MAX_ITEMS = 1000  # items of a collection argument searched for upstream values


class RunAssets:
    """The asset lineage of one flow run, shared by its task runs (any thread)."""

    __slots__ = ("blocked", "by_task_run", "by_value", "related")

    def __init__(self) -> None:
        # what each task run passes downstream, by task run id
        self.by_task_run: dict[uuid.UUID, dict[str, Asset]] = {}
        # the same by returned value: id(value) -> (value, assets); the value is held so
        # that its id is not reused while the flow run lasts
        self.by_value: dict[int, tuple[Any, dict[str, Asset]]] = {}
        # assets that must not be read in this run, with why
        self.blocked: dict[str, str] = {}
        # the JSON of the related resources its asset events share: the flow run's, and
        # the flow's and deployment's (see asset_events)
        self.related: tuple[str, str] | None = None


class Materialization:
    """The asset side of one task run."""

    __slots__ = (
        "blocking",
        "checks",
        "downstream",
        "materialized",
        "metadata",
        "passes",
        "run_assets",
        "upstream",
    )

    def __init__(
        self,
        run_assets: RunAssets | None,
        upstream: dict[str, Asset],
        downstream: list[Asset] | None,
    ) -> None:
        self.run_assets = run_assets
        self.upstream = upstream
        self.downstream = downstream  # None: the task materializes nothing
        self.passes = upstream if downstream is None else {asset.key: asset for asset in downstream}
        self.metadata: dict[str, dict[str, Any]] = {}
        # (asset, check, result, when) of each check run, in order
        self.checks: list[tuple[Asset, AssetCheck, CheckResult, dt.datetime]] = []
        self.materialized: dt.datetime | None = None
        # the keys its last attempt's blocking checks failed on
        self.blocking: list[str] = []

    def add_metadata(self, key: str, metadata: dict[str, Any]) -> None:
        if self.downstream is None or all(asset.key != key for asset in self.downstream):
            raise ValueError(
                f"Can only add metadata to assets that are arguments to @materialize: this "
                f"task does not materialize {key!r}"
            )
        if not isinstance(metadata, dict):
            raise TypeError(f"Asset metadata must be a dict, got {type(metadata).__name__}")
        try:
            recordable = _jsonable(metadata)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Metadata of asset {key!r} cannot be recorded as JSON: {exc}"
            ) from None
        self.metadata.setdefault(key, {}).update(recordable)


_active: dict[uuid.UUID, Materialization] = {}


def current_materialization() -> Materialization | None:
    """The materialization of the task run the caller runs in, if it materializes."""
    ctx = TaskRunContext.get()
    if ctx is None:
        return None
    return _active.get(ctx.task_run.id)


_run_assets_lock = threading.Lock()


def _run_assets(engine: TaskRunEngine) -> RunAssets | None:
    flow_ctx = engine.flow_ctx
    if flow_ctx is None:
        return None
    found = flow_ctx.assets
    if found is None:
        with _run_assets_lock:
            found = flow_ctx.assets
            if found is None:
                found = flow_ctx.assets = RunAssets()
    return found  # type: ignore[no-any-return]


def begin(engine: TaskRunEngine) -> bool:
    """Work out what the run reads and passes on; False: it must not start."""
    task = engine.task
    run_assets = _run_assets(engine)
    upstream: dict[str, Asset] = {}
    if run_assets is not None:
        _inferred(engine, run_assets, upstream)
    for asset in task.asset_deps or ():
        upstream.setdefault(asset.key, asset)
    downstream: list[Asset] | None = getattr(task, "assets", None)
    if downstream is None and not upstream:
        return True  # reads no asset: nothing to record
    run = engine.task_run
    if run_assets is not None and run_assets.blocked:
        reason = next((run_assets.blocked[k] for k in upstream if k in run_assets.blocked), None)
        if reason is not None:
            for asset in downstream or ():
                run_assets.blocked.setdefault(
                    asset.key, f"asset {asset.key!r} was not materialized: {reason}"
                )
            error = UpstreamTaskError(f"Upstream asset check failed: {reason}")
            engine._set(Pending(name="NotReady", message=str(error), data=error), force=True)
            engine.logger.warning("Task run did not start: %s", error)
            return False
    materialization = Materialization(run_assets, upstream, downstream)
    if run_assets is not None and materialization.passes:
        run_assets.by_task_run[run.id] = materialization.passes
    engine.assets = materialization
    if downstream is not None:
        _active[run.id] = materialization
    return True


def _inferred(engine: TaskRunEngine, run_assets: RunAssets, out: dict[str, Asset]) -> None:
    """Add to `out` the assets passed on by the runs and values feeding this run."""
    by_task_run = run_assets.by_task_run
    if by_task_run:
        for edges in engine.task_run.task_inputs.values():
            for edge in edges:
                if edge.id is not None:
                    found = by_task_run.get(edge.id)
                    if found:
                        out.update(found)
    by_value = run_assets.by_value
    if not by_value:
        return
    for value in engine.parameters.values():
        kind = type(value)
        if kind in _UNTRACKED:
            continue
        _match(value, by_value, out)
        if kind in _COLLECTIONS:
            for index, item in enumerate(value):
                if index == _MAX_ITEMS:
                    break
                if type(item) not in _UNTRACKED:
                    _match(item, by_value, out)
        elif kind is dict:
            for index, item in enumerate(value.values()):
                if index == _MAX_ITEMS:
                    break
                if type(item) not in _UNTRACKED:
                    _match(item, by_value, out)


def _match(
    value: Any, by_value: dict[int, tuple[Any, dict[str, Asset]]], out: dict[str, Any]
) -> None:
    hit = by_value.get(id(value))
    if hit is not None and hit[0] is value:
        out.update(hit[1])


def after_body(engine: TaskRunEngine, value: Any) -> BaseException | None:
    """Run the checks of what the body materialized and note its value for lineage;
    the error that fails the attempt when a blocking check failed, else None."""
    materialization: Materialization = engine.assets
    if isinstance(value, State):
        if value.type is not StateType.COMPLETED:
            return None
        value = value.result(_sync=True)
    failure = None
    if materialization.downstream is not None:
        materialization.materialized = dt.datetime.now(dt.UTC)
        failure = _run_checks(engine, materialization, value)
    run_assets = materialization.run_assets
    if failure is None and run_assets is not None and materialization.passes:
        _note_value(run_assets, value, materialization.passes)
    return failure


def _note_value(run_assets: RunAssets, value: Any, passes: dict[str, Asset]) -> None:
    kind = type(value)
    if kind in _UNTRACKED:
        return
    by_value = run_assets.by_value
    by_value[id(value)] = (value, passes)
    if kind is tuple or kind is list:  # `a, b = materialize_both()` passes each on
        for item in value[:_MAX_ITEMS]:
            if type(item) not in _UNTRACKED:
                by_value[id(item)] = (item, passes)


def _value_of(value: Any, index: int, count: int) -> Any:
    """What a task materializing `count` assets returned for the `index`-th: the item of
    a tuple or list of that length, else the whole value."""
    if count > 1 and isinstance(value, tuple | list) and len(value) == count:
        return value[index]
    return value


def _run_checks(
    engine: TaskRunEngine, materialization: Materialization, value: Any
) -> AssetCheckFailed | None:
    assets = materialization.downstream or []
    failed: dict[str, str] = {}  # asset key -> why it may not be read (blocking failures)
    messages: list[str] = []
    context: TaskRunContext | None = None
    for index, asset in enumerate(assets):
        declared = checks_for(asset.key)
        if not declared:
            continue
        if context is None:
            context = engine._context()
        with context:  # the task run's, for get_run_context() in a check
            for check in declared:
                result = check.run(_value_of(value, index, len(assets)), context)
                if result.metadata:
                    try:
                        result.metadata = _jsonable(result.metadata)
                    except (TypeError, ValueError) as exc:  # e.g. a reference cycle
                        result.metadata = {"error": f"metadata not recordable as JSON: {exc}"}
                materialization.checks.append((asset, check, result, dt.datetime.now(dt.UTC)))
                if result.passed:
                    continue
                severity = result.severity or check.severity
                what = f"check {check.name!r} failed on asset {asset.key!r}"
                text = what + (f": {result.description}" if result.description else "")
                if severity == "error" and check.blocking:
                    failed.setdefault(asset.key, what)
                    messages.append(text)
                elif severity == "error":
                    engine.logger.error("C%s", text[1:])
                else:
                    engine.logger.warning("C%s", text[1:])
    run_assets = materialization.run_assets
    if run_assets is not None:
        # an earlier attempt's failures no longer hold; this attempt's do
        for key in materialization.blocking:
            run_assets.blocked.pop(key, None)
        run_assets.blocked.update(failed)
    materialization.blocking = list(failed)
    if not messages:
        return None
    return AssetCheckFailed("Blocking " + "; blocking ".join(messages))


def finish(engine: TaskRunEngine) -> None:
    """Emit the run's asset events (a materializing run that reached a final state)."""
    materialization: Materialization = engine.assets
    _active.pop(engine.task_run.id, None)
    state = engine.state
    kind = state.type
    if kind is StateType.COMPLETED and state.name == "Cached":
        # nothing was materialized (as in Prefect); what reads the value reads the assets
        run_assets = materialization.run_assets
        if run_assets is not None and materialization.passes:
            _note_value(run_assets, state.data, materialization.passes)
        return
    if materialization.downstream is None:
        return
    if kind is StateType.COMPLETED:
        status = "succeeded"
    elif kind is StateType.FAILED or kind is StateType.CRASHED:
        status = "failed"
    else:
        return
    from vibepiper.engine.asset_events import emit_materialization

    try:
        emit_materialization(engine, materialization, status)
    except Exception as exc:  # recording must not break the run (as emit_event)
        _log.warning("Could not record the asset events of %s: %s", engine.task_run.name, exc)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """`data` as JSON holds it (values JSON cannot hold become their text)."""
    # NaN and infinity (which JSON has not) come back as their text
    text = json.dumps(data, default=str)
    if "\\u0000" in text:  # PostgreSQL cannot store NUL in JSON text
        text = text.replace("\\u0000", "")
    loaded: dict[str, Any] = json.loads(text, parse_constant=str)
    return loaded

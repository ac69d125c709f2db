"""`@materialize`: a task whose successful runs materialize assets (Prefect's names).

    @materialize("s3://lake/orders.parquet", by="spark")
    def load_orders(raw): ...

Each run emits `vibepiper.asset.materialization.succeeded` (or `.failed`) per asset,
with the assets it read as related resources: those declared with `asset_deps=[...]`
and those inferred from its inputs (a future or the value of a task upstream that
materialized or read assets). The checks declared on its assets (`@check`) run right
after its body returned.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar, overload

from vibepiper.assets.core import Asset, as_assets
from vibepiper.tasks import Task

__all__ = ["MaterializingTask", "materialize"]

P = ParamSpec("P")
R = TypeVar("R")


class MaterializingTask(Task[P, R]):
    """A task that materializes `assets` (made by `@materialize`)."""

    def __init__(
        self,
        fn: Callable[P, R],
        assets: Iterable[str | Asset],
        materialized_by: str | None = None,
        **task_options: Any,
    ) -> None:
        if materialized_by is not None and not isinstance(materialized_by, str):
            raise TypeError(f"@materialize(by=...) must be a string, got {materialized_by!r}")
        super().__init__(fn, **task_options)
        self.assets: list[Asset] = as_assets(assets, "@materialize assets")
        self.materialized_by = materialized_by
        # the engine's asset hook runs for any task whose asset_deps is not None
        if self.asset_deps is None:
            self.asset_deps = []

    def with_options(  # type: ignore[override]
        self,
        *,
        assets: Iterable[str | Asset] | None = None,
        materialized_by: str | None = None,
        **options: Any,
    ) -> MaterializingTask[P, R]:
        """A copy with some options changed; `assets` and `materialized_by` too."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise TypeError(f"with_options() got unknown option(s): {', '.join(sorted(unknown))}")
        changed = MaterializingTask(
            self._decorated,
            assets=self.assets if assets is None else assets,
            materialized_by=self.materialized_by if materialized_by is None else materialized_by,
            **{**self._options, **options},
        )
        changed._bound_to = self._bound_to
        return changed

    def __repr__(self) -> str:
        keys = ", ".join(repr(asset.key) for asset in self.assets)
        return f"MaterializingTask(name={self.name!r}, assets=[{keys}])"


@overload
def materialize(__fn: Callable[P, R]) -> MaterializingTask[P, R]: ...
@overload
def materialize(
    *assets: str | Asset, by: str | None = None, **task_options: Any
) -> Callable[[Callable[P, R]], MaterializingTask[P, R]]: ...


def materialize(*assets: Any, by: str | None = None, **task_options: Any) -> Any:
    """Turn a function into a task that materializes `assets` (Assets or keys).

    Args:
        *assets: the assets each successful run materializes.
        by: the tool that does the work (e.g. "dbt", "spark"), recorded with it.
        **task_options: any option of `@task` (`retries`, `asset_deps`, ...).

    Example:
        >>> @materialize("s3://lake/orders.parquet", asset_deps=["postgres://shop/orders"])
        ... def export_orders(): ...
    """
    if len(assets) == 1 and callable(assets[0]) and not isinstance(assets[0], str | Asset):
        return MaterializingTask(assets[0], assets=[], materialized_by=by, **task_options)
    keys = as_assets(assets, "@materialize assets")

    def decorator(fn: Callable[P, R]) -> MaterializingTask[P, R]:
        if not callable(fn):
            raise TypeError(f"@materialize needs a function, got {type(fn).__name__}")
        return MaterializingTask(fn, assets=keys, materialized_by=by, **task_options)

    return decorator

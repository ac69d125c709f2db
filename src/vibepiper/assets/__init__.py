"""Assets (Prefect's `prefect.assets` names), with data-quality checks and freshness.

    from vibepiper.assets import Asset, check, materialize

    orders = Asset("s3://lake/orders.parquet")

    @materialize(orders)
    def load_orders() -> list[dict]: ...

    @check(orders, blocking=True)
    def not_empty(rows) -> bool:
        return len(rows) > 0

Every materialization and check result is an event on the run's store (embedded or
server); the server builds the asset catalogue and lineage from them.
"""

from __future__ import annotations

from vibepiper.assets.checks import AssetCheckFailed as AssetCheckFailed
from vibepiper.assets.checks import CheckResult as CheckResult
from vibepiper.assets.checks import check as check
from vibepiper.assets.core import Asset as Asset
from vibepiper.assets.core import AssetProperties as AssetProperties
from vibepiper.assets.core import Freshness as Freshness
from vibepiper.assets.core import add_asset_metadata as add_asset_metadata
from vibepiper.assets.materialize import MaterializingTask as MaterializingTask
from vibepiper.assets.materialize import materialize as materialize

__all__ = [
    "Asset",
    "AssetCheckFailed",
    "AssetProperties",
    "CheckResult",
    "Freshness",
    "MaterializingTask",
    "add_asset_metadata",
    "check",
    "materialize",
]

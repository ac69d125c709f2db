"""The asset catalogue in the client (`/api/assets`), async and blocking, over one set
of call descriptions. Keys are URIs, so they travel as the `key` query parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlencode

from vibepiper.client._layer import Call, _dump, _int, _list, _model, _none
from vibepiper.exceptions import ObjectNotFound
from vibepiper.schemas import assets as wire

if TYPE_CHECKING:
    from vibepiper.client._layer import Plan

T = TypeVar("T")


def _path(name: str, key: str, **params: int) -> str:
    return f"assets/{name}?{urlencode({'key': key, **params})}"


def read_assets(query: wire.AssetQuery | None = None) -> Call[list[wire.AssetRead]]:
    return Call("POST", "assets/filter", _list(wire.AssetRead), _dump(query) or {})


def count_assets(query: wire.AssetQuery | None = None) -> Call[int]:
    return Call("POST", "assets/count", _int, _dump(query) or {})


def read_asset(key: str) -> Call[wire.AssetDetail]:
    return Call("GET", _path("detail", key), _model(wire.AssetDetail))


def read_asset_materializations(
    key: str, limit: int = 100, offset: int = 0
) -> Call[list[wire.MaterializationRead]]:
    path = _path("materializations", key, limit=limit, offset=offset)
    return Call("GET", path, _list(wire.MaterializationRead))


def read_asset_checks(
    key: str, limit: int = 100, offset: int = 0
) -> Call[list[wire.CheckResultRead]]:
    return Call(
        "GET", _path("checks", key, limit=limit, offset=offset), _list(wire.CheckResultRead)
    )


def read_asset_lineage(limit: int = 5000) -> Call[wire.AssetLineage]:
    return Call("GET", f"assets/lineage?limit={limit}", _model(wire.AssetLineage))


def materialize_asset(key: str) -> Call[wire.AssetMaterializeResult]:
    return Call("POST", _path("materialize", key), _model(wire.AssetMaterializeResult))


def delete_asset(key: str) -> Call[None]:
    return Call("DELETE", f"assets?{urlencode({'key': key})}", _none)


def _or_none(call: Call[wire.AssetDetail]) -> Plan[wire.AssetDetail | None]:
    try:
        found: wire.AssetDetail = yield call
    except ObjectNotFound:
        return None
    return found


class Assets:
    """The async asset methods of `VibePiperClient`."""

    async def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    async def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    async def read_assets(self, query: wire.AssetQuery | None = None) -> list[wire.AssetRead]:
        """A page of the catalogue, by key."""
        return await self._send(read_assets(query))

    async def count_assets(self, query: wire.AssetQuery | None = None) -> int:
        return await self._send(count_assets(query))

    async def read_asset(self, key: str) -> wire.AssetDetail | None:
        """The asset with its neighbours and history; None when it is not catalogued."""
        return await self._run(_or_none(read_asset(key)))

    async def read_asset_materializations(
        self, key: str, limit: int = 100, offset: int = 0
    ) -> list[wire.MaterializationRead]:
        return await self._send(read_asset_materializations(key, limit, offset))

    async def read_asset_checks(
        self, key: str, limit: int = 100, offset: int = 0
    ) -> list[wire.CheckResultRead]:
        return await self._send(read_asset_checks(key, limit, offset))

    async def read_asset_lineage(self, limit: int = 5000) -> wire.AssetLineage:
        return await self._send(read_asset_lineage(limit))

    async def materialize_asset(self, key: str) -> wire.AssetMaterializeResult:
        """Run the deployment that last materialized `key` (`ApiConflict` when none)."""
        return await self._send(materialize_asset(key))

    async def delete_asset(self, key: str) -> None:
        await self._send(delete_asset(key))


class SyncAssets:
    """The blocking asset methods (the same as `Assets`)."""

    def _send(self, call: Call[T]) -> T:  # the client's
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:  # the client's
        raise NotImplementedError

    def read_assets(self, query: wire.AssetQuery | None = None) -> list[wire.AssetRead]:
        return self._send(read_assets(query))

    def count_assets(self, query: wire.AssetQuery | None = None) -> int:
        return self._send(count_assets(query))

    def read_asset(self, key: str) -> wire.AssetDetail | None:
        return self._run(_or_none(read_asset(key)))

    def read_asset_materializations(
        self, key: str, limit: int = 100, offset: int = 0
    ) -> list[wire.MaterializationRead]:
        return self._send(read_asset_materializations(key, limit, offset))

    def read_asset_checks(
        self, key: str, limit: int = 100, offset: int = 0
    ) -> list[wire.CheckResultRead]:
        return self._send(read_asset_checks(key, limit, offset))

    def read_asset_lineage(self, limit: int = 5000) -> wire.AssetLineage:
        return self._send(read_asset_lineage(limit))

    def materialize_asset(self, key: str) -> wire.AssetMaterializeResult:
        return self._send(materialize_asset(key))

    def delete_asset(self, key: str) -> None:
        self._send(delete_asset(key))

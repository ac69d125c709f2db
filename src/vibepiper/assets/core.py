"""Assets: the data a task materializes, named by a URI key (Prefect's `Asset` and
`AssetProperties`), with an optional freshness policy (beyond Prefect).

    orders = Asset("s3://lake/orders.parquet", properties=AssetProperties(owners=["data"]))

Plain frozen classes rather than pydantic models: an `Asset` is read on every
materialization's events, so its event labels are built once, when it is made, and
`import vibepiper.assets` never imports pydantic.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_ASSET_DESCRIPTION_LENGTH",
    "MAX_ASSET_KEY_LENGTH",
    "Asset",
    "AssetProperties",
    "Freshness",
    "add_asset_metadata",
    "as_asset",
    "as_assets",
]

MAX_ASSET_KEY_LENGTH = 512
"""Prefect's limit on the length of an asset key."""

MAX_ASSET_DESCRIPTION_LENGTH = 5000

_SCHEME = re.compile(r"^[a-z0-9]+://")
# what Prefect refuses in a key: whitespace and the characters URIs reserve or quote
_RESTRICTED = re.compile(r"[\s#?&%\"'<>\[\]{}|\\^`\x00-\x1f\x7f]")
_NAMES = {
    " ": "a space",
    "\t": "a tab",
    "\n": "a newline",
    "\r": "a carriage return",
    "\x00": "a NUL character",
}


def validate_key(key: object) -> str:
    """`key` if it is a valid asset key; ValueError saying what is wrong otherwise."""
    if not isinstance(key, str):
        raise TypeError(f"An asset key must be a string, got {type(key).__name__}")
    if not _SCHEME.match(key):
        raise ValueError(
            f"Asset key {key!r}: Key must be a valid URI, e.g. storage://bucket/folder/asset.csv "
            "(a lowercase scheme of letters and digits, then ://)"
        )
    if len(key) > MAX_ASSET_KEY_LENGTH:
        raise ValueError(
            f"Asset key cannot exceed {MAX_ASSET_KEY_LENGTH} characters (this one has {len(key)})"
        )
    found = _RESTRICTED.search(key)
    if found is not None:
        char = found.group()
        name = _NAMES.get(char) or repr(char)
        raise ValueError(
            f"Asset key {key!r} contains {name} at position {found.start()}: keys may not "
            "contain whitespace or any of # ? & % \" ' < > [ ] { } | \\ ^ `"
        )
    return key


class AssetProperties:
    """What the catalogue shows of an asset: a name, a URL to view it, a description and
    its owners. Properties given on a materialization replace those known before."""

    __slots__ = ("description", "name", "owners", "url")

    name: str | None
    url: str | None
    description: str | None
    owners: list[str] | None

    def __init__(
        self,
        name: str | None = None,
        url: str | None = None,
        description: str | None = None,
        owners: Iterable[str] | None = None,
    ) -> None:
        for label, value in (("name", name), ("url", url), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"AssetProperties.{label} must be a string, got {value!r}")
        if description is not None and len(description) > MAX_ASSET_DESCRIPTION_LENGTH:
            raise ValueError(
                f"AssetProperties.description: String should have at most "
                f"{MAX_ASSET_DESCRIPTION_LENGTH} characters (got {len(description)})"
            )
        people = None
        if owners is not None:
            if isinstance(owners, str):
                raise TypeError("AssetProperties.owners must be a list of strings, not a string")
            people = list(owners)
            if not all(isinstance(owner, str) for owner in people):
                raise TypeError(f"AssetProperties.owners must be strings, got {people!r}")
        _set(self, name=name, url=url, description=description, owners=people)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"AssetProperties is frozen: cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (AssetProperties, (self.name, self.url, self.description, self.owners))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssetProperties):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash((self.name, self.url, self.description, tuple(self.owners or ())))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.model_dump(exclude_none=True).items())
        return f"AssetProperties({fields})"

    def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
        """The properties as a dict (those set only, with `exclude_none`)."""
        data = {
            "name": self.name,
            "url": self.url,
            "description": self.description,
            "owners": None if self.owners is None else list(self.owners),
        }
        return {k: v for k, v in data.items() if v is not None} if exclude_none else data


class Freshness:
    """How fresh an asset must be: materialized within `within` of now (stale after),
    warned about after `warn_within`, and/or once per `cron` tick (in `timezone`).

    The policy travels with the asset's materialization events; a running server
    (`vibepiper server start`, or `serve()`) evaluates it and emits
    `vibepiper.asset.freshness.{fresh,warn,stale}` when the status changes.
    """

    __slots__ = ("cron", "timezone", "warn_within", "within")

    within: dt.timedelta | None
    warn_within: dt.timedelta | None
    cron: str | None
    timezone: str | None

    def __init__(
        self,
        within: dt.timedelta | None = None,
        warn_within: dt.timedelta | None = None,
        cron: str | None = None,
        timezone: str | None = None,
    ) -> None:
        for label, span in (("within", within), ("warn_within", warn_within)):
            if span is not None:
                if not isinstance(span, dt.timedelta):
                    raise TypeError(f"Freshness.{label} must be a timedelta, got {span!r}")
                if span <= dt.timedelta(0):
                    raise ValueError(f"Freshness.{label} must be positive, got {span}")
        if within is None and cron is None:
            raise ValueError("Freshness needs `within` (a timedelta) or `cron` (a schedule)")
        if warn_within is not None and within is not None and warn_within >= within:
            raise ValueError(
                f"Freshness.warn_within ({warn_within}) must be shorter than within ({within}): "
                "an asset is first late enough to warn about, then stale"
            )
        if cron is not None:
            _check_cron(cron)
        if timezone is not None:
            _check_timezone(timezone)
        _set(self, within=within, warn_within=warn_within, cron=cron, timezone=timezone)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Freshness is frozen: cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Freshness, (self.within, self.warn_within, self.cron, self.timezone))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Freshness):
            return NotImplemented
        return self.policy() == other.policy()

    def __hash__(self) -> int:
        return hash((self.within, self.warn_within, self.cron, self.timezone))

    def __repr__(self) -> str:
        parts = [
            f"{name}={getattr(self, name)!r}"
            for name in ("within", "warn_within", "cron", "timezone")
            if getattr(self, name) is not None
        ]
        return f"Freshness({', '.join(parts)})"

    def policy(self) -> dict[str, Any]:
        """The policy as the events and the server carry it."""
        return {
            "within_seconds": None if self.within is None else self.within.total_seconds(),
            "warn_within_seconds": (
                None if self.warn_within is None else self.warn_within.total_seconds()
            ),
            "cron": self.cron,
            "timezone": self.timezone,
        }


def _check_cron(cron: str) -> None:
    if not isinstance(cron, str) or not cron.strip():
        raise ValueError(f"Freshness.cron must be a cron expression, got {cron!r}")
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - croniter is a dependency; the server checks too
        return
    if not croniter.is_valid(cron):
        raise ValueError(f"Freshness.cron {cron!r} is not a valid cron expression")


def _check_timezone(timezone: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"Freshness.timezone {timezone!r} is not a known time zone") from None


def _set(obj: object, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(obj, name, value)


class Asset:
    """Data that tasks materialize, named by a URI `key` (e.g. `s3://bucket/x.csv`,
    `postgres://db/table`).

    Args:
        key: the asset's URI: a lowercase scheme, `://`, at most 512 characters, with no
            whitespace nor any of ``# ? & % " ' < > [ ] { } | \\ ^ ` ``.
        properties: name, url, description and owners the catalogue shows.
        freshness: how fresh it must stay (evaluated by a running server).

    Raises:
        ValueError: the key breaks a rule (the message says which).

    Example:
        >>> orders = Asset("s3://lake/orders.parquet")
        >>> @materialize(orders)
        ... def load_orders(): ...
    """

    __slots__ = ("_event_resource", "_labels", "freshness", "key", "properties")

    key: str
    properties: AssetProperties | None
    freshness: Freshness | None
    _labels: dict[str, str]
    _event_resource: str | None  # its events' resource, JSON made on first use (asset_events)

    def __init__(
        self,
        key: str,
        properties: AssetProperties | None = None,
        freshness: Freshness | None = None,
    ) -> None:
        validate_key(key)
        if properties is not None and not isinstance(properties, AssetProperties):
            if isinstance(properties, Mapping):
                properties = AssetProperties(**properties)
            else:
                raise TypeError(f"Asset.properties must be AssetProperties, got {properties!r}")
        if freshness is not None and not isinstance(freshness, Freshness):
            raise TypeError(f"Asset.freshness must be a Freshness, got {freshness!r}")
        _set(self, key=key, properties=properties, freshness=freshness)
        _set(self, _labels=_resource_labels(self), _event_resource=None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Asset is frozen: cannot set {name!r}")

    def __repr__(self) -> str:
        return f"Asset(key={self.key!r})"

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Asset):
            return NotImplemented
        return (self.key, self.properties, self.freshness) == (
            other.key,
            other.properties,
            other.freshness,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Asset, (self.key, self.properties, self.freshness))

    def add_metadata(self, metadata: dict[str, Any]) -> None:
        """Add `metadata` (JSON data) to this asset's materialization by the current task.

        Raises:
            RuntimeError: outside a task that materializes assets.
            ValueError: the current task does not materialize this asset.
        """
        add_asset_metadata(self, metadata)

    def resource_labels(self) -> dict[str, str]:
        """The asset as an event's resource (a new dict each call)."""
        return dict(self._labels)


def _resource_labels(asset: Asset) -> dict[str, str]:
    labels = {"vibepiper.resource.id": asset.key}
    props = asset.properties
    if props is not None:
        if props.name is not None:
            labels["vibepiper.resource.name"] = props.name
        if props.url is not None:
            labels["vibepiper.asset.url"] = props.url
        if props.description is not None:
            labels["vibepiper.asset.description"] = props.description
        if props.owners is not None:
            labels["vibepiper.asset.owners"] = json.dumps(props.owners)
    if asset.freshness is not None:
        labels["vibepiper.asset.freshness"] = json.dumps(asset.freshness.policy())
    return labels


def as_asset(value: str | Asset) -> Asset:
    """An `Asset` from an asset or a key (strings are keys, as in Prefect)."""
    if isinstance(value, Asset):
        return value
    if isinstance(value, str):
        return Asset(value)
    raise TypeError(f"Expected an Asset or an asset key (a string), got {value!r}")


def as_assets(values: Iterable[str | Asset] | None, option: str) -> list[Asset]:
    """The assets of `values`, without repeated keys (the first of a key wins)."""
    if values is None:
        return []
    if isinstance(values, str | Asset):
        raise TypeError(f"{option} must be a list of assets or keys, not a single one")
    found: dict[str, Asset] = {}
    for value in values:
        asset = as_asset(value)
        found.setdefault(asset.key, asset)
    return list(found.values())


def add_asset_metadata(asset: str | Asset, metadata: dict[str, Any]) -> None:
    """Add `metadata` to the materialization of `asset` by the current task (merged
    with what was added before; values that JSON cannot hold are kept as their text).

    Raises:
        RuntimeError: outside a task run that materializes assets.
        ValueError: the current task does not materialize `asset`.
    """
    from vibepiper.engine.assets import current_materialization

    key = asset if isinstance(asset, str) else asset.key
    run = current_materialization()
    if run is None:
        raise RuntimeError(
            "add_asset_metadata() and Asset.add_metadata() work only inside a task run "
            "that materializes assets (a @materialize task)"
        )
    run.add_metadata(key, metadata)

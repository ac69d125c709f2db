"""vibepiper.assets authoring: Prefect's key rules with errors naming what is wrong,
properties and freshness, the labels an asset's events carry, `@materialize` and
`@check` declarations, and that `import vibepiper` does not load the assets package."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import re
import subprocess
import sys

import pytest

from vibepiper import task
from vibepiper.assets import (
    Asset,
    AssetProperties,
    CheckResult,
    Freshness,
    MaterializingTask,
    add_asset_metadata,
    check,
    materialize,
)
from vibepiper.assets.checks import checks_for
from vibepiper.assets.core import MAX_ASSET_DESCRIPTION_LENGTH, MAX_ASSET_KEY_LENGTH


@pytest.mark.parametrize(
    "key",
    [
        "s3://bucket/folder/file.csv",
        "postgres://database/table",
        "file://local/path.txt",
        "custom://resource-with_underscores.data",
        "protocol://host:port/path",
        "scheme://user@host/resource",
        "s3://a",
    ],
)
def test_valid_keys(key: str) -> None:
    assert Asset(key).key == key
    assert Asset(key=key) == Asset(key)


@pytest.mark.parametrize(
    "key", ["invalid-key", "assets/my-asset", "/path/to/file", "UPPERCASE://x", "://x", ""]
)
def test_a_key_must_be_a_uri(key: str) -> None:
    with pytest.raises(ValueError, match="Key must be a valid URI"):
        Asset(key)


@pytest.mark.parametrize(
    "char", ["#", "?", "&", "%", '"', "'", "<", ">", "[", "]", "{", "}", "|", "\\", "^", "`"]
)
def test_restricted_characters_are_named(char: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"contains {char!r} at position 16")):
        Asset(f"s3://bucket/file{char}x.csv")


@pytest.mark.parametrize(
    ("char", "named"),
    [
        (" ", "a space"),
        ("\n", "a newline"),
        ("\t", "a tab"),
        ("\r", "a carriage return"),
        ("\x00", "a NUL character"),
    ],
)
def test_whitespace_and_control_characters_are_named(char: str, named: str) -> None:
    with pytest.raises(ValueError, match=f"contains {named} at position 16"):
        Asset(f"s3://bucket/file{char}x.csv")


def test_key_length_limit() -> None:
    prefix = "s3://bucket/"
    at_limit = prefix + "a" * (MAX_ASSET_KEY_LENGTH - len(prefix))
    assert Asset(at_limit).key == at_limit
    with pytest.raises(ValueError, match=f"cannot exceed {MAX_ASSET_KEY_LENGTH} characters"):
        Asset(at_limit + "a")


def test_a_key_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        Asset(42)  # type: ignore[arg-type]


def test_properties_and_their_labels() -> None:
    bare = Asset("s3://bucket/data")
    assert bare.resource_labels() == {"vibepiper.resource.id": "s3://bucket/data"}
    partial = Asset(
        "postgres://prod/users",
        properties=AssetProperties(name="Users", description="Main users table"),
    )
    assert partial.resource_labels() == {
        "vibepiper.resource.id": "postgres://prod/users",
        "vibepiper.resource.name": "Users",
        "vibepiper.asset.description": "Main users table",
    }
    full = Asset(
        "s3://lake/customers.parquet",
        properties=AssetProperties(
            name="Customers", url="https://x.example/c", description="d", owners=["data", "bi"]
        ),
        freshness=Freshness(within=dt.timedelta(hours=2), warn_within=dt.timedelta(hours=1)),
    )
    labels = full.resource_labels()
    assert labels["vibepiper.asset.url"] == "https://x.example/c"
    assert json.loads(labels["vibepiper.asset.owners"]) == ["data", "bi"]
    assert json.loads(labels["vibepiper.asset.freshness"]) == {
        "within_seconds": 7200.0,
        "warn_within_seconds": 3600.0,
        "cron": None,
        "timezone": None,
    }


def test_property_rules() -> None:
    AssetProperties(description="x" * MAX_ASSET_DESCRIPTION_LENGTH)
    with pytest.raises(ValueError, match=f"at most {MAX_ASSET_DESCRIPTION_LENGTH} characters"):
        AssetProperties(description="x" * (MAX_ASSET_DESCRIPTION_LENGTH + 1))
    with pytest.raises(TypeError, match="owners must be a list"):
        AssetProperties(owners="data")
    with pytest.raises(AttributeError, match="frozen"):
        AssetProperties(name="a").name = "b"  # type: ignore[misc]


def test_freshness_rules() -> None:
    assert Freshness(cron="0 6 * * *", timezone="Europe/Paris").policy()["cron"] == "0 6 * * *"
    with pytest.raises(ValueError, match="needs `within`"):
        Freshness()
    with pytest.raises(ValueError, match="must be positive"):
        Freshness(within=dt.timedelta(0))
    with pytest.raises(ValueError, match="must be shorter than within"):
        Freshness(within=dt.timedelta(hours=1), warn_within=dt.timedelta(hours=2))
    with pytest.raises(ValueError, match="not a valid cron"):
        Freshness(cron="every day")
    with pytest.raises(ValueError, match="not a known time zone"):
        Freshness(within=dt.timedelta(hours=1), timezone="Mars/Olympus")
    with pytest.raises(TypeError, match="must be a timedelta"):
        Freshness(within=3600)  # type: ignore[arg-type]


def test_assets_are_frozen_hashable_and_picklable() -> None:
    asset = Asset(
        "s3://b/x",
        properties=AssetProperties(name="X", owners=["o"]),
        freshness=Freshness(cron="@daily"),
    )
    with pytest.raises(AttributeError, match="frozen"):
        asset.key = "s3://b/y"  # type: ignore[misc]
    assert hash(asset) == hash(Asset("s3://b/x"))
    assert pickle.loads(pickle.dumps(asset)) == asset
    assert pickle.loads(pickle.dumps(asset)).resource_labels() == asset.resource_labels()
    assert repr(asset) == "Asset(key='s3://b/x')"


def test_materialize_accepts_assets_and_keys() -> None:
    @materialize(Asset("s3://b/one"), "s3://b/two", by="dbt", retries=2)
    def build() -> None: ...

    assert isinstance(build, MaterializingTask)
    assert [a.key for a in build.assets] == ["s3://b/one", "s3://b/two"]
    assert build.materialized_by == "dbt"
    assert build.retries == 2
    assert build.asset_deps == []
    changed = build.with_options(name="other", assets=["s3://b/three"])
    assert isinstance(changed, MaterializingTask)
    assert [a.key for a in changed.assets] == ["s3://b/three"]
    assert changed.materialized_by == "dbt"

    @materialize
    def bare() -> None: ...

    assert isinstance(bare, MaterializingTask) and bare.assets == []
    with pytest.raises(ValueError, match="valid URI"):
        materialize("not a uri")


def test_asset_deps_on_task() -> None:
    @task(asset_deps=["s3://b/raw", Asset("postgres://db/t"), "s3://b/raw"])
    def read() -> None: ...

    assert [a.key for a in read.asset_deps or []] == ["s3://b/raw", "postgres://db/t"]
    assert read.with_options(name="again").asset_deps == read.asset_deps

    @task
    def plain() -> None: ...

    assert plain.asset_deps is None
    with pytest.raises(TypeError, match="asset_deps must be a list"):
        task(asset_deps="s3://b/raw")(lambda: None)


def test_check_declarations() -> None:
    key = "s3://unit/checked"

    @check(key, severity="warn")
    def first(value: object) -> bool:
        return True

    @check(Asset(key), name="second", blocking=True)
    def with_context(value: object, context: object) -> CheckResult:
        return CheckResult(False, metadata={"n": 1})

    declared = checks_for(key)
    assert [(c.name, c.severity, c.blocking, c.takes_context) for c in declared] == [
        ("first", "warn", False, False),
        ("second", "error", True, True),
    ]
    assert first(1) is True  # the function itself is kept
    with pytest.raises(ValueError, match="severity must be 'error' or 'warn'"):
        check(key, severity="fatal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="severity must be 'error' or 'warn'"):
        CheckResult(True, severity="info")  # type: ignore[arg-type]


def test_a_check_that_raises_or_returns_junk_has_failed() -> None:
    key = "s3://unit/raises"

    @check(key)
    def boom(value: object) -> bool:
        raise ZeroDivisionError("division by zero")

    @check(key)
    def junk(value: object) -> int:
        return 3

    results = [c.run(None, None) for c in checks_for(key)]
    assert [r.passed for r in results] == [False, False]
    assert results[0].description == "The check raised ZeroDivisionError: division by zero"
    assert "returned int" in (results[1].description or "")


def test_metadata_outside_a_materialization_is_refused() -> None:
    with pytest.raises(RuntimeError, match="only inside a task run that materializes"):
        add_asset_metadata("s3://b/x", {"rows": 1})
    with pytest.raises(RuntimeError, match="only inside a task run that materializes"):
        Asset("s3://b/x").add_metadata({"rows": 1})


def test_import_vibepiper_does_not_load_assets() -> None:
    code = (
        "import sys, vibepiper\n"
        "assert not any(m.startswith('vibepiper.assets') for m in sys.modules)\n"
        "from vibepiper.assets import materialize\n"
        "assert 'pydantic' not in sys.modules, 'assets import pulled pydantic'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

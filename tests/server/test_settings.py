"""Server settings from VIBEPIPER_* variables."""

from __future__ import annotations

import re

import pytest

from vibepiper.exceptions import ConfigurationError
from vibepiper.server.settings import load_server_settings


def test_defaults_serve_the_embedded_store_file() -> None:
    settings = load_server_settings({"VIBEPIPER_HOME": "/data/vp"})
    assert settings.database_url == "sqlite+aiosqlite:////data/vp/vibepiper.db"
    assert settings.server_api_key is None
    assert settings.server_retention_days == 30
    assert settings.server_max_body_bytes == 10 * 1024 * 1024


def test_values_are_parsed() -> None:
    settings = load_server_settings(
        {
            "VIBEPIPER_DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "VIBEPIPER_SERVER_API_KEY": "k",
            "VIBEPIPER_SERVER_MAX_CONNECTIONS": "3",
            "VIBEPIPER_SERVER_POOL_TIMEOUT": "0.5",
            "VIBEPIPER_SERVER_RETENTION_DAYS": "0",
            "VIBEPIPER_SERVER_MIGRATE_ON_START": "false",
        }
    )
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert (settings.server_max_connections, settings.server_pool_timeout) == (3, 0.5)
    assert settings.server_retention_days == 0
    assert settings.server_migrate_on_start is False


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VIBEPIPER_SERVER_MAX_CONNECTIONS", "many", "is not a whole number"),
        ("VIBEPIPER_SERVER_MAX_CONNECTIONS", "0", "must be at least 1"),
        ("VIBEPIPER_SERVER_POOL_TIMEOUT", "-1", "must be greater than 0"),
        ("VIBEPIPER_SERVER_RETENTION_DAYS", "-2", "must be 0 (off) or more"),
        ("VIBEPIPER_SERVER_MIGRATE_ON_START", "perhaps", "is not a boolean"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(f"{variable}='{value}' {message}")):
        load_server_settings({variable: value})


def test_memory_home_needs_a_database_url() -> None:
    with pytest.raises(ConfigurationError, match="VIBEPIPER_DATABASE_URL"):
        load_server_settings({"VIBEPIPER_HOME": ":memory:"})

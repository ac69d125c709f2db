"""Settings come from VIBEPIPER_* variables; bad values name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from vibepiper.exceptions import ConfigurationError
from vibepiper.settings import Settings, load_settings


def test_defaults_without_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database_path == Path("~/.vibepiper").expanduser() / "vibepiper.db"
    assert settings.store_flush_interval == 0.1
    assert settings.logging_to_console is True


def test_values_are_parsed_by_type() -> None:
    settings = load_settings(
        {
            "VIBEPIPER_HOME": "/data/vp",
            "VIBEPIPER_LOGGING_LEVEL": "debug",
            "VIBEPIPER_LOGGING_TO_CONSOLE": "false",
            "VIBEPIPER_STORE_FLUSH_INTERVAL": "0.5",
            "VIBEPIPER_API_URL": "http://127.0.0.1:4200/api",
        }
    )
    assert settings.database_path == Path("/data/vp/vibepiper.db")
    assert settings.logging_level == "DEBUG"
    assert settings.logging_to_console is False
    assert settings.store_flush_interval == 0.5
    assert settings.api_url == "http://127.0.0.1:4200/api"


def test_memory_home() -> None:
    assert load_settings({"VIBEPIPER_HOME": ":memory:"}).home_is_memory


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("VIBEPIPER_LOGGING_TO_CONSOLE", "maybe", "not a boolean"),
        ("VIBEPIPER_STORE_FLUSH_INTERVAL", "fast", "not a number"),
        ("VIBEPIPER_STORE_FLUSH_INTERVAL", "0", "greater than 0"),
        ("VIBEPIPER_LOGGING_LEVEL", "LOUD", "not a log level"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings({variable: value})
    assert variable in str(caught.value)
    assert words in str(caught.value)

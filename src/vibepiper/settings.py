"""Settings read from the environment (prefix `VIBEPIPER_`), loaded on first use.

`get_settings()` caches; `reload_settings()` re-reads the environment (tests).
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob VibePiper reads; each maps to `VIBEPIPER_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="VIBEPIPER_", extra="ignore")

    home: str = Field(
        default="~/.vibepiper",
        description="Directory of the embedded store and local results; ':memory:' keeps nothing.",
    )
    logging_level: str = Field(default="INFO", description="Level of run loggers.")
    logging_to_console: bool = Field(default=True, description="Print run logs to stderr.")
    logging_store_level: str = Field(default="INFO", description="Lowest level stored.")
    store_flush_interval: float = Field(
        default=0.1, gt=0, description="Seconds between background writes of the embedded store."
    )
    api_url: str | None = Field(default=None, description="Server to record runs on.")
    api_key: str | None = Field(default=None, description="API key sent to the server.")

    @field_validator("logging_level", "logging_store_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def home_is_memory(self) -> bool:
        return self.home == ":memory:"

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    @property
    def database_path(self) -> Path:
        return self.home_path / "vibepiper.db"


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()


def reload_settings() -> Settings:
    """Forget cached settings and read the environment again."""
    get_settings.cache_clear()
    return get_settings()

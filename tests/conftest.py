"""Shared fixtures: every test gets its own VIBEPIPER_HOME and a clean engine state."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures.env", "tests.fixtures.db", "tests.fixtures.containers"]

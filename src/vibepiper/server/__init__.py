"""The VibePiper API server: `create_app()` builds the FastAPI application.

Layers: `api/` (routers) -> `services/` -> `repositories/` -> `vibepiper.database`.
Only `vibepiper.cli.server` imports this package (an import-linter contract keeps it
so); it imports schemas, orchestration, database, settings, exceptions, states and
utilities, never the engine, the stores or the client.
"""

from vibepiper.server.app import create_app
from vibepiper.server.settings import ServerSettings, load_server_settings

__all__ = ["ServerSettings", "create_app", "load_server_settings"]

"""The built-in block types as data, for the server to register when it starts.

The server may not import the SDK (layers, DESIGN.md), so the types and schemas of the
built-in blocks are written to `vibepiper/schemas/builtin_blocks.json` from the classes
here; a test keeps the file equal to what the classes say. Regenerate it after changing a
built-in block:

    python -m vibepiper.blocks._catalog
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vibepiper.blocks.core import Block

CATALOG_PATH = Path(__file__).resolve().parents[1] / "schemas" / "builtin_blocks.json"


def builtin_classes() -> list[type[Block]]:
    """The block classes VibePiper ships, in the order they are listed."""
    from vibepiper.blocks.docker import DockerRegistryCredentials
    from vibepiper.blocks.notifications import (
        CustomWebhookNotificationBlock,
        EmailNotification,
        MicrosoftTeamsWebhook,
        SlackWebhook,
    )
    from vibepiper.blocks.system import JSON, DateTime, Secret, String
    from vibepiper.blocks.webhook import Webhook
    from vibepiper.filesystems import LocalFileSystem, RemoteFileSystem

    return [
        Secret,
        Webhook,
        LocalFileSystem,
        RemoteFileSystem,
        SlackWebhook,
        MicrosoftTeamsWebhook,
        CustomWebhookNotificationBlock,
        EmailNotification,
        JSON,
        String,
        DateTime,
        DockerRegistryCredentials,
    ]


def catalog() -> list[dict[str, Any]]:
    """Each built-in block's type and current schema, as the server registers them."""
    entries = []
    for cls in builtin_classes():
        entries.append(
            {
                "block_type": cls._to_block_type().model_dump(mode="json"),
                "block_schema": {
                    "fields": cls.model_json_schema(),
                    "capabilities": sorted(cls.get_block_capabilities()),
                    "version": cls.get_block_schema_version(),
                },
            }
        )
    return entries


def render() -> str:
    """The catalog file's text."""
    return json.dumps(catalog(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    CATALOG_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {CATALOG_PATH}")

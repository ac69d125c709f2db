"""Blocks: typed configuration saved by name (Prefect's `prefect.blocks`).

`vibepiper.blocks.core.Block` to write your own; `vibepiper.blocks.system.Secret`,
`vibepiper.blocks.webhook.Webhook`, the notification blocks of
`vibepiper.blocks.notifications` (Slack, Teams, custom webhook, email), and the file
systems of `vibepiper.filesystems` (`LocalFileSystem`, `RemoteFileSystem`) are built in.
Importing this package registers the built-in block types, so `Block.load("secret/name")`
finds their classes.
"""

from __future__ import annotations

import vibepiper.blocks.notifications
import vibepiper.blocks.system
import vibepiper.blocks.webhook  # noqa: F401

__all__ = ["abstract", "core", "notifications", "system", "webhook"]

"""Interfaces of block families at Prefect's path (`prefect.blocks.abstract`).

`NotificationBlock` is the base of the blocks of `vibepiper.blocks.notifications`:
`notify(body, subject=None)` sends a message, and raises `NotificationError` when it
could not be delivered. Subclass it and implement `_deliver` (blocking) and, when the
transport has an async client, `_adeliver`; a Prefect-style subclass that overrides
`notify` itself works too.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import PrivateAttr

from vibepiper.blocks.core import Block
from vibepiper.utilities.dispatch import run_sync

__all__ = ["NotificationBlock", "NotificationError"]


class NotificationError(Exception):
    """A notification block could not deliver its message; `log` says why (never a
    secret: URLs are reduced to their origin, secret values masked)."""

    def __init__(self, log: str) -> None:
        super().__init__(log)
        self.log = log


class NotificationBlock(Block, abc.ABC):
    """A block that sends notifications: `notify(body, subject=None)`, or `await
    anotify(...)`; in async code `notify` returns the coroutine to await, as in Prefect.

    Every failed delivery raises `NotificationError` (Prefect's apprise-based blocks only
    log it unless inside `raise_on_failure()`, which is kept for compatibility).
    """

    _block_schema_capabilities = ["notify"]
    _raise_on_failure: bool = PrivateAttr(default=False)

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        """The run logger inside a flow or task run, else `vibepiper.blocks.<class>`."""
        from vibepiper.exceptions import MissingContextError
        from vibepiper.logging import get_run_logger

        try:
            return get_run_logger()
        except MissingContextError:
            return logging.getLogger(f"vibepiper.blocks.{type(self).__name__}")

    def notify(self, body: str, subject: str | None = None, *, _sync: bool | None = None) -> None:
        """Send `body` (with `subject` as its title where the service has one).

        Raises:
            NotificationError: the service refused the message or could not be reached.
        """
        if not run_sync(_sync):
            return self.anotify(body, subject)  # type: ignore[return-value]
        self._deliver(body, subject)

    async def anotify(self, body: str, subject: str | None = None) -> None:
        """The async twin of `notify`."""
        await self._adeliver(body, subject)

    def _deliver(self, body: str, subject: str | None) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must implement notify() (or _deliver and _adeliver)"
        )

    async def _adeliver(self, body: str, subject: str | None) -> None:
        await asyncio.to_thread(self._deliver, body, subject)

    @contextmanager
    def raise_on_failure(self) -> Iterator[None]:
        """Prefect's switch to raise on a failed delivery; here every failure raises, and
        inside this block a refused private URL raises `NotificationError` too."""
        self._raise_on_failure = True
        try:
            yield
        finally:
            self._raise_on_failure = False

    def _describe(self) -> str:
        """`SlackWebhook block 'ops'` (the saved name), for error messages."""
        name = self._block_document_name
        where = f"{name!r}" if name else "(unsaved)"
        return f"{type(self).__name__} block {where}"

    def _failure(self, reason: str, secrets: Any = ()) -> NotificationError:
        """A NotificationError naming this block, `reason` with `secrets` masked."""
        return NotificationError(f"{self._describe()} could not notify: {_mask(reason, secrets)}")


def _mask(text: str, secrets: Any) -> str:
    from vibepiper.logging.redaction import MASK, redact
    from vibepiper.utilities.urls import redact_urls

    for secret in sorted({str(s) for s in secrets if s and len(str(s)) >= 4}, key=len)[::-1]:
        text = text.replace(secret, MASK)
    return redact_urls(redact(text))

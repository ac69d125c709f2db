"""`vibepiper.concurrency.sync` is `vibepiper.concurrency.asyncio` with the async removed.

The two public modules are thin (the logic lives in `_common` and `_leases`); this
test derives the sync text from the async one, unasync-style, so they cannot drift.
"""

from __future__ import annotations

import re
from pathlib import Path

import vibepiper.concurrency

PACKAGE = Path(vibepiper.concurrency.__file__).parent

# async spelling -> sync spelling, applied in order
UNASYNC = [
    ("for async code", "for sync code"),
    ("concurrency.asyncio", "concurrency.sync"),
    ("@contextlib.asynccontextmanager", "@contextlib.contextmanager"),
    ("AsyncIterator", "Iterator"),
    ("wait_async", "wait_sync"),
    ("async with ", "with "),
    ("async def ", "def "),
    ("await ", ""),
]


def _normalised(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text)


def test_sync_module_is_the_async_module_without_async() -> None:
    derived = (PACKAGE / "asyncio.py").read_text()
    for async_spelling, sync_spelling in UNASYNC:
        derived = derived.replace(async_spelling, sync_spelling)
    assert _normalised(derived) == _normalised((PACKAGE / "sync.py").read_text())

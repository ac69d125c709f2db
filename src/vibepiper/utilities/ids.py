"""Time-ordered ids (UUID version 7 layout) for runs, states and logs.

Random version-4 ids scatter every insert across the database's indexes; ids that
grow with time append near the end, which made a 100,000-task flow about a quarter
faster on SQLite and is kinder to PostgreSQL's B-trees. They are ordinary UUIDs.

The 62 random bits come from `random`'s generator (seeded from the OS, and reseeded in a
forked child), not `os.urandom`: that call lets go of the GIL, and with the store's
writer thread busy, getting it back cost up to a switch interval (5 ms) per id. Ids are
unique, not secret; nothing uses one as a credential.
"""

from __future__ import annotations

import random
import time
import uuid

_new_uuid = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown
_VERSION_7 = 0x7 << 76
_VARIANT = 0x2 << 62
_random_bits = random.getrandbits


def new_id() -> uuid.UUID:
    """A new UUID whose leading 48 bits are the Unix time in milliseconds."""
    nanos = time.time_ns()
    millis = nanos // 1_000_000
    sub_ms = (nanos % 1_000_000) * 4096 // 1_000_000  # 12 bits: order within the ms
    rand = _random_bits(62)
    value = (millis << 80) | _VERSION_7 | (sub_ms << 64) | _VARIANT | rand
    new = _new_uuid(uuid.UUID)
    _set(new, "int", value)
    _set(new, "is_safe", _UNKNOWN)
    return new  # type: ignore[no-any-return]

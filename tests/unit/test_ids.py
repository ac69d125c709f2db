"""Run, state and event ids: UUID version 7 layout, ordered by time, unique, and still
unique in a forked child (whose random generator must not replay the parent's)."""

from __future__ import annotations

import os
import time
import uuid

from vibepiper.utilities.ids import new_id


def test_ids_are_version_7_uuids_ordered_by_their_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(10_000)]
    after = time.time_ns() // 1_000_000
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids)
    assert all(i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == len(ids)
    millis = [i.int >> 80 for i in ids]
    assert millis == sorted(millis) and before <= millis[0] and millis[-1] <= after
    assert uuid.UUID(str(ids[0])) == ids[0]


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids' random bits, to the parent
        os.close(read)
        os.write(write, b"".join(new_id().bytes[8:] for _ in range(100)))
        os._exit(0)
    os.close(write)
    mine = {new_id().bytes[8:] for _ in range(100)}
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    theirs = {data[i : i + 8] for i in range(0, len(data), 8)}
    assert len(theirs) == 100
    assert not mine & theirs

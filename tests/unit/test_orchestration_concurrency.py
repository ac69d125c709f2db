"""The slot rules, with a fake clock: grant, deny, expiry, decay, occupy, all or nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from vibepiper.orchestration.concurrency import (
    check_limit_values,
    decide_acquire,
    decide_renewal,
    lease_expiry,
    rate_limit_problem,
    slots_in_use,
)
from vibepiper.schemas.concurrency import ConcurrencyLimit, SlotLease, tag_limit_name

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def limit(name: str, size: int, *, active: bool = True, decay: float = 0.0) -> ConcurrencyLimit:
    return ConcurrencyLimit(uuid.uuid4(), name, "global", size, active, decay)


def lease(
    name: str, occupy: int = 1, *, expires_in: float = 30.0, decaying: bool = False
) -> SlotLease:
    return SlotLease(
        uuid.uuid4(), name, "h:1", occupy, T0 + dt.timedelta(seconds=expires_in), decaying, T0
    )


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_a_limit_with_room_grants_and_a_full_one_denies_naming_it() -> None:
    limits = {"db": limit("db", 2)}
    assert decide_acquire(limits, {"db": [lease("db")]}, ["db"], 1, T0).granted
    full = decide_acquire(limits, {"db": [lease("db"), lease("db", expires_in=10)]}, ["db"], 1, T0)
    assert not full.granted and full.blocked_by == "db" and not full.impossible
    assert full.retry_after == pytest.approx(10.0)  # the earliest lease to expire


def test_expired_leases_hold_nothing() -> None:
    limits = {"db": limit("db", 1)}
    held = {"db": [lease("db", expires_in=5)]}
    assert not decide_acquire(limits, held, ["db"], 1, at(4.9)).granted
    assert decide_acquire(limits, held, ["db"], 1, at(5)).granted
    assert slots_in_use(held["db"], at(4)) == 1 and slots_in_use(held["db"], at(6)) == 0


def test_occupy_counts_slots_and_more_than_the_limit_is_impossible() -> None:
    limits = {"db": limit("db", 5)}
    held = {"db": [lease("db", 3, expires_in=4), lease("db", 1, expires_in=8)]}
    assert decide_acquire(limits, held, ["db"], 1, T0).granted
    denied = decide_acquire(limits, held, ["db"], 3, T0)
    assert not denied.granted and denied.retry_after == pytest.approx(4.0)
    assert decide_acquire(limits, held, ["db"], 6, T0).impossible
    with pytest.raises(ValueError, match="occupy"):
        decide_acquire(limits, held, ["db"], 0, T0)


def test_several_limits_are_all_or_nothing() -> None:
    limits = {"a": limit("a", 1), "b": limit("b", 1)}
    decision = decide_acquire(limits, {"b": [lease("b")]}, ["a", "b"], 1, T0)
    assert not decision.granted and decision.blocked_by == "b" and decision.take == ()
    granted = decide_acquire(limits, {}, ["a", "b", "a"], 1, T0)
    assert granted.granted and [lim.name for lim in granted.take] == ["a", "b"]


def test_inactive_and_missing_limits_are_ignored_and_reported() -> None:
    limits = {"off": limit("off", 0, active=False)}
    decision = decide_acquire(limits, {}, ["off", "ghost"], 3, T0)
    assert decision.granted and decision.take == () and decision.missing == ("ghost",)


def test_held_leases_last_the_lease_time_and_renew_only_while_live() -> None:
    db = limit("db", 1)
    assert lease_expiry(db, [], 1, T0, 30) == at(30)
    rows = [lease("db", expires_in=10)]
    assert decide_renewal(rows, at(5), 30) == at(35)
    assert decide_renewal(rows, at(10), 30) is None  # expired: the slot may be someone's
    assert decide_renewal([], T0, 30) is None
    assert decide_renewal([lease("db", decaying=True)], T0, 30) is None


def test_decaying_leases_drain_one_after_another_at_the_decay_rate() -> None:
    api = limit("api", 5, decay=2.0)  # 2 slots a second
    assert lease_expiry(api, [], 1, T0, 30, decaying=True) == at(0.5)
    queue = [
        lease("api", 1, expires_in=0.5, decaying=True),
        lease("api", 1, expires_in=1.0, decaying=True),
    ]
    assert lease_expiry(api, queue, 2, T0, 30, decaying=True) == at(2.0)
    # held (renewed) leases do not delay the decay queue; expired ones are gone
    assert lease_expiry(api, [lease("api", 3)], 1, at(0), 30, decaying=True) == at(0.5)
    assert lease_expiry(api, queue, 1, at(5), 30, decaying=True) == at(5.5)
    with pytest.raises(ValueError, match="slot_decay_per_second"):
        lease_expiry(limit("db", 1), [], 1, T0, 30, decaying=True)


def test_a_burst_on_a_decaying_limit_is_then_paced_at_the_decay_rate() -> None:
    api = limit("api", 2, decay=1.0)
    held: list[SlotLease] = []
    granted_at = []
    now = T0
    while len(granted_at) < 5:
        decision = decide_acquire({"api": api}, {"api": held}, ["api"], 1, now)
        if decision.granted:
            expires = lease_expiry(api, held, 1, now, 30, decaying=True)
            held.append(SlotLease(uuid.uuid4(), "api", "h", 1, expires, True, now))
            granted_at.append((now - T0).total_seconds())
        else:
            now += dt.timedelta(seconds=0.25)
    assert granted_at == [0, 0, 1.0, 2.0, 3.0]


def test_rate_limit_needs_a_decay_and_limits_must_be_sane() -> None:
    assert rate_limit_problem([limit("api", 1, decay=1)]) is None
    assert "'db'" in (rate_limit_problem([limit("db", 1)]) or "")
    check_limit_values(0, 0.0)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="whole number"):
            check_limit_values(bad, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slot_decay"):
        check_limit_values(None, -1.0)


def test_tag_limits_are_named_like_prefect_3() -> None:
    assert tag_limit_name("db") == "tag:db"
    tagged = ConcurrencyLimit(uuid.uuid4(), "tag:db", "tag", 1)
    assert tagged.tag == "db" and limit("db", 1).tag is None

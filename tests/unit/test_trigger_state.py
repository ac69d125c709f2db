"""How buckets of event triggers change with events and time (`orchestration.trigger_state`):
reactive thresholds and windows, `after`, proactive deadlines, firing again each window
and resolving."""

from __future__ import annotations

import datetime as dt

from vibepiper.orchestration.trigger_state import Bucket, on_event, on_tick
from vibepiper.schemas.automations import EventTrigger
from vibepiper.schemas.events import ReceivedEvent

T0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _event(name: str, seconds: float = 0) -> ReceivedEvent:
    return ReceivedEvent.model_validate(
        {
            "event": name,
            "resource": {"vibepiper.resource.id": "vibepiper.flow-run.1"},
            "occurred": T0 + dt.timedelta(seconds=seconds),
        }
    )


def test_a_reactive_trigger_with_threshold_one_fires_on_every_expected_event() -> None:
    trigger = EventTrigger(expect={"vibepiper.flow-run.Failed"})
    outcome = on_event(trigger, None, _event("vibepiper.flow-run.Failed"))
    assert (outcome.decision, outcome.bucket) == ("fire", None)
    ignored = on_event(trigger, None, _event("vibepiper.flow-run.Completed"))
    assert ignored.decision == "none" and "not expected" in ignored.note


def test_a_reactive_threshold_counts_within_its_window_and_restarts_after_it() -> None:
    trigger = EventTrigger(expect={"orders.failed"}, threshold=3, within=60)
    bucket = None
    for second in (0, 10):
        outcome = on_event(trigger, bucket, _event("orders.failed", second))
        assert outcome.decision == "none"
        bucket = outcome.bucket
    assert bucket is not None and bucket.count == 2 and "2 of 3" in outcome.note
    late = on_event(trigger, bucket, _event("orders.failed", 61))  # past the window
    assert late.decision == "none" and late.bucket is not None
    assert (late.bucket.count, late.bucket.start) == (1, T0 + dt.timedelta(seconds=61))
    bucket = late.bucket
    for second in (70, 80):
        outcome = on_event(trigger, bucket, _event("orders.failed", second))
        bucket = outcome.bucket
    assert outcome.decision == "fire" and bucket is None


def test_a_reactive_trigger_with_after_counts_only_once_opened() -> None:
    trigger = EventTrigger(after={"deploy.started"}, expect={"deploy.failed"})
    waiting = on_event(trigger, None, _event("deploy.failed"))
    assert waiting.decision == "none" and "waiting for deploy.started" in waiting.note
    opened = on_event(trigger, None, _event("deploy.started", 1))
    assert opened.bucket is not None and opened.decision == "none"
    fired = on_event(trigger, opened.bucket, _event("deploy.failed", 2))
    assert fired.decision == "fire" and fired.bucket is None


def test_a_proactive_trigger_fires_when_its_window_ends_short_and_again_each_window() -> None:
    trigger = EventTrigger(
        after={"vibepiper.flow-run.Running"},
        expect={"vibepiper.flow-run.Completed"},
        posture="Proactive",
        within=600,
    )
    opened = on_event(trigger, None, _event("vibepiper.flow-run.Running"))
    assert opened.bucket is not None and opened.bucket.end == T0 + dt.timedelta(seconds=600)
    early = on_tick(trigger, opened.bucket, T0 + dt.timedelta(seconds=599))
    assert early.decision == "none"
    fired = on_tick(trigger, opened.bucket, T0 + dt.timedelta(seconds=601))
    assert fired.decision == "fire" and fired.bucket is not None
    assert fired.bucket.start == T0 + dt.timedelta(seconds=600)
    assert fired.bucket.triggered_at is not None
    again = on_tick(trigger, fired.bucket, T0 + dt.timedelta(seconds=1201))
    assert again.decision == "fire"
    resolved = on_event(trigger, again.bucket, _event("vibepiper.flow-run.Completed", 1250))
    assert resolved.decision == "resolve" and resolved.bucket is None


def test_a_proactive_trigger_satisfied_in_time_never_fires() -> None:
    trigger = EventTrigger(
        after={"vibepiper.flow-run.Running"},
        expect={"vibepiper.flow-run.Completed"},
        posture="Proactive",
        within=600,
    )
    opened = on_event(trigger, None, _event("vibepiper.flow-run.Running"))
    done = on_event(trigger, opened.bucket, _event("vibepiper.flow-run.Completed", 30))
    assert (done.decision, done.bucket) == ("none", None)
    assert "satisfied" in done.note


def test_a_heartbeat_style_proactive_trigger_restarts_its_window_on_each_event() -> None:
    trigger = EventTrigger(expect={"worker.heartbeat"}, posture="Proactive", within=60)
    watch = Bucket(start=T0, end=T0 + dt.timedelta(seconds=60))
    beat = on_event(trigger, watch, _event("worker.heartbeat", 50))
    assert beat.decision == "none" and beat.bucket is not None
    assert beat.bucket.end == T0 + dt.timedelta(seconds=110)
    quiet = on_tick(trigger, beat.bucket, T0 + dt.timedelta(seconds=111))
    assert quiet.decision == "fire"
    back = on_event(trigger, quiet.bucket, _event("worker.heartbeat", 115))
    assert back.decision == "resolve" and back.bucket is not None


def test_an_ended_reactive_window_is_dropped_without_firing() -> None:
    trigger = EventTrigger(expect={"x"}, threshold=2, within=10)
    bucket = on_event(trigger, None, _event("x")).bucket
    assert bucket is not None
    outcome = on_tick(trigger, bucket, T0 + dt.timedelta(seconds=11))
    assert (outcome.decision, outcome.bucket) == ("none", None)


def test_a_replay_reports_each_firing_with_the_servers_decisions() -> None:
    from vibepiper.orchestration.trigger_state import replay

    reactive = EventTrigger(expect={"orders.failed"}, threshold=2, within=60)
    events = [_event("orders.failed", s) for s in (0, 10, 100, 200, 205)]
    firings, taken = replay(reactive, events, start=T0, end=T0 + dt.timedelta(hours=1))
    assert taken == 5
    assert [f.at for f in firings] == [T0 + dt.timedelta(seconds=s) for s in (10, 205)]
    assert all(f.decision == "fire" and "2 of 2" in f.note for f in firings)


def test_a_proactive_replay_fires_each_empty_window_until_resolved() -> None:
    from vibepiper.orchestration.trigger_state import replay

    heartbeat = EventTrigger(expect={"worker.heartbeat"}, posture="Proactive", within=60)
    events = [_event("worker.heartbeat", s) for s in (30, 200)]
    firings, _ = replay(heartbeat, events, start=T0, end=T0 + dt.timedelta(seconds=250))
    # watching from the start; beat at 30 s; silent 90..150 and 150..210 (fired twice);
    # the beat at 200 s resolves it
    assert [(f.decision, int((f.at - T0).total_seconds())) for f in firings] == [
        ("fire", 90),
        ("fire", 150),
        ("resolve", 200),
    ]


def test_composites_count_recent_firings_and_sequences_need_their_order() -> None:
    from vibepiper.orchestration.trigger_state import composite_fires
    from vibepiper.schemas.automations import CompoundTrigger, SequenceTrigger

    a, b, c = (EventTrigger(expect={name}) for name in ("a", "b", "c"))
    two_of_three = CompoundTrigger(triggers=[a, b, c], require=2, within=60)
    now = T0 + dt.timedelta(seconds=100)
    old = T0  # 100 s ago: outside the 60 s window
    assert composite_fires(two_of_three, {a.id: now, b.id: old}, now)[0] is False
    fires, note = composite_fires(two_of_three, {a.id: now, c.id: now}, now)
    assert fires and "2 of 2" in note
    ordered = SequenceTrigger(triggers=[a, b], within=60)
    early, late = now - dt.timedelta(seconds=5), now
    assert composite_fires(ordered, {a.id: early, b.id: late}, now)[0] is True
    assert composite_fires(ordered, {a.id: late, b.id: early}, now)[0] is False

"""The SQLite text forms shared by the raw writer and the SQLAlchemy types."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid

import pytest

from vibepiper.database import codec


def test_uuids_are_dashed_lowercase_text() -> None:
    value = uuid.UUID("6F1C3D2A-9B4E-4C57-8E1A-3C5D7F9B2E41")
    assert codec.encode_uuid(value) == "6f1c3d2a-9b4e-4c57-8e1a-3c5d7f9b2e41"
    assert codec.encode_uuid("6F1C3D2A9B4E4C578E1A3C5D7F9B2E41") == codec.encode_uuid(value)
    assert codec.decode_uuid(codec.encode_uuid(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (
            dt.datetime(2026, 11, 22, 2, 48, 45, 123456, tzinfo=dt.UTC),
            "2026-11-22T02:48:45.123456+00:00",
        ),
        (dt.datetime(2026, 11, 22, 2, 48, 45, tzinfo=dt.UTC), "2026-11-22T02:48:45.000000+00:00"),
        (
            dt.datetime(2026, 11, 22, 4, 48, 45, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-11-22T02:48:45.000005+00:00",
        ),
        (dt.datetime(2026, 11, 22, 2, 48, 45, 7), "2026-11-22T02:48:45.000007+00:00"),
        (dt.datetime(999, 1, 2, tzinfo=dt.UTC), "0999-01-02T00:00:00.000000+00:00"),
    ],
)
def test_timestamps_are_fixed_width_utc_text(value: dt.datetime, text: str) -> None:
    assert codec.encode_timestamp(value) == text
    decoded = codec.decode_timestamp(text)
    assert decoded.utcoffset() == dt.timedelta(0)
    assert decoded == (value if value.tzinfo else value.replace(tzinfo=dt.UTC))


def test_timestamp_text_sorts_like_time() -> None:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    offsets = [0, 1, 999_999, 1_000_000, 59_999_999, 3_600_000_000, 86_400_000_001]
    moments = [base + dt.timedelta(microseconds=o) for o in offsets]
    zones = [dt.UTC, dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=9))]
    texts = [codec.encode_timestamp(m.astimezone(zones[i % 3])) for i, m in enumerate(moments)]
    assert sorted(texts) == texts
    assert {len(t) for t in texts} == {32}


def test_naive_text_is_read_as_utc() -> None:
    assert codec.decode_timestamp("2026-11-22T02:48:45") == dt.datetime(
        2026, 11, 22, 2, 48, 45, tzinfo=dt.UTC
    )


def test_json_is_compact_and_spells_out_non_finite_numbers() -> None:
    assert codec.encode_json({"a": [1, None, "é"]}) == '{"a":[1,null,"\\u00e9"]}'
    assert codec.decode_json(codec.encode_json({"a": [1, None, "é"]})) == {"a": [1, None, "é"]}
    value = {"x": [float("nan"), float("inf"), -float("inf"), 1.5], "y": (2,)}
    assert codec.decode_json(codec.encode_json(value)) == {
        "x": ["NaN", "Infinity", "-Infinity", 1.5],
        "y": [2],
    }


def test_lone_surrogates_are_escaped_not_fatal() -> None:
    assert codec.encode_json(["\udc80"]) == '["\\udc80"]'


def test_the_codec_and_revision_modules_do_not_import_sqlalchemy() -> None:
    code = (
        "import sys; import vibepiper.database.codec, vibepiper.database.revision; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'alembic')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

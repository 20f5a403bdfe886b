"""The clock without a server: settings, advance, the JSON shape, and the admin bodies' rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mockserver.clock import (
    EARLIEST,
    LATEST,
    REAL,
    ClockSetting,
    advance_from_json,
    advanced,
    rfc3339,
    setting_from_json,
)
from mockserver.errors import AdminInputError

NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)
REAL_TIME = datetime(2030, 6, 15, 12, 0, tzinfo=UTC).timestamp()
"""The system clock's reading handed in: the clock never reads it itself."""
AT_REAL_TIME = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (REAL, AT_REAL_TIME),
        (ClockSetting.frozen_at(NEW_YEAR), NEW_YEAR),
        (ClockSetting.offset_by(3_600_000), AT_REAL_TIME + timedelta(hours=1)),
        (ClockSetting.offset_by(-1), AT_REAL_TIME - timedelta(milliseconds=1)),
        (ClockSetting.offset_by(0), AT_REAL_TIME),
    ],
    ids=["real", "frozen", "offset", "negative-offset", "zero-offset"],
)
def test_now(setting: ClockSetting, expected: datetime) -> None:
    assert setting.now(REAL_TIME) == expected


@pytest.mark.parametrize(
    ("setting", "ms", "expected"),
    [
        (REAL, 1000, ClockSetting.offset_by(1000)),
        (ClockSetting.offset_by(500), -200, ClockSetting.offset_by(300)),
        (ClockSetting.offset_by(500), -500, ClockSetting.offset_by(0)),
        (
            ClockSetting.frozen_at(NEW_YEAR),
            1500,
            ClockSetting.frozen_at(NEW_YEAR + timedelta(seconds=1.5)),
        ),
        (
            ClockSetting.frozen_at(NEW_YEAR),
            -86_400_000,
            ClockSetting.frozen_at(NEW_YEAR - timedelta(days=1)),
        ),
    ],
    ids=["real-becomes-offset", "offset-adds", "offset-to-zero", "frozen-moves", "frozen-back"],
)
def test_advance(setting: ClockSetting, ms: int, expected: ClockSetting) -> None:
    assert setting.advance(ms) == expected


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            REAL,
            {"mode": "real", "now": "2030-06-15T12:00:00Z", "frozen": None, "offset_ms": 0},
        ),
        (
            ClockSetting.frozen_at(NEW_YEAR + timedelta(milliseconds=250)),
            {
                "mode": "frozen",
                "now": "2026-01-01T00:00:00.250000Z",
                "frozen": "2026-01-01T00:00:00.250000Z",
                "offset_ms": 0,
            },
        ),
        (
            ClockSetting.offset_by(-90_000),
            {"mode": "offset", "now": "2030-06-15T11:58:30Z", "frozen": None, "offset_ms": -90000},
        ),
    ],
    ids=["real", "frozen", "offset"],
)
def test_to_json(setting: ClockSetting, expected: dict[str, Any]) -> None:
    assert setting.to_json(REAL_TIME) == expected


def test_a_frozen_instant_is_kept_in_utc() -> None:
    plus_one = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert ClockSetting.frozen_at(plus_one).frozen == NEW_YEAR
    assert rfc3339(plus_one) == "2026-01-01T00:00:00Z"
    assert rfc3339(datetime(900, 1, 1, tzinfo=UTC)) == "0900-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "arguments",
    [
        {"mode": "frozen"},
        {"mode": "real", "frozen": NEW_YEAR},
        {"mode": "real", "offset_ms": 5},
        {"mode": "frozen", "frozen": datetime(2026, 1, 1)},
    ],
    ids=["frozen-without-instant", "real-with-instant", "real-with-offset", "naive-instant"],
)
def test_a_setting_that_contradicts_itself_is_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="clock"):
        ClockSetting(**arguments)


# --- the PUT body ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"frozen": "2026-01-01T00:00:00Z"}, ClockSetting.frozen_at(NEW_YEAR)),
        ({"frozen": "2026-01-01T01:00:00+01:00"}, ClockSetting.frozen_at(NEW_YEAR)),
        ({"frozen": "2025-12-31T19:00:00-05:00"}, ClockSetting.frozen_at(NEW_YEAR)),
        ({"frozen": "2026-01-01t00:00:00z"}, ClockSetting.frozen_at(NEW_YEAR)),
        ({"frozen": "2026-01-01 00:00:00Z"}, ClockSetting.frozen_at(NEW_YEAR)),
        (
            {"frozen": "2026-01-01T00:00:00.123456789Z"},
            ClockSetting.frozen_at(NEW_YEAR + timedelta(microseconds=123456)),
        ),
        ({"offset_ms": 3_600_000}, ClockSetting.offset_by(3_600_000)),
        ({"offset_ms": -86_400_000}, ClockSetting.offset_by(-86_400_000)),
        ({"offset_ms": 0}, ClockSetting.offset_by(0)),
    ],
    ids=[
        "utc",
        "plus-one",
        "minus-five",
        "lower-case",
        "space",
        "nanoseconds-cut-to-micro",
        "offset",
        "negative-offset",
        "zero-offset",
    ],
)
def test_a_put_body_sets(body: dict[str, Any], expected: ClockSetting) -> None:
    assert setting_from_json(body, REAL_TIME) == expected


@pytest.mark.parametrize(
    ("body", "field", "shown"),
    [
        ({"frozen": "2026-01-01T00:00:00"}, "frozen", "'2026-01-01T00:00:00' has no time zone"),
        ({"frozen": "2026-01-01"}, "frozen", "'2026-01-01' is not an RFC 3339 date-time"),
        ({"frozen": "20260101T000000Z"}, "frozen", "'20260101T000000Z' is not an RFC 3339"),
        ({"frozen": "tomorrow"}, "frozen", "'tomorrow' is not an RFC 3339 date-time"),
        ({"frozen": 1767225600}, "frozen", "1767225600 must be an RFC 3339 date-time string"),
        ({"frozen": None}, "frozen", "None must be an RFC 3339 date-time string"),
        ({"frozen": "2026-02-30T00:00:00Z"}, "frozen", "'2026-02-30T00:00:00Z' is not a valid"),
        ({"frozen": "2026-12-31T23:59:60Z"}, "frozen", "'2026-12-31T23:59:60Z' is not a valid"),
        ({"frozen": "2026-01-01T00:00:00+25:00"}, "frozen", "is not a valid date-time"),
        ({"frozen": "0001-01-01T00:00:00+01:00"}, "frozen", "puts the clock outside"),
        ({"frozen": "9999-06-01T00:00:00Z"}, "frozen", "puts the clock outside"),
        ({"offset_ms": 1.5}, "offset_ms", "1.5 must be an integer"),
        ({"offset_ms": "1000"}, "offset_ms", "'1000' must be an integer"),
        ({"offset_ms": True}, "offset_ms", "True must be an integer"),
        ({"offset_ms": 10**20}, "offset_ms", "100000000000000000000 puts the clock outside"),
        ({"offset_ms": -(10**14)}, "offset_ms", "-100000000000000 puts the clock outside"),
        ({}, "body", 'expected {"frozen": "2026-01-01T00:00:00Z"} or {"offset_ms": n}'),
        ({"frozen": "2026-01-01T00:00:00Z", "offset_ms": 1}, "frozen", "not both"),
        ({"offset_ms": 1, "mode": "offset"}, "mode", "unknown field 'mode'"),
    ],
    ids=[
        "naive",
        "date-only",
        "basic-format",
        "words",
        "a-number",
        "null",
        "february-30",
        "leap-second",
        "zone-out-of-range",
        "before-year-1",
        "year-9999",
        "float-offset",
        "string-offset",
        "bool-offset",
        "huge-offset",
        "offset-before-year-1",
        "empty",
        "both",
        "unknown-field",
    ],
)
def test_a_bad_put_body_names_the_field_and_the_value(
    body: dict[str, Any], field: str, shown: str
) -> None:
    with pytest.raises(AdminInputError) as raised:
        setting_from_json(body, REAL_TIME)
    assert raised.value.status == 400
    assert shown in raised.value.message
    assert field in [detail["field"] for detail in raised.value.details]


def test_a_long_value_is_shortened_in_the_message() -> None:
    with pytest.raises(AdminInputError) as raised:
        setting_from_json({"frozen": "x" * 10_000}, REAL_TIME)
    assert len(raised.value.message) < 200
    assert "'xxxx" in raised.value.message


# --- the advance body -----------------------------------------------------------------------


def test_an_advance_body_gives_milliseconds() -> None:
    assert advance_from_json({"ms": 1000}) == 1000
    assert advance_from_json({"ms": -5}) == -5
    assert advanced(REAL, 1000, REAL_TIME) == ClockSetting.offset_by(1000)


@pytest.mark.parametrize(
    ("body", "field", "shown"),
    [
        ({}, "ms", 'expected {"ms": n}'),
        ({"ms": "1s"}, "ms", "'1s' must be an integer"),
        ({"ms": None}, "ms", "None must be an integer"),
        ({"ms": 1, "seconds": 1}, "seconds", "unknown field 'seconds'"),
    ],
    ids=["missing", "text", "null", "unknown-field"],
)
def test_a_bad_advance_body_names_the_field_and_the_value(
    body: dict[str, Any], field: str, shown: str
) -> None:
    with pytest.raises(AdminInputError) as raised:
        advance_from_json(body)
    assert shown in raised.value.message
    assert [detail["field"] for detail in raised.value.details] == [field]


@pytest.mark.parametrize(
    ("setting", "ms"),
    [
        (ClockSetting.frozen_at(LATEST), 1),
        (ClockSetting.frozen_at(EARLIEST), -1),
        (ClockSetting.frozen_at(NEW_YEAR), 10**30),
        (REAL, 10**17),
    ],
    ids=["past-the-latest", "before-the-earliest", "beyond-a-timedelta", "offset-too-far"],
)
def test_advancing_out_of_range_is_refused(setting: ClockSetting, ms: int) -> None:
    with pytest.raises(AdminInputError, match=f"^ms: {ms} puts the clock outside"):
        advanced(setting, ms, REAL_TIME)

"""The controllable clock: what "now" is for whatever reads the time on behalf of a stub.

A `ClockSetting` is a value: real time, a frozen instant, or real time plus an offset. It never
reads the system clock itself; callers pass the real time in (`now(real)`), so the request path
keeps its one `time.time()` and tests can pin both sides. The journal's `time` and the HTTP
`Date` line never go through it: they stay real. This module also checks the admin bodies that
set the clock (`{"frozen": ...}`, `{"offset_ms": ...}`, `{"ms": ...}`), so the rules live beside
the value they build. Pure: no I/O, no aiohttp.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from mockserver.errors import AdminInputError

Mode = Literal["real", "frozen", "offset"]

EARLIEST: Final = datetime(1, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
"""The clock stays within these, so that a year of real time, or a template's `now('+1w')`, still
lands on a date Python can hold (year 9999 at most)."""

_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?P<zone>[Zz]|[+-]\d{2}:\d{2})?"
)
_EXAMPLE: Final = "2026-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class ClockSetting:
    """Real time, a frozen instant, or real time shifted by `offset_ms`.

    Build one with `REAL`, `ClockSetting.frozen_at(moment)` or `ClockSetting.offset_by(ms)`.
    """

    mode: Mode = "real"
    frozen: datetime | None = None
    """The instant a frozen clock shows (aware, UTC); None unless the mode is "frozen"."""
    offset_ms: int = 0
    """Added to real time; 0 unless the mode is "offset"."""

    def __post_init__(self) -> None:
        if (self.mode == "frozen") != (self.frozen is not None):
            raise ValueError(f"a {self.mode} clock with frozen={self.frozen!r}")
        if self.frozen is not None and self.frozen.tzinfo is None:
            raise ValueError(f"a frozen clock needs an aware datetime, got {self.frozen!r}")
        if self.offset_ms and self.mode != "offset":
            raise ValueError(f"a {self.mode} clock with offset_ms={self.offset_ms}")

    @classmethod
    def frozen_at(cls, moment: datetime) -> ClockSetting:
        return cls("frozen", moment.astimezone(UTC), 0)

    @classmethod
    def offset_by(cls, ms: int) -> ClockSetting:
        return cls("offset", None, ms)

    def now(self, real: float) -> datetime:
        """The clock's time when the system clock reads `real` (seconds since the epoch).

        Frozen at 2026-01-01T00:00:00Z: always that; offset by 3600000: real time plus an hour.
        """
        if self.frozen is not None:
            return self.frozen
        moment = datetime.fromtimestamp(real, UTC)
        return moment + timedelta(milliseconds=self.offset_ms) if self.offset_ms else moment

    def advance(self, ms: int) -> ClockSetting:
        """Move a frozen clock by `ms`, or add `ms` to the offset of a running one (a real clock
        becomes an offset clock). `ms` may be negative. OverflowError past year 9999."""
        if self.frozen is not None:
            return ClockSetting.frozen_at(self.frozen + timedelta(milliseconds=ms))
        return ClockSetting.offset_by(self.offset_ms + ms)

    def to_json(self, real: float) -> dict[str, Any]:
        """`{"mode": "frozen", "now": "2026-01-01T00:00:00Z", "frozen": "2026-01-01T00:00:00Z",
        "offset_ms": 0}`; `now` is read at `real`."""
        return {
            "mode": self.mode,
            "now": rfc3339(self.now(real)),
            "frozen": None if self.frozen is None else rfc3339(self.frozen),
            "offset_ms": self.offset_ms,
        }


REAL: Final = ClockSetting()


def rfc3339(moment: datetime) -> str:
    """An aware datetime in UTC with `Z`; microseconds only when there are some:
    2026-01-01T00:00:00Z, 2026-01-01T00:00:00.250000Z."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


# --- admin bodies -------------------------------------------------------------------------------


def setting_from_json(data: Mapping[str, Any], real: float) -> ClockSetting:
    """The body of PUT /clock: exactly one of `{"frozen": "<RFC 3339 with a zone>"}` and
    `{"offset_ms": n}`. AdminInputError names the field and the value that cannot be used."""
    _refuse_unknown(data, {"frozen", "offset_ms"})
    given = [name for name in ("frozen", "offset_ms") if name in data]
    if not given:
        expected = f'expected {{"frozen": "{_EXAMPLE}"}} or {{"offset_ms": n}}'
        raise AdminInputError(
            f'give one of "frozen" and "offset_ms": {expected}',
            [{"field": "body", "message": expected}],
        )
    if len(given) > 1:
        raise AdminInputError(
            'give one of "frozen" and "offset_ms", not both',
            [{"field": name, "message": "give one of frozen and offset_ms"} for name in given],
        )
    if given == ["frozen"]:
        value = data["frozen"]
        moment = _instant(value)
        return _checked(lambda: ClockSetting.frozen_at(moment), real, "frozen", value)
    ms = _integer(data, "offset_ms")
    return _checked(lambda: ClockSetting.offset_by(ms), real, "offset_ms", ms)


def advance_from_json(data: Mapping[str, Any]) -> int:
    """The milliseconds of the body of POST /clock/advance, `{"ms": n}`."""
    _refuse_unknown(data, {"ms"})
    if "ms" not in data:
        raise AdminInputError(
            'expected {"ms": n}', [{"field": "ms", "message": "required: an integer"}]
        )
    return _integer(data, "ms")


def advanced(setting: ClockSetting, ms: int, real: float) -> ClockSetting:
    """`setting.advance(ms)`, or AdminInputError when that leaves EARLIEST to LATEST."""
    return _checked(lambda: setting.advance(ms), real, "ms", ms)


def _refuse_unknown(data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        expected = " or ".join(f'"{name}"' for name in sorted(known))
        raise AdminInputError(
            f"unknown field {unknown[0]!r} (expected {expected})",
            [{"field": name, "message": "unknown field"} for name in unknown],
        )


def _integer(data: Mapping[str, Any], field: str) -> int:
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, value, "must be an integer (milliseconds)")
    return value


def _instant(value: object) -> datetime:
    """ "2026-01-01T00:00:00Z" -> that instant; RFC 3339 with a zone, else AdminInputError."""
    if not isinstance(value, str):
        raise _bad("frozen", value, f"must be an RFC 3339 date-time string, like {_EXAMPLE!r}")
    found = _RFC3339.fullmatch(value)
    if found is None:
        raise _bad("frozen", value, f"is not an RFC 3339 date-time, like {_EXAMPLE!r}")
    if found["zone"] is None:
        raise _bad("frozen", value, f"has no time zone: add one, like {value + 'Z'!r}")
    try:  # fromisoformat takes upper-case T and Z only; it keeps 6 digits of a fraction
        return datetime.fromisoformat(value.upper())
    except ValueError as error:  # a 30th of February, a leap second
        raise _bad("frozen", value, f"is not a valid date-time: {error}") from None


def _checked(
    make: Callable[[], ClockSetting], real: float, field: str, value: object
) -> ClockSetting:
    """The setting `make` builds, if its time at `real` lies within EARLIEST to LATEST."""
    try:
        setting = make()
        moment = setting.now(real)
    except OverflowError:  # past what a timedelta or a datetime holds
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        span = f"{rfc3339(EARLIEST)} to {rfc3339(LATEST)}"
        raise _bad(field, value, f"puts the clock outside {span}")
    return setting


def _bad(field: str, value: object, problem: str) -> AdminInputError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:80] + "..."
    return AdminInputError(
        f"{field}: {shown} {problem}", [{"field": field, "message": f"{shown} {problem}"}]
    )

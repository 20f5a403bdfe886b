"""Verification: did the recorded requests happen as a test expects?

Counts with `count` / `at_least` / `at_most`, and ordered sequences. A failure carries a message a
person can read and the recorded requests that came closest, with the first field that differed.
Reads the journal only through its interface (queries are pushed down to it); no sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import JsonValue

from mockserver.journal import Journal, JournalQuery
from mockserver.matching import RequestMatcher
from mockserver.nearmiss import NearMiss, request_near_misses

NEAR_MISS_SCAN_LIMIT: Final = 10_000
"""Near misses of a failed verify are looked for among this many newest entries."""


@dataclass(frozen=True, slots=True)
class CountCondition:
    """Exactly `count`, or at least / at most; `at_least` and `at_most` may be combined."""

    count: int | None = None
    at_least: int | None = None
    at_most: int | None = None

    def holds(self, found: int) -> bool:
        if self.count is not None:
            return found == self.count
        if self.at_least is not None and found < self.at_least:
            return False
        return self.at_most is None or found <= self.at_most

    def may_still_hold(self, found: int) -> bool:
        """Whether more requests could still make it hold (counts only grow)."""
        if self.count is not None:
            return found <= self.count
        return self.at_most is None or found <= self.at_most

    def describe(self) -> str:
        """ "exactly 1", "at least 2", "between 1 and 3"."""
        if self.count is not None:
            return f"exactly {self.count}"
        if self.at_least is not None and self.at_most is not None:
            return f"between {self.at_least} and {self.at_most}"
        if self.at_least is not None:
            return f"at least {self.at_least}"
        return f"at most {self.at_most}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a count or a sequence verification, as `/__admin/verify` and
    `/__admin/verify/sequence` answer it (`to_json`); `message` is the headline a person reads.

    A count: `count` requests matched, `expected` says how many should have. A sequence:
    `matched_seqs` are the seqs of the steps that matched, in order; `failed_step` is the first
    that did not (`count` is how many did). `near_misses`: the recorded requests that came
    closest to what was missing.
    """

    ok: bool
    count: int
    message: str
    expected: str | None = None
    near_misses: tuple[NearMiss, ...] = ()
    matched_seqs: tuple[int, ...] | None = None
    failed_step: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """A count: 200 `{ok, count}`, 422 `{ok, count, expected, message, near_misses}`.
        A sequence: 200 `{ok, matched_seqs}`, 422 `{ok, matched_seqs, failed_step, message,
        near_misses}`."""
        shown: dict[str, JsonValue] = {"ok": self.ok}
        if self.matched_seqs is None:
            shown["count"] = self.count
            if not self.ok:
                shown["expected"] = self.expected
        else:
            shown["matched_seqs"] = list(self.matched_seqs)
            if not self.ok:
                shown["failed_step"] = self.failed_step
        if not self.ok:
            shown["message"] = self.message
            shown["near_misses"] = [miss.to_json() for miss in self.near_misses]
        return shown


async def verify_count(
    journal: Journal,
    matcher: RequestMatcher,
    condition: CountCondition,
    description: str,
    *,
    found: int | None = None,
) -> Verdict:
    """Check how many entries match (`found`, when the caller counted already); on failure,
    explain with the closest requests among the newest entries."""
    if found is None:
        found = await journal.count(JournalQuery(matcher=matcher))
    expected = condition.describe()
    if condition.holds(found):
        return Verdict(True, found, f"{description}: {found} as expected", expected=expected)
    message = f"expected {expected} request{_s(condition)} matching {description}, found {found}"
    recent = await journal.latest(NEAR_MISS_SCAN_LIMIT)
    near = request_near_misses(matcher, ((entry.seq, entry.request) for entry in recent))
    return Verdict(False, found, message, expected=expected, near_misses=tuple(near))


def _s(condition: CountCondition) -> str:
    return "" if condition.count == 1 or condition.at_most == 1 else "s"


async def verify_sequence(
    journal: Journal, matchers: Sequence[tuple[RequestMatcher, str]]
) -> Verdict:
    """Whether requests matching each matcher happened in this order (others may interleave)."""
    entries = (await journal.find()).entries
    position = 0
    seqs: list[int] = []
    for step, (matcher, description) in enumerate(matchers):
        for index in range(position, len(entries)):
            if JournalQuery(matcher=matcher).accepts(entries[index]):
                seqs.append(entries[index].seq)
                position = index + 1
                break
        else:
            after = f" after request seq {seqs[-1]}" if seqs else ""
            remaining = entries[position:][-NEAR_MISS_SCAN_LIMIT:]
            near = request_near_misses(matcher, ((entry.seq, entry.request) for entry in remaining))
            return Verdict(
                False,
                len(seqs),
                f"step {step} ({description}) did not happen{after}",
                near_misses=tuple(near),
                matched_seqs=tuple(seqs),
                failed_step=step,
            )
    return Verdict(True, len(seqs), f"{len(seqs)} steps in order", matched_seqs=tuple(seqs))

"""Verification: did the recorded requests happen as a test expects?

Counts with `count` / `at_least` / `at_most`, and ordered sequences. A failure carries a message a
person can read and the recorded requests that came closest, with the first field that differed.
Reads the journal only through its interface (queries are pushed down to it); no sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mockserver.journal import Journal, JournalQuery
from mockserver.matching import RequestMatcher, match_params
from mockserver.nearmiss import request_near_misses

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
    ok: bool
    count: int
    expected: str
    message: str
    near_misses: list[dict[str, Any]] = field(default_factory=list)


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
        return Verdict(True, found, expected, f"{description}: {found} as expected")
    message = f"expected {expected} request{_s(condition)} matching {description}, found {found}"
    recent = await journal.latest(NEAR_MISS_SCAN_LIMIT)
    near = request_near_misses(matcher, ((entry.seq, entry.request) for entry in recent))
    return Verdict(False, found, expected, message, near)


def _s(condition: CountCondition) -> str:
    return "" if condition.count == 1 or condition.at_most == 1 else "s"


async def verify_sequence(
    journal: Journal, matchers: Sequence[tuple[RequestMatcher, str]]
) -> dict[str, Any]:
    """Whether requests matching each matcher happened in this order (others may interleave)."""
    entries = (await journal.find()).entries
    position = 0
    seqs: list[int] = []
    for step, (matcher, description) in enumerate(matchers):
        for index in range(position, len(entries)):
            if match_params(matcher, entries[index].request) is not None:
                seqs.append(entries[index].seq)
                position = index + 1
                break
        else:
            after = f" after request seq {seqs[-1]}" if seqs else ""
            remaining = entries[position:][-NEAR_MISS_SCAN_LIMIT:]
            return {
                "ok": False,
                "matched_seqs": seqs,
                "failed_step": step,
                "message": f"step {step} ({description}) did not happen{after}",
                "near_misses": request_near_misses(
                    matcher, ((entry.seq, entry.request) for entry in remaining)
                ),
            }
    return {"ok": True, "matched_seqs": seqs}

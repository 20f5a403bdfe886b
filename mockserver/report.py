"""HTML reports: a journal as one self-contained page, secrets redacted (PRODUCT.md §13).

The server writes one at shutdown (`--journal-dump PATH.html`), `mockserver report` makes one
from JSON Lines dumps, and the pytest plugin one for a whole test run. Each gives namespaces of
entries (the admin API's JSON), with the stubs and scenario states when it knows them; this
module redacts them (`Redaction`: credential headers, secret query parameters, token-looking
values, near misses' actual values included) and renders the live view's page over them
(`mockserver.ui`). Pure, but for reading dumps and writing the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from mockserver.redaction import REDACTED, Redaction
from mockserver.ui import report_page

_FORM: Final = "body.form."
REPORT_SUFFIXES: Final = (".html", ".htm")
"""A --journal-dump path with one of these is a report; any other is JSON Lines."""


@dataclass
class ReportNamespace:
    """One namespace of a report: its entries (oldest first) and, when known, its stubs (with
    `hits`) and scenario states. `label` names it in the report (a test's node id, say)."""

    name: str | None
    entries: list[dict[str, Any]] = field(default_factory=list)
    stubs: list[dict[str, Any]] | None = None
    scenarios: dict[str, str] | None = None
    label: str | None = None


class DumpError(ValueError):
    """A dump line that is not a journal entry: `path:line: message`."""


def is_report_path(path: Path) -> bool:
    return path.suffix.lower() in REPORT_SUFFIXES


def read_dump(path: Path) -> list[dict[str, Any]]:
    """The entries of a JSON Lines journal dump (`--journal-dump PATH.jsonl`), in file order."""
    entries = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise DumpError(f"{path}:{number}: not JSON: {error.msg}") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
                raise DumpError(f"{path}:{number}: not a journal entry (an object with a seq)")
            entries.append(entry)
    return entries


def by_namespace(entries: Iterable[Mapping[str, Any]]) -> list[ReportNamespace]:
    """Entries grouped by their `namespace`: the default namespace first, then by name."""
    grouped: dict[str | None, ReportNamespace] = {}
    for entry in entries:
        name = entry.get("namespace")
        if name not in grouped:
            grouped[name] = ReportNamespace(name)
        grouped[name].entries.append(dict(entry))
    return sorted(grouped.values(), key=lambda each: (each.name is not None, each.name or ""))


def render(
    namespaces: Sequence[ReportNamespace],
    *,
    title: str,
    redaction: Redaction | None = None,
    generated: datetime | None = None,
) -> str:
    """The report's HTML, every entry, stub and near miss passed through `redaction`."""
    rules = redaction if redaction is not None else Redaction.default()
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = [
        {
            "name": namespace.name,
            "label": namespace.label,
            "entries": [redacted_entry(entry, rules) for entry in namespace.entries],
            "stubs": None
            if namespace.stubs is None
            else [rules.json_value(stub) for stub in namespace.stubs],
            "scenarios": namespace.scenarios,
        }
        for namespace in namespaces
    ]
    return report_page(shown, title=title, generated=when)


def write(
    path: Path,
    namespaces: Sequence[ReportNamespace],
    *,
    title: str,
    redaction: Redaction | None = None,
) -> int:
    """Write the report to `path` (its directory made if needed); how many entries it holds."""
    page = render(namespaces, title=title, redaction=redaction)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return sum(len(namespace.entries) for namespace in namespaces)


def redacted_entry(entry: Mapping[str, Any], rules: Redaction) -> dict[str, Any]:
    """An entry as a report shows it: `Redaction.journal_entry`, and its near misses' actual
    values (a near miss on `headers.Authorization` would show the credential)."""
    redacted = rules.journal_entry(entry)
    misses = entry.get("near_misses")
    if isinstance(misses, list):
        redacted["near_misses"] = [_redacted_miss(miss, rules) for miss in misses]
    return redacted


def _redacted_miss(miss: Any, rules: Redaction) -> Any:
    if not isinstance(miss, Mapping):
        return miss
    shown = dict(miss)
    where = str(miss.get("field", ""))
    kind, _, name = where.partition(".")
    if kind == "headers":
        secret = rules.is_secret_header(name)
    elif kind == "cookies":
        secret = True  # the Cookie header is a credential as a whole
    elif kind == "query":
        secret = rules.is_secret_query(name)
    elif where.startswith(_FORM):
        secret = rules.is_secret_query(where.removeprefix(_FORM))
    else:
        secret = False
    actual = miss.get("actual")
    if secret and actual is not None:
        shown["actual"] = REDACTED
    else:
        shown["actual"] = rules.json_value(actual)
    shown["expected"] = rules.text(str(miss.get("expected", "")))
    return shown

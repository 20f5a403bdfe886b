"""`mockserver import`: vcrpy cassettes, HAR files and WireMock mappings -> stub files.

One module per format reads its files (`vcr`, `har`, `wiremock`); `exchanges` turns a recorded
exchange into a drafted stub the same way for the two recorded formats; `output` turns drafts
into one stub document per service, written through `mockserver.writer`; `services` names the
service of each upstream host. What cannot be translated is a `Problem` (reported, the rest
still written); an unreadable input is an `InputError` (nothing written). PRODUCT.md §11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from mockserver.importers.exchanges import Exchange, drafts_from, host_of
from mockserver.importers.output import Draft, WrittenFile, render
from mockserver.importers.report import InputError, Problem, Problems
from mockserver.importers.services import ServiceNames, parse_service_option
from mockserver.redaction import Redaction

__all__ = ["FORMATS", "ImportResult", "InputError", "Problem", "import_files", "write_files"]

Format = Literal["vcr", "har", "wiremock"]
FORMATS: Final[tuple[Format, ...]] = ("vcr", "har", "wiremock")


@dataclass(frozen=True, slots=True)
class ImportResult:
    files: list[WrittenFile]
    problems: list[Problem]


def import_files(
    kind: Format,
    inputs: Sequence[Path],
    *,
    services: Sequence[str] = (),
    redaction: Redaction | None = None,
) -> ImportResult:
    """Read every input of one format and draft its stub files; raises InputError for an input
    that is not that format, ValueError for a bad `--service`."""
    rules = redaction or Redaction.default()
    problems = Problems()
    chosen = dict(parse_service_option(option) for option in services)
    if kind == "wiremock":
        drafts = _wiremock(inputs, chosen, rules, problems)
    else:
        exchanges: list[Exchange] = []
        for path in inputs:
            exchanges.extend(_read(kind, path, problems))
        hosts = {host_of(exchange.url) for exchange in exchanges}
        by_host = {host: name for name, host in chosen.items() if host is not None}
        rest = next((name for name, host in chosen.items() if host is None), None)
        names = ServiceNames(by_host, rest).names(hosts)
        drafts = drafts_from(exchanges, names, rules, problems)
    sources = ", ".join(path.name for path in inputs)
    comment = f"Imported by `mockserver import {kind}` from {sources}."
    files = render(drafts, problems, comment=comment)
    return ImportResult(files, problems.found)


def write_files(directory: Path, files: Sequence[WrittenFile]) -> list[Path]:
    """Write the files under `directory` (created), replacing files of the same name."""
    written = []
    for file in files:
        target = directory / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)
        written.append(target)
    return written


def _read(kind: Format, path: Path, problems: Problems) -> list[Exchange]:
    if kind == "vcr":
        from mockserver.importers.vcr import read_cassette

        return read_cassette(path, problems)
    from mockserver.importers.har import read_har

    return read_har(path, problems)


def _wiremock(
    inputs: Sequence[Path],
    chosen: Mapping[str, str | None],
    rules: Redaction,
    problems: Problems,
) -> list[Draft]:
    from mockserver.importers.wiremock import default_service_name, read_mappings

    if any(host is not None for host in chosen.values()):
        raise ValueError("--service: WireMock mappings name no host: give the service NAME alone")
    named = list(chosen)
    drafts = []
    for directory in inputs:
        service = named[0] if named else default_service_name(directory)
        drafts.extend(read_mappings(directory, service, rules, problems))
    # At equal priority WireMock answers with the mapping loaded last, stubs with the first
    # listed: the stubs are written last mapping first so the same one answers.
    return drafts[::-1]

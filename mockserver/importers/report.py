"""What an import could not translate, and inputs it could not read. Pure: no I/O.

A `Problem` names the input file and the entry (`mappings/x.json: request.bodyPatterns[0].
matchesXPath: not supported`): the import goes on and writes what it could. An `InputError` is a
file that is not the format at all (bad YAML or JSON, no `interactions`): nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One part of an input left out of the written stubs, and why."""

    source: str
    entry: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.entry}: {self.message}"


class InputError(Exception):
    """An input file that cannot be read as its format: `file:line: message`."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source, self.message, self.line = source, message, line
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")


class Problems:
    """The problems of one import, in the order found."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def add(self, source: str, entry: str, message: str) -> None:
        self.found.append(Problem(source, entry, message))

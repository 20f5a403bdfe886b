"""Drafted stubs -> the files an import writes: one stub document per service in
`<service>.yaml` (`service`, `base_path: /<service>`), binary bodies under
`__files/<service>/`. Pure: the files are returned as bytes, written by the caller.

Ids are `<service>:<slug>` (`stripe:post-v1-charges`, `-2` for the next with the same slug), a
comment above each stub names the input entries it came from, and every stub is checked
against the stub format before it is written: one that fails is a `Problem`, not a file that
`mockserver validate` refuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Final

from pydantic import ValidationError

from mockserver.importers.report import Problems
from mockserver.spec import StubSpec
from mockserver.writer import Document, write_documents

_SLUG_UNSAFE: Final = re.compile(r"[^a-z0-9]+")
_SLUG_LENGTH: Final = 60
_ORIGINS_SHOWN: Final = 3


def slug(text: str) -> str:
    """ "POST /v1/charges/{id}" -> "post-v1-charges-id": lower-case, safe in an id."""
    made = _SLUG_UNSAFE.sub("-", text.lower()).strip("-")
    return made[:_SLUG_LENGTH].rstrip("-") or "stub"


@dataclass(slots=True)
class DraftResponse:
    """A response's stub fields; `binary`, when set, is written to a body file named later."""

    fields: dict[str, Any]
    binary: bytes | None = None
    extension: str = ".bin"

    def same_as(self, other: DraftResponse) -> bool:
        return (self.fields, self.binary) == (other.fields, other.binary)


@dataclass(slots=True)
class Draft:
    """One stub to write: its request matcher and answers as stub-file fields (`extra` holds
    description, priority, scenario...), and the input entries it came from."""

    service: str
    slug: str
    request: dict[str, Any]
    responses: list[DraftResponse]
    origins: list[tuple[str, str]]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WrittenFile:
    path: str  # relative to the output directory, with '/'
    content: bytes


def render(drafts: Sequence[Draft], problems: Problems, *, comment: str) -> list[WrittenFile]:
    """The files for these drafts, services in name order, stubs in draft order."""
    services: dict[str, list[Draft]] = {}
    for draft in drafts:
        services.setdefault(draft.service, []).append(draft)
    files: list[WrittenFile] = []
    for service in sorted(services):
        stubs: list[StubSpec] = []
        comments: list[str | None] = []
        used: set[str] = set()
        for draft in services[service]:
            stub_id = _unique(f"{service}:{draft.slug}", used)
            stub, bodies = _stub(draft, stub_id)
            try:
                spec = StubSpec.model_validate(stub)
            except ValidationError as error:
                source, entry = draft.origins[0]
                for detail in error.errors():
                    where = ".".join(str(part) for part in detail["loc"])
                    problems.add(
                        source, entry, f"{where}: {detail['msg']}" if where else detail["msg"]
                    )
                continue
            used.add(stub_id)
            stubs.append(spec)
            comments.append(_origins(draft.origins))
            files.extend(bodies)
        if not stubs:
            continue
        document = Document(stubs, service=service, base_path=f"/{service}", comments=comments)
        text = write_documents([document], comment=comment)
        files.append(WrittenFile(f"{service}.yaml", text.encode()))
    return files


def _unique(wanted: str, used: set[str]) -> str:
    candidate, number = wanted, 1
    while candidate in used:
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate


def _stub(draft: Draft, stub_id: str) -> tuple[dict[str, Any], list[WrittenFile]]:
    bodies: list[WrittenFile] = []
    answers: list[dict[str, Any]] = []
    several = len(draft.responses) > 1
    for index, response in enumerate(draft.responses, start=1):
        fields = dict(response.fields)
        if response.binary is not None:
            name = stub_id.partition(":")[2] + (f"-{index}" if several else "")
            path = f"__files/{draft.service}/{name}{response.extension}"
            fields["body_file"] = path
            bodies.append(WrittenFile(path, response.binary))
        answers.append(fields)
    stub: dict[str, Any] = {"id": stub_id, **draft.extra, "request": draft.request}
    if several:
        stub["responses"] = answers
    elif answers:
        stub["response"] = answers[0]
    return stub, bodies


def _origins(origins: Sequence[tuple[str, str]]) -> str:
    """`from api.yaml interactions[0], interactions[2]`: where a stub came from, for review
    (file names only: the same inputs elsewhere give the same text)."""
    by_file: dict[str, list[str]] = {}
    for source, entry in origins:
        by_file.setdefault(PurePath(source).name, []).append(entry)
    parts = []
    for name, entries in by_file.items():
        shown = ", ".join(entries[:_ORIGINS_SHOWN])
        more = len(entries) - _ORIGINS_SHOWN
        parts.append(f"{name} {shown}" + (f" and {more} more" if more > 0 else ""))
    return "from " + "; ".join(parts)

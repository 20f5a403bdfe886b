"""Stub models -> stable, commented stub files that the loader reads back as the same stubs.

Record mode and the importers write stub files through `write_stubs` and `write_documents`, so
a written file reads like a hand-written one and diffs show only real changes: keys in the order
people write them (id, description, priority, times, scenario, request, response), fields left
out where they hold their default, the shorthands people use (`currency: usd` for
`{equals: usd}`, `method: GET`, `delay_ms: 120`), the stub's structure one entry per line, a
blank line between stubs, a comment for the file and one above any stub (a stub's description
stays a field, so it loads back). The same models always give the same text, to be written as
UTF-8. How that text is spelled (style, quoting, escapes) is `emitter`'s. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel

from mockserver.emitter import YamlMap, YamlSeq, YamlValue, dump
from mockserver.spec import (
    DelayRange,
    PathMatcher,
    RequestSpec,
    ResponseSpec,
    StubSpec,
    ValueMatcher,
)

# Key order per model: what a person writes first. Fields not listed follow in model order.
_ORDER: Final[dict[type[BaseModel], tuple[str, ...]]] = {
    StubSpec: (
        "id",
        "description",
        "priority",
        "times",
        "scenario",
        "unmatched",
        "request",
        "response",
        "responses",
    ),
    ResponseSpec: (
        "status",
        "headers",
        "json_",
        "body",
        "body_file",
        "sse",
        "chunks",
        "template",
        "delay_ms",
        "fault",
    ),
}
# Model fields written one entry per line even when short: the structure of a stub.
_BLOCK_FIELDS: Final = frozenset(
    {
        "request",
        "response",
        "responses",
        "query",
        "headers",
        "cookies",
        "body",
        "form",
        "json_path",
        "sse",
        "events",
    }
)


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document of a stub file: its stubs and the fields that apply to all of them.

    `comments[i]`, when given and not None, is written above stub i.
    """

    stubs: Sequence[StubSpec]
    service: str | None = None
    base_path: str | None = None
    host: str | None = None
    comments: Sequence[str | None] = ()


def write_stubs(
    stubs: Iterable[StubSpec],
    *,
    service: str | None = None,
    base_path: str | None = None,
    host: str | None = None,
    comment: str | None = None,
) -> str:
    """A stub file of one document: a list, or a mapping with `stubs` when a field is given.

    [StubSpec(id="ping", request=RequestSpec(path="/ping"))] -> "- id: ping\\n  request:\\n ..."
    """
    document = Document(tuple(stubs), service=service, base_path=base_path, host=host)
    return write_documents([document], comment=comment)


def write_documents(documents: Iterable[Document], *, comment: str | None = None) -> str:
    """A stub file of several documents (`---` between them), `comment` at its top."""
    return dump([_document(document) for document in documents], comment=comment)


def _document(document: Document) -> YamlMap | YamlSeq:
    if len(document.comments) > len(document.stubs):
        raise ValueError(
            f"{len(document.comments)} comments for {len(document.stubs)} stubs: one at most each"
        )
    stubs = YamlSeq(
        tuple(_model(stub, block=True) for stub in document.stubs),
        block=True,
        spaced=True,
        comments=tuple(document.comments),
    )
    fields = (
        ("service", document.service),
        ("base_path", document.base_path),
        ("host", document.host),
    )
    header = tuple((key, value) for key, value in fields if value is not None)
    if not header:
        return stubs
    return YamlMap((*header, ("stubs", stubs)), block=True)


def _model(model: BaseModel, *, block: bool = False) -> YamlMap:
    """A model's fields that differ from their defaults, in the order people write them."""
    fields = type(model).model_fields
    order = _ORDER.get(type(model), ())
    names = [*order, *(name for name in fields if name not in order)]
    items: list[tuple[str, YamlValue]] = []
    for name in names:
        info = fields[name]
        value = getattr(model, name)
        if name == "json_":  # `json: null` is an expectation of its own: absence is unset
            if name not in model.model_fields_set:
                continue
        elif not info.is_required() and value == info.get_default(call_default_factory=True):
            continue
        if isinstance(model, RequestSpec) and name == "method" and len(value) == 1:
            value = value[0]  # `method: GET`
        items.append((info.alias or name, _convert(value, block=name in _BLOCK_FIELDS)))
    return YamlMap(tuple(items), block=block)


def _convert(value: object, *, block: bool = False) -> YamlValue:
    if isinstance(value, PathMatcher):
        return value.template if value.template is not None else _model(value)
    if isinstance(value, ValueMatcher):
        return _matcher(value)
    if isinstance(value, DelayRange) and value.min == value.max:
        return value.min  # `delay_ms: 120`
    if isinstance(value, ResponseSpec):
        return _model(value, block=True)
    if isinstance(value, BaseModel):
        return _model(value, block=block)
    if isinstance(value, re.Pattern):
        return str(value.pattern)
    if isinstance(value, dict):
        return YamlMap(
            tuple((str(key), _convert(item)) for key, item in value.items()), block=block
        )
    if isinstance(value, list | tuple):
        return YamlSeq(tuple(_convert(item) for item in value), block=block)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as YAML")


def _matcher(matcher: ValueMatcher) -> YamlValue:
    """The shorthand a person writes: `usd` for {equals: usd}, `[a, b]` for {all_of: [a, b]}."""
    converted = _model(matcher)
    if len(converted.items) == 1:
        key, value = converted.items[0]
        if key == "equals":
            return value
        if key == "all_of" and isinstance(value, YamlSeq):
            return YamlSeq(value.items, flow_depth=2)
    return YamlMap(converted.items, flow_depth=2)

"""Where a value was written: field paths mapped to `path:line`, and pydantic errors worded.

A field path (`loc`) is a tuple of keys and indexes, as pydantic reports it:
("response", "json", "amount"). `locate` walks a `yaml.compose()` node tree along it and gives
the line: an unknown key's own line, a missing key's nearest existing parent. `Located` (one
node and the name of its text) and `SourceMap` (every document of a text) wrap that walk for any
tool that reports `path:line`, the loader first. The same path is spelled for people by
`format_loc` ("response.json.items[0].id"), and `model_errors` words an admin body's pydantic
errors with it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from pydantic import ValidationError

from mockserver.errors import StubError
from mockserver.spec import (
    BodyMatcher,
    DocumentHeader,
    PartMatcher,
    PathMatcher,
    RequestSpec,
    ResponseSpec,
    StubSpec,
    ValueMatcher,
)
from mockserver.stub_yaml import CoreLoader

Loc = tuple[str | int, ...]

# the stub format's field names, to tell a misspelt field from a right one in the wrong place
_KNOWN_FIELDS: Final = sorted(
    {
        (info.alias or name)
        for model in (
            StubSpec,
            RequestSpec,
            ResponseSpec,
            BodyMatcher,
            PartMatcher,
            ValueMatcher,
            PathMatcher,
            DocumentHeader,
        )
        for name, info in model.model_fields.items()
    }
)


def format_loc(loc: Sequence[str | int]) -> str:
    """("request", "query", "a", 0) -> "request.query.a[0]"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def child(node: yaml.Node, key: str | int) -> yaml.Node | None:
    """The value node under a mapping key or at a sequence index; None when there is none."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if str(key_node.value) == str(key):
                return value_node  # type: ignore[no-any-return]  # yaml's nodes are untyped
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        return node.value[key]  # type: ignore[no-any-return]
    return None


def locate(node: yaml.Node, loc: Sequence[str | int]) -> tuple[int, Loc]:
    """The line of the deepest node on `loc`, and the part of `loc` the user actually wrote.

    A scalar shorthand (`currency: usd`) ends the walk: its normalised form (`equals`) is not
    what the user typed, so the field stops at `currency`. A missing key keeps its full path.
    """
    loc = tuple(loc)
    line = node.start_mark.line + 1
    walked: list[str | int] = []
    for part in loc:
        if isinstance(node, yaml.ScalarNode):
            return line, tuple(walked)
        if isinstance(node, yaml.MappingNode):
            key_line = None
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    key_line = key_node.start_mark.line + 1
                    node = value_node
                    break
            walked.append(part)
            if key_line is None:
                return line, tuple(walked) + loc[len(walked) :]
            line = key_line
            continue
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line, tuple(walked) + loc[len(walked) :]
            node = node.value[part]
            line = node.start_mark.line + 1
            walked.append(part)
            continue
        return line, tuple(walked)
    return line, tuple(walked)


def written_loc(data: Any, loc: Sequence[str | int]) -> Loc:
    """`locate`'s field path for data that has no lines (an admin call's JSON body).

    {"query": {"q": "x"}}, ("query", "q", "equals") -> ("query", "q").
    """
    loc = tuple(loc)
    walked: list[str | int] = []
    for part in loc:
        if isinstance(data, dict):
            walked.append(part)
            if part not in data:
                return tuple(walked) + loc[len(walked) :]
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int):
            if part >= len(data):
                return tuple(walked) + loc[len(walked) :]
            walked.append(part)
            data = data[part]
        else:
            break
    return tuple(walked)


@dataclass(frozen=True, slots=True)
class Located:
    """A node of a YAML text and the text's name: where the fields below it were written.

    For a stub's node in "stubs/pay.yaml", `source_of(("response", "json", "amount"))` gives
    "stubs/pay.yaml:42", the line of `amount:`.
    """

    name: str
    node: yaml.Node

    @property
    def line(self) -> int:
        """The 1-based line where the node starts (a list item's `- `)."""
        return self.node.start_mark.line + 1

    @property
    def source(self) -> str:
        return f"{self.name}:{self.line}"

    def at(self, loc: Sequence[str | int]) -> Located | None:
        """The node at `loc` below this one; None when the text does not hold it."""
        node: yaml.Node | None = self.node
        for part in loc:
            node = child(node, part) if node is not None else None
        return None if node is None else Located(self.name, node)

    def line_of(self, loc: Sequence[str | int]) -> int:
        return locate(self.node, loc)[0]

    def source_of(self, loc: Sequence[str | int]) -> str:
        return f"{self.name}:{self.line_of(loc)}"

    def written(self, loc: Sequence[str | int]) -> Loc:
        """The part of `loc` that the text spells (see `locate`)."""
        return locate(self.node, loc)[1]

    def line_in_value(self, loc: Sequence[str | int], line: int) -> int:
        """The file line of line `line` (1-based) of the text value at `loc`.

        A block scalar (`|`, `>`) starts on the line below its key.
        """
        found = self.at(self.written(loc))
        block = (
            found is not None
            and isinstance(found.node, yaml.ScalarNode)
            and found.node.style in ("|", ">")
        )
        return self.line_of(loc) + line - 1 + (1 if block else 0)

    def errors(self, error: ValidationError) -> list[StubError]:
        """Each of a model's validation errors at its `path:line`, named as the text spells it."""
        located = []
        for detail in error.errors(include_url=False):
            line, field_path = locate(self.node, tuple(detail["loc"]))
            located.append(
                StubError(f"{self.name}:{line}", format_loc(field_path), message(detail))
            )
        return located


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Every document of one YAML text, to answer where a field was written.

    Built for tools that check stub files after they load (a lint that reports
    `stubs/pay.yaml:12` for `response.json.amount`):
    `SourceMap.from_text(text, "stubs/pay.yaml").line_of(("stubs", 0, "response"))`.
    """

    name: str
    documents: tuple[Located, ...]

    @classmethod
    def from_text(cls, text: str, name: str) -> SourceMap:
        """Compose (never construct) each document. Raises yaml.YAMLError for malformed text."""
        return cls(name, tuple(Located(name, node) for node in compose_documents(text)))

    def line_of(self, loc: Sequence[str | int], document: int = 0) -> int:
        return self.documents[document].line_of(loc)

    def source_of(self, loc: Sequence[str | int], document: int = 0) -> str:
        return self.documents[document].source_of(loc)


def compose_documents(text: str) -> Iterator[yaml.Node]:
    """Each document's node tree, marks included; empty documents are skipped."""
    loader = CoreLoader(text)  # composing needs no types, but reads as the loader does
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()


def message(detail: Any) -> str:
    """One pydantic error detail in the stub format's words, quoting the offending value."""
    kind = detail["type"]
    value = detail.get("input")
    if kind == "extra_forbidden":
        unknown = str(detail["loc"][-1])
        if unknown in _KNOWN_FIELDS:  # right name, wrong place (template: under request)
            return f"unknown field {unknown!r} here: it belongs elsewhere in a stub"
        import difflib  # here: only a misspelt field needs it, not start-up

        close = difflib.get_close_matches(unknown, _KNOWN_FIELDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown field {unknown!r}{hint}"
    if kind == "missing":
        return "field required"
    text = str(detail["msg"]).removeprefix("Value error, ")
    if kind != "value_error" and _is_scalar(value):
        text += f" (got {value!r})"
    elif kind != "value_error" and value is not None:
        text += f" (got {kind_of(value)})"
    return text[:1].lower() + text[1:]


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def kind_of(value: object) -> str:
    """How an error names a value of the wrong kind: "a mapping", "null", "str 'x'"."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


def model_errors(error: ValidationError) -> list[dict[str, str]]:
    """An admin body's validation errors as `details` entries with field paths."""
    located = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        if loc[-2:] == ("path", "template"):  # the user wrote a plain path string
            loc = loc[:-1]
        located.append({"field": format_loc(loc), "message": message(detail)})
    return located

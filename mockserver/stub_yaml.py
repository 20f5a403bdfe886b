"""How a stub file's YAML values read: YAML 1.2 core-schema types, text kept as written.

PyYAML alone reads YAML 1.1, where `NO` and `on` are booleans, `01234` is octal 668, `12:30` is
750 and `1.10` becomes the float 1.1: a stub `country: NO` would then never match `?country=NO`.
`CoreLoader` reads plain scalars with YAML 1.2's core schema instead (only `true`/`false` in
any case are booleans; `null`, `~` and nothing are null; integers are decimal, `0o17` or
`0x1F`; no dates, no sexagesimal numbers). Then `keep_written_text` retags, in a composed stub
document, every plain scalar at a place where the value meets text (request path, query,
headers, cookies, form, multipart and body text matchers; response headers, body, chunks and
event ids; stub ids, descriptions and scenario names) as a string, so it compares and goes out
exactly as the file spells it: `zip: 01234` is "01234", `version: 1.10` is "1.10". Values
inside `json:` (and SSE `data`) keep their types. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, Final

import yaml

STR_TAG: Final = "tag:yaml.org,2002:str"
_TYPED_TAGS: Final = frozenset(f"tag:yaml.org,2002:{kind}" for kind in ("int", "float", "bool"))


class CoreLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema types for plain scalars.

    `yaml.load("a: NO\\nb: 01234\\nc: 0o17\\nd: TRUE", Loader=CoreLoader)`
    -> {"a": "NO", "b": 1234, "c": 15, "d": True}.
    """

    # PyYAML keeps resolvers in a class-level registry: this class starts from an empty one
    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012  # PyYAML's registry, by design

    def construct_core_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)  # `01234` is 1234: YAML 1.2 has no 0-prefixed octal

    def construct_core_float(self, node: yaml.ScalarNode) -> float:
        text = str(self.construct_scalar(node)).lower()
        if text.endswith(".inf"):
            return -math.inf if text.startswith("-") else math.inf
        if text == ".nan":
            return math.nan
        return float(text)

    def construct_core_bool(self, node: yaml.ScalarNode) -> bool:
        return str(self.construct_scalar(node)).lower() == "true"


# YAML 1.2.2, 10.3.2 (core schema tag resolution); the first characters index PyYAML's table
for _kind, _pattern, _first in (
    ("null", r"null|Null|NULL|~|", "nN~"),
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+.0123456789",
    ),
):
    CoreLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_kind}", re.compile(f"^(?:{_pattern})$"), [*_first, ""]
    )
# `<<` merges anchored mappings, as in YAML 1.1: stub files use it to share headers
CoreLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
CoreLoader.add_constructor("tag:yaml.org,2002:int", CoreLoader.construct_core_int)
CoreLoader.add_constructor("tag:yaml.org,2002:float", CoreLoader.construct_core_float)
CoreLoader.add_constructor("tag:yaml.org,2002:bool", CoreLoader.construct_core_bool)


def compose_documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    """Each document as (its node tree with marks, the Python data it holds), one at a time,
    with text positions kept as written (`keep_written_text`). Empty documents are skipped."""
    loader = CoreLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                keep_written_text(node)
                yield node, loader.construct_document(node)
    finally:
        loader.dispose()


def keep_written_text(document: yaml.Node) -> None:
    """Retag the plain scalars of a stub document that meet text as strings, as written.

    A document is a list of stubs, a mapping with `stubs`, or one stub.
    """
    stubs = _get(document, "stubs") if isinstance(document, yaml.MappingNode) else None
    if isinstance(document, yaml.SequenceNode):
        stubs = document
    if isinstance(stubs, yaml.SequenceNode):
        for stub in stubs.value:
            _stub(stub)
    elif isinstance(document, yaml.MappingNode) and stubs is None:
        _stub(document)


def _stub(node: yaml.Node) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key in ("id", "description"):
        _text(_get(node, key))
    scenario = _get(node, "scenario")
    for key in ("name", "state", "set_state"):
        _text(_get(scenario, key))
    request = _get(node, "request")
    _matcher(_get(request, "path"))
    for key in ("query", "headers", "cookies"):
        _matchers(_get(request, key))
    body = _get(request, "body")
    _matchers(_get(body, "form"))
    parts = _get(body, "multipart")
    if isinstance(parts, yaml.MappingNode):
        for name, part in parts.value:
            _text(name)
            keys: set[str] = (
                {key.value for key, _ in part.value}
                if isinstance(part, yaml.MappingNode)
                else set()
            )
            if keys & {"filename", "content_type", "body"}:  # a part's fields, else its body
                for _, value in part.value:
                    _matcher(value)
            else:
                _matcher(part)
    for key in ("equals", "contains", "matches"):
        _text(_get(body, key))
    _response(_get(node, "response"))
    responses = _get(node, "responses")
    if isinstance(responses, yaml.SequenceNode):
        for response in responses.value:
            _response(response)


def _response(node: yaml.Node | None) -> None:
    headers = _get(node, "headers")
    if isinstance(headers, yaml.MappingNode):
        for name, value in headers.value:
            _text(name)
            if isinstance(value, yaml.SequenceNode):  # a header sent once per item
                for item in value.value:
                    _text(item)
            else:
                _text(value)
    for key in ("body", "body_file"):
        _text(_get(node, key))
    parts = _get(_get(node, "chunks"), "parts")
    if isinstance(parts, yaml.SequenceNode):
        for part in parts.value:
            _text(part)
    events = _get(_get(node, "sse"), "events")
    if isinstance(events, yaml.SequenceNode):
        for event in events.value:
            for key in ("id", "event"):  # `data` is JSON: typed
                _text(_get(event, key))


def _matchers(node: yaml.Node | None) -> None:
    """A mapping of names to value matchers (query, headers, cookies, form)."""
    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            _text(name)
            _matcher(value)


def _matcher(node: yaml.Node | None) -> None:
    """One value matcher: a scalar (equals), a list (all_of) or a mapping of operators."""
    if isinstance(node, yaml.ScalarNode):
        _text(node)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _matcher(item)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            key = key_node.value
            if key in ("equals", "contains", "starts_with", "matches", "template"):
                _text(value)
            elif key == "not":
                _matcher(value)
            elif key in ("any_of", "all_of") and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    _matcher(item)


def _text(node: yaml.Node | None) -> None:
    """A plain scalar read as the string it spells; null stays null (it has its own error)."""
    if isinstance(node, yaml.ScalarNode) and node.style is None and node.tag in _TYPED_TAGS:
        node.tag = STR_TAG


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return value  # type: ignore[no-any-return]  # yaml's nodes are untyped
    return None

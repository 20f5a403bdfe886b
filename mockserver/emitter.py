"""YAML text from mappings, sequences and scalars, every choice of style made here, explicitly.

Block mappings and sequences one entry per line; a collection of one-line scalars in flow style
(`{min: 50, max: 400}`, `[GET, HEAD]`) when it is short and allowed to be; multi-line text as a
`|` literal where it reads back unchanged, else double-quoted; comment lines; `? ` for keys
longer than YAML allows inline. A string goes unquoted only if YAML 1.1 and YAML 1.2 both read it
back as that same string: never `NO`, `on`, `~`, `01234`, `1.10`, `12:30`, `1e3`, `0x1F`,
`.inf`, a date, text with leading or trailing spaces, `: `, ` #` or a leading indicator.
Control characters are escaped inside double quotes; other non-ASCII text stays as it is.

Why not PyYAML's `dump`: it writes no comments, decides quoting by its YAML 1.1 resolvers alone
(it leaves `1e3`, `0o17` and `089` plain, which YAML 1.2 reads as numbers), folds long scalars at
a width, and may change its output between versions. PyYAML's resolver is still asked here, so
anything the loader would not read as a string is quoted. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import yaml

WIDTH: Final = 100  # a flow collection whose line would be longer goes in block style
_MAX_KEY: Final = 1000  # YAML limits an implicit key to 1024 characters: longer ones use `? `
_STR_TAG: Final = "tag:yaml.org,2002:str"

# Characters written as they are; any other goes in double quotes as an escape. YAML 1.1 reads
# NEL and the Unicode line and paragraph separators as line breaks, and a BOM is no text.
_UNSAFE: Final = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_INDICATORS: Final = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_INDICATORS: Final = frozenset(",[]{}:#?")
# Plain scalars that YAML 1.2's core schema or the YAML 1.1 type repository reads as something
# other than a string (PyYAML's resolver, asked too, covers most of YAML 1.1 but not `y`, `n`,
# or `1.2.3`, which the 1.1 float pattern accepts).
_NOT_STRINGS: Final = re.compile(
    r"""
    # YAML 1.2 core schema
    null|Null|NULL|~
    |true|True|TRUE|false|False|FALSE
    |[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+
    |[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    |[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)
    # YAML 1.1 types
    |y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF
    |[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
    |[-+]?([0-9][0-9_]*)?\.[0-9.]*([eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
    |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt\ \t].*)?
    |<<|=
    """,
    re.VERBOSE,
)
_ESCAPES: Final = {
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
_RESOLVER: Final = yaml.resolver.Resolver()


Scalar = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class YamlMap:
    """A mapping in the order given; `block` keeps it one entry per line even when short, and
    `flow_depth` 2 lets its flow style hold flow collections of scalars (`{any_of: [a, b]}`)."""

    items: tuple[tuple[str, YamlValue], ...]
    block: bool = False
    flow_depth: int = 1


@dataclass(frozen=True, slots=True)
class YamlSeq:
    """A sequence, styled as `YamlMap`; `spaced` puts a blank line between items, and
    `comments[i]` goes above item i."""

    items: tuple[YamlValue, ...]
    block: bool = False
    flow_depth: int = 1
    spaced: bool = False
    comments: tuple[str | None, ...] = ()


YamlValue = YamlMap | YamlSeq | Scalar


def dump(documents: Iterable[YamlMap | YamlSeq], *, comment: str | None = None) -> str:
    """The documents as YAML text, `---` between them, `comment` (any text) on top."""
    lines = _comment_lines(comment, 0) if comment is not None else []
    for position, document in enumerate(documents):
        if position:
            lines.append("---")
        if document.items:
            lines.extend(_block(document, 0))
        else:
            lines.append("{}" if isinstance(document, YamlMap) else "[]")
    return "\n".join(lines) + "\n"


def _block(value: YamlMap | YamlSeq, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, YamlMap):
        for key, item in value.items:
            text = _scalar(key, flow=False)
            if len(text) > _MAX_KEY:
                lines.append(f"{pad}? {text}")
                lines.extend(_after(f"{pad}:", item, indent, compact=True))
            else:
                lines.extend(_after(f"{pad}{text}:", item, indent))
        return lines
    for position, item in enumerate(value.items):
        if value.spaced and position:
            lines.append("")
        comment = value.comments[position] if position < len(value.comments) else None
        if comment is not None:
            lines.extend(_comment_lines(comment, indent))
        lines.extend(_after(f"{pad}-", item, indent, compact=True))
    return lines


def _after(head: str, value: YamlValue, indent: int, *, compact: bool = False) -> list[str]:
    """`value` after `head` ("key:", "-" or ":" at `indent`), on its line or the lines below.

    A compact head (`-`, `:`) takes a block collection's first line on its own line.
    """
    if isinstance(value, str) and (literal := _literal(value)) is not None:
        indicator, text = literal
        pad = " " * (indent + 2)
        return [f"{head} {indicator}", *(f"{pad}{line}" if line else "" for line in text)]
    if not isinstance(value, YamlMap | YamlSeq):
        return [f"{head} {_scalar(value, flow=False)}"]
    if not value.items:
        return [f"{head} {{}}" if isinstance(value, YamlMap) else f"{head} []"]
    flow = None if value.block else _flow(value, value.flow_depth)
    if flow is not None and len(head) + 1 + len(flow) <= WIDTH:
        return [f"{head} {flow}"]
    lines = _block(value, indent + 2)
    if compact and not lines[0].lstrip().startswith("#"):
        return [f"{head} {lines[0][indent + 2 :]}", *lines[1:]]
    return [head, *lines]


def _flow(value: YamlMap | YamlSeq, depth: int) -> str | None:
    """`{a: 1, b: x}` or `[GET, HEAD]` when every item is a one-line scalar (or, with `depth`
    2, a flow collection of them); else None."""
    parts = []
    if isinstance(value, YamlMap):
        for key, item in value.items:
            text = _flow_item(item, depth - 1)
            if text is None or len(key) > _MAX_KEY:
                return None
            parts.append(f"{_scalar(key, flow=True)}: {text}")
        return "{" + ", ".join(parts) + "}"
    for item in value.items:
        text = _flow_item(item, depth - 1)
        if text is None:
            return None
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


def _flow_item(value: YamlValue, depth: int) -> str | None:
    if isinstance(value, YamlMap | YamlSeq):
        if not value.items:
            return "{}" if isinstance(value, YamlMap) else "[]"
        return _flow(value, depth) if depth > 0 else None
    if isinstance(value, str) and "\n" in value:
        return None
    return _scalar(value, flow=True)


def _scalar(value: Scalar, *, flow: bool) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if _plain(value, flow=flow):
        return value
    if ("\\" in value or '"' in value) and not _UNSAFE.search(value) and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    return '"' + "".join(_escaped(char) for char in value) + '"'


def _float(value: float) -> str:
    """A float both YAML versions read back as the same float: 1e+16 -> 1.0e+16."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:  # YAML 1.1 needs the dot and the exponent's sign
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        text = f"{mantissa}e{exponent}"
    return text


def _plain(text: str, *, flow: bool) -> bool:
    """Whether `text` may go unquoted and still read back as this same string."""
    if not text or text[0] in _INDICATORS or text[0] == " " or text[-1] == " ":
        return False
    if _UNSAFE.search(text) or "\n" in text or "\t" in text:
        return False
    if ": " in text or " #" in text or text.endswith(":") or text.startswith(("---", "...")):
        return False
    if flow and not _FLOW_INDICATORS.isdisjoint(text):
        return False
    if _NOT_STRINGS.fullmatch(text):
        return False
    # the loader's own resolver: anything it would not read as a string (a date, `=`, `<<`)
    resolve = _RESOLVER.resolve  # untyped in PyYAML's stubs
    tag: object = resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == _STR_TAG


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if not _UNSAFE.match(char):
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _literal(text: str) -> tuple[str, list[str]] | None:
    """A multi-line string as a `|` block: its indicator and lines; None if it cannot be one.

    Trailing line breaks pick the indicator: none `|-`, one `|`, more `|+`. A first line that
    starts with a space (the block's indentation would change), trailing spaces (editors strip
    them) and escapes need double quotes instead.
    """
    if "\n" not in text or _UNSAFE.search(text):
        return None
    content = text.rstrip("\n")
    breaks = len(text) - len(content)
    lines = content.split("\n")
    first = next((line for line in lines if line), "")
    if not first or first[0] in " \t":
        return None
    if any(line != line.rstrip(" \t") for line in lines):
        return None
    indicator = "|-" if breaks == 0 else "|" if breaks == 1 else "|+"
    return indicator, lines + [""] * max(breaks - 1, 0)


def _comment_lines(comment: str, indent: int) -> list[str]:
    pad = " " * indent
    lines = []
    for line in comment.splitlines() or [""]:
        text = "".join(_escaped(char) if _UNSAFE.match(char) else char for char in line).rstrip()
        lines.append(f"{pad}# {text}" if text else f"{pad}#")
    return lines

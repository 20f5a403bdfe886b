"""The YAML emitter: each style choice, and values that read back as themselves in YAML 1.1 and 1.2.

Checked with PyYAML as the loader reads (YAML 1.1) and with PyYAML given YAML 1.2's core-schema
types, as a YAML 1.2 loader reads. The writer's tests cover whole stub files.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import pytest
import yaml

from mockserver.emitter import YamlMap, YamlSeq, YamlValue, dump


class Core12Loader(yaml.SafeLoader):
    """PyYAML reading plain scalars with YAML 1.2 core-schema types, as a 1.2 loader would."""

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012  # PyYAML's class-level registry


for _tag, _pattern, _first in [
    ("null", r"null|Null|NULL|~|", "nN~"),
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+.0123456789",
    ),
]:
    Core12Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), [*_first, ""]
    )


def reads_back(text: str) -> Any:
    """What `text` holds, which YAML 1.1 and YAML 1.2 must agree on."""
    # both loaders are safe ones
    loaded = [yaml.load(text, Loader=loader) for loader in (yaml.SafeLoader, Core12Loader)]
    assert loaded[0] == loaded[1]
    assert repr(loaded[0]) == repr(loaded[1])  # 1 and 1.0 and True compare equal
    return loaded[0]


def one(value: YamlValue) -> str:
    """`value` written under the key `k` of a document."""
    return dump([YamlMap((("k", value),))])


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain text", "plain text"),
        ("/v1/customers/{id}", "/v1/customers/{id}"),
        ("naïve café 東京", "naïve café 東京"),
        ("it's", "it's"),
        ("NO", '"NO"'),
        ("yes", '"yes"'),
        ("on", '"on"'),
        ("off", '"off"'),
        ("y", '"y"'),
        ("~", '"~"'),
        ("null", '"null"'),
        ("", '""'),
        ("01234", '"01234"'),
        ("089", '"089"'),
        ("1.10", '"1.10"'),
        ("1.2.3", '"1.2.3"'),
        ("12:30", '"12:30"'),
        ("1e3", '"1e3"'),
        ("0x1F", '"0x1F"'),
        ("0o17", '"0o17"'),
        ("1_000", '"1_000"'),
        (".inf", '".inf"'),
        ("2026-01-01", '"2026-01-01"'),
        ("<<", '"<<"'),
        (" leading", '" leading"'),
        ("trailing ", '"trailing "'),
        ("key: value", '"key: value"'),
        ("a #comment", '"a #comment"'),
        ("#hash", '"#hash"'),
        ("{{ uuid() }}", '"{{ uuid() }}"'),
        ("- item", '"- item"'),
        ("ends:", '"ends:"'),
        ("---", '"---"'),
        (r"^\d+$", r"^\d+$"),
        ('"quoted"', "'\"quoted\"'"),
        (r"\d: x", r"'\d: x'"),
        ("bell\x07", '"bell\\a"'),
        ("nul\x00 del\x7f", '"nul\\0 del\\x7f"'),
        ("tab\there", '"tab\\there"'),
        ("line\u2028separator", '"line\\Lseparator"'),
        ("bom\ufeff", '"bom\\ufeff"'),
        ("cr\r\nlf", '"cr\\r\\nlf"'),
    ],
)
def test_strings_are_quoted_only_where_yaml_would_read_something_else(
    value: str, written: str
) -> None:
    assert one(value) == f"k: {written}\n"
    assert reads_back(one(value)) == {"k": value}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ({"a": 1e16, "b": 1e-7, "c": -0.0}, "{a: 1.0e+16, b: 1.0e-07, c: -0.0}"),
        (
            {"big": 12345678901234567890, "t": True, "n": None},
            '{big: 12345678901234567890, t: true, "n": null}',
        ),
        ({"1": "one", "true": "yes", "": "empty"}, '{"1": one, "true": "yes", "": empty}'),
        ({"a,b": "c:d", "x": "[y]"}, '{"a,b": "c:d", x: "[y]"}'),
    ],
    ids=["floats", "ints-bools-null", "keys-quoted-too", "flow-indicators"],
)
def test_scalars_keep_their_types_in_flow_style(value: dict[str, Any], written: str) -> None:
    flow = YamlMap(tuple(value.items()))
    assert one(flow) == f"k: {written}\n"
    assert reads_back(one(flow)) == {"k": value}


@pytest.mark.parametrize(
    ("value", "lines"),
    [
        ("one\ntwo", ["k: |-", "  one", "  two"]),
        ("one\ntwo\n", ["k: |", "  one", "  two"]),
        ("one\n\ntwo\n\n", ["k: |+", "  one", "", "  two", ""]),
        ("\nafter a blank\n  indented", ["k: |-", "", "  after a blank", "    indented"]),
        (" leading space\nx", ['k: " leading space\\nx"']),
        ("trailing space \nx", ['k: "trailing space \\nx"']),
        ("\n\n", ['k: "\\n\\n"']),
        ("nel\x85\nx", ['k: "nel\\N\\nx"']),
    ],
    ids=[
        "strip",
        "clip",
        "keep",
        "blank-first-line",
        "leading-space",
        "trailing-space",
        "only-breaks",
        "escapes",
    ],
)
def test_multi_line_text_is_a_literal_block_where_it_can_be(value: str, lines: list[str]) -> None:
    assert one(value).splitlines() == lines
    assert reads_back(one(value)) == {"k": value}


def test_floats_that_are_whole_or_special_stay_floats() -> None:
    values = (1.0, -0.5, 1e300, float("inf"), float("-inf"))
    text = dump([YamlSeq(values)])
    assert text == "- 1.0\n- -0.5\n- 1.0e+300\n- .inf\n- -.inf\n"
    assert reads_back(text) == list(values)


def test_a_key_longer_than_yaml_allows_inline_is_written_explicitly() -> None:
    key = "k" * 1500
    value = YamlMap(((key, YamlMap((("a", 1), ("b", YamlSeq((1, 2)))))), ("short", 1)))
    text = dump([value])
    assert text == f"? {key}\n: a: 1\n  b: [1, 2]\nshort: 1\n"
    assert reads_back(text) == {key: {"a": 1, "b": [1, 2]}, "short": 1}


def test_flow_style_only_where_short_and_allowed() -> None:
    short = YamlMap((("a", 1), ("b", "x")))
    nested = YamlMap((("any_of", YamlSeq(("usd", "eur"))),), flow_depth=2)
    long_items = YamlSeq(tuple(f"item-{number}" for number in range(20)))
    text = dump(
        [
            YamlMap(
                (
                    ("short", short),
                    ("forced", YamlMap(short.items, block=True)),
                    ("nested", nested),
                    ("nested_depth_1", YamlMap(nested.items)),
                    ("long", long_items),
                    ("empty", YamlMap(())),
                    ("none", YamlSeq(())),
                )
            )
        ]
    )
    assert text.splitlines()[:9] == [
        "short: {a: 1, b: x}",
        "forced:",
        "  a: 1",
        "  b: x",
        "nested: {any_of: [usd, eur]}",
        "nested_depth_1:",
        "  any_of: [usd, eur]",
        "long:",
        "  - item-0",
    ]
    assert text.splitlines()[-2:] == ["empty: {}", "none: []"]
    reads_back(text)


def test_sequences_take_comments_and_blank_lines_between_items() -> None:
    items = YamlSeq(
        (YamlMap((("id", "a"), ("count", 1)), block=True), YamlSeq(("b", "c")), "d"),
        spaced=True,
        comments=("first\nsecond\x07 ", None, ""),
        block=True,
    )
    text = dump([YamlMap((("items", items),))], comment="top")
    assert text == textwrap.dedent(
        """\
        # top
        items:
          # first
          # second\\a
          - id: a
            count: 1

          - [b, c]

          #
          - d
        """
    )
    assert reads_back(text) == {"items": [{"id": "a", "count": 1}, ["b", "c"], "d"]}


def test_documents_are_separated_and_empty_ones_written() -> None:
    text = dump([YamlSeq(()), YamlMap(()), YamlSeq(("a",))])
    assert text == "[]\n---\n{}\n---\n- a\n"
    assert list(yaml.safe_load_all(text)) == [[], {}, ["a"]]

"""The stub writer: stub files that load back as the same stubs, in YAML 1.1 and YAML 1.2.

Every stub pack is written and loaded again; a property test writes values that YAML would read
as something else if they went unquoted; the golden test shows the format for review. How
each value is spelled is tested in test_emitter.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mockserver.loader import load_paths
from mockserver.spec import RequestSpec, StubSpec
from mockserver.writer import Document, write_documents, write_stubs
from tests.test_emitter import Core12Loader

ROOT: Final = Path(__file__).resolve().parent.parent
PACKS: Final = sorted((ROOT / "stubs").glob("*.yaml"))


def documents_of(text: str) -> list[Document]:
    """A stub file's documents as the writer takes them."""
    documents = []
    for data in yaml.safe_load_all(text):
        if isinstance(data, list):
            documents.append(Document([StubSpec.model_validate(stub) for stub in data]))
        else:
            documents.append(
                Document(
                    [StubSpec.model_validate(stub) for stub in data["stubs"]],
                    service=data.get("service"),
                    base_path=data.get("base_path"),
                    host=data.get("host"),
                )
            )
    return documents


def json_flags(spec: StubSpec) -> tuple[bool, ...]:
    """Where `json: null` was given: equal models may differ only in that."""
    body = spec.request.body
    return (body is not None and body.has_json, *(answer.has_json for answer in spec.answers))


def same_stubs(written: str, original: list[StubSpec]) -> None:
    """`written` reads back as `original`, in YAML 1.1 (the loader) and YAML 1.2 alike."""
    for loader in (yaml.SafeLoader, Core12Loader):
        data = yaml.load(written, Loader=loader)  # both loaders are safe ones
        specs = [StubSpec.model_validate(stub) for stub in data]
        assert specs == original, loader
        assert [json_flags(spec) for spec in specs] == [json_flags(spec) for spec in original]


def loaded(directory: Path) -> list[tuple[object, ...]]:
    return [
        (stub.id, stub.service, stub.base_path, stub.host, stub.spec, json_flags(stub.spec))
        for stub in load_paths([directory]).stubs
    ]


@pytest.mark.parametrize("pack", PACKS, ids=[pack.stem for pack in PACKS])
def test_every_pack_loads_back_as_the_same_stubs(pack: Path, tmp_path: Path) -> None:
    original, written = tmp_path / "original", tmp_path / "written"
    for directory in (original, written):
        shutil.copytree(ROOT / "stubs" / "__files", directory / "__files")
    shutil.copy(pack, original / pack.name)
    text = write_documents(documents_of(pack.read_text()), comment=f"The {pack.stem} pack")
    (written / pack.name).write_text(text)
    assert loaded(written) == loaded(original)
    assert write_documents(documents_of(text), comment=f"The {pack.stem} pack") == text


def test_validate_accepts_what_was_written(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stubs" / "__files", tmp_path / "__files")
    for pack in PACKS:
        (tmp_path / pack.name).write_text(write_documents(documents_of(pack.read_text())))
    result = subprocess.run(
        [sys.executable, "-m", "mockserver.cli", "validate", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


GOLDEN_STUBS: Final = [
    {
        "id": "create-charge",
        "description": "Charge succeeds for the test card",
        "priority": 4,
        "times": 2,
        "scenario": {"name": "checkout", "state": "started", "set_state": "paid"},
        "request": {
            "method": ["POST", "PUT"],
            "path": "/v1/charges/{id}",
            "query": {"expand": "customer", "limit": "10", "country": "NO"},
            "headers": {
                "Authorization": {"starts_with": "Bearer sk_test_"},
                "Idempotency-Key": {"matches": r"^[0-9a-f-]{36}$"},
                "X-Debug": {"present": False},
            },
            "body": {"form": {"amount": "2000", "currency": {"any_of": ["usd", "eur"]}}},
        },
        "response": {
            "status": 201,
            "headers": {"Request-Id": "req_{{ uuid() }}", "Retry-After": "1"},
            "json": {
                "id": "ch_1",
                "amount": 2000,
                "paid": True,
                "zip": "01234",
                "version": "1.10",
                "fee": 0.3,
                "refunds": [],
                "metadata": {"order": "42", "note": None},
                "receipt": "Thank you\nfor your order\n",
                "event": {"type": "charge.succeeded", "at": "12:30", "tags": ["on", "off"]},
            },
            "template": True,
            "delay_ms": {"min": 50, "max": 400},
        },
    },
    {
        "request": {"method": "GET", "path": {"starts_with": "/v1/"}},
        "responses": [
            {"status": 503, "headers": {"Retry-After": "1"}},
            {"sse": {"events": [{"event": "message", "data": {"n": 1}}, {"data": "[DONE]"}]}},
        ],
    },
]

GOLDEN: Final = textwrap.dedent(
    """\
    # Payments, as the checkout tests expect them
    service: payments
    base_path: /pay
    stubs:
      # the happy path
      - id: create-charge
        description: Charge succeeds for the test card
        priority: 4
        times: 2
        scenario: {name: checkout, state: started, set_state: paid}
        request:
          method: [POST, PUT]
          path: /v1/charges/{id}
          query:
            expand: customer
            limit: "10"
            country: "NO"
          headers:
            Authorization: {starts_with: Bearer sk_test_}
            Idempotency-Key: {matches: "^[0-9a-f-]{36}$"}
            X-Debug: {present: false}
          body:
            form:
              amount: "2000"
              currency: {any_of: [usd, eur]}
        response:
          status: 201
          headers:
            Request-Id: req_{{ uuid() }}
            Retry-After: "1"
          json:
            id: ch_1
            amount: 2000
            paid: true
            zip: "01234"
            version: "1.10"
            fee: 0.3
            refunds: []
            metadata: {order: "42", note: null}
            receipt: |
              Thank you
              for your order
            event:
              type: charge.succeeded
              at: "12:30"
              tags: ["on", "off"]
          template: true
          delay_ms: {min: 50, max: 400}

      - request:
          method: GET
          path: {starts_with: /v1/}
        responses:
          - status: 503
            headers:
              Retry-After: "1"
          - sse:
              events:
                - event: message
                  data: {"n": 1}
                - {data: "[DONE]"}
    """
)


def test_golden_a_representative_document() -> None:
    specs = [StubSpec.model_validate(stub) for stub in GOLDEN_STUBS]
    document = Document(specs, service="payments", base_path="/pay", comments=["the happy path"])
    written = write_documents([document], comment="Payments, as the checkout tests expect them")
    assert written == GOLDEN
    same_stubs(textwrap.dedent(written.split("stubs:\n", 1)[1]), specs)


# --- property: any text from real traffic reads back as itself --------------------------------

TRAPS: Final = (
    "NO", "no", "Yes", "ON", "off", "y", "N", "~", "null", "Null", "true", "FALSE", "",
    "01234", "089", "1.10", "1.2.3", "12:30", "1:2:3", "1e3", "1E-3", "0x1F", "0o17", "0b101",
    "1_000", ".inf", "-.INF", ".nan", "+1", "-0", ".5", "5.", "2026-01-01", "2026-01-01 10:00",
    "<<", "=", "---", "...", "- x", "? x", ": x", "a: b", "a #b", "#", "&a", "*a", "!a", "|",
    ">", "%x", "@x", "`x", "'", '"', "{", "}", "[", "]", ",", "a,b", " ", " a", "a ", "\t",
    "\n", "a\nb", "a\n", "\ufeff", "\x85", "\u2028", "\x00", "\x7f", "\x1b", "é", "東京", "😀",
)  # fmt: skip
TRICKY: Final = st.one_of(
    st.sampled_from(TRAPS),
    st.lists(st.sampled_from(TRAPS), min_size=1, max_size=3).map("".join),
    st.from_regex(r"[-+]?[0-9_.:eExXoObB]{1,8}", fullmatch=True),
    st.text(st.characters(codec="utf-8"), max_size=12),
)
ONE_LINE: Final = TRICKY.filter(lambda text: not re.search("[\r\n\x85\u2028\u2029]", text))
JSON_SCALAR: Final = st.one_of(
    TRICKY, st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    description=TRICKY,
    query=st.dictionaries(TRICKY, TRICKY, max_size=3),
    header=ONE_LINE,
    body=st.dictionaries(TRICKY, st.one_of(JSON_SCALAR, st.lists(JSON_SCALAR, max_size=3))),
    text=TRICKY,
)
def test_tricky_scalars_read_back_as_written_in_yaml_1_1_and_1_2(
    description: str,
    query: dict[str, str],
    header: str,
    body: dict[str, Any],
    text: str,
) -> None:
    spec = StubSpec.model_validate(
        {
            "description": description,
            "request": {"query": query, "headers": {"X-Value": {"not": header}}},
            "responses": [{"headers": {"X-Value": header}, "json": body}, {"body": text}],
        }
    )
    written = write_stubs([spec], comment=text)
    same_stubs(written, [spec])
    assert write_stubs([spec], comment=text) == written


# --- documents and comments -------------------------------------------------------------------


def test_documents_are_separated_and_comments_escaped() -> None:
    one = StubSpec(id="one", request=RequestSpec())
    two = StubSpec(id="two", request=RequestSpec())
    written = write_documents(
        [
            Document([one], comments=["first\x07\nsecond "]),
            Document([two], host="api.test"),
            Document([]),
        ],
        comment="top",
    )
    assert written == textwrap.dedent(
        """\
        # top
        # first\\a
        # second
        - id: one
          request: {}
        ---
        host: api.test
        stubs:
          - id: two
            request: {}
        ---
        []
        """
    )
    assert [document for document in yaml.safe_load_all(written)][2] == []


def test_more_comments_than_stubs_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="2 comments for 1 stubs"):
        write_documents([Document([StubSpec(request=RequestSpec())], comments=["a", "b"])])


def test_matchers_and_delays_are_written_as_people_write_them() -> None:
    spec = StubSpec.model_validate(
        {
            "request": {
                "method": "get",
                "path": {"equals": "/exact"},
                "query": {
                    "a": {"equals": "1"},
                    "b": ["x", {"starts_with": "z"}],
                    "c": {"not": {"equals": "d"}},
                    "e": {"matches": r"^\d+$"},
                },
            },
            "response": {"delay_ms": 120},
        }
    )
    assert write_stubs([spec]) == textwrap.dedent(
        """\
        - request:
            method: GET
            path: {equals: /exact}
            query:
              a: "1"
              b: [x, {starts_with: z}]
              c: {not: d}
              e: {matches: ^\\d+$}
          response:
            delay_ms: 120
        """
    )
    same_stubs(write_stubs([spec]), [spec])


def test_defaults_are_left_out_but_json_null_is_kept() -> None:
    spec = StubSpec.model_validate(
        {
            "priority": 5,
            "request": {"body": {"json": None}},
            "response": {"status": 200, "headers": {}, "json": None, "template": False},
        }
    )
    assert write_stubs([spec]) == textwrap.dedent(
        """\
        - request:
            body:
              json: null
          response:
            json: null
        """
    )
    same_stubs(write_stubs([spec]), [spec])


def test_serving_never_imports_the_writer() -> None:
    # start-up cost: only the commands that write stubs pay for the writer
    code = (
        "import sys\n"
        "from mockserver.app import build_app\n"
        "from mockserver.config import Settings\n"
        "import mockserver.cli, mockserver.server\n"
        f"build_app(Settings(stubs=(__import__('pathlib').Path({str(ROOT / 'stubs')!r}),)))\n"
        "print(sorted({'mockserver.writer', 'mockserver.emitter'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["[]"]

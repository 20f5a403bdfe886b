"""Schemathesis over the admin OpenAPI document: every operation, at least 100 examples each.

A real server runs in-process on a free loopback port with a small stub directory, and every
operation of its `/__admin/openapi.json` is fuzzed with schemathesis: its coverage cases (edge
values and each way to break the schema) and up to 100 generated requests, positive and
negative, checking that no answer is a 5xx, that every status code and content type is one the
document lists, and that every body is valid against its documented schema.

Schemathesis builds its tests at collection, so the document is built from the route table at
import; `test_the_fuzzed_document_is_the_served_one` checks it is exactly what the server serves.

Cost: the coverage phase of a stub body is some 22,000 cases, so the operations that take one
(POST/PUT stubs) get 300 generated requests instead, and so do the namespaced twins of the four
operations that take a request matcher (the same handlers and body schemas, whose coverage cases
already run once un-namespaced). The whole module runs in about two minutes.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any, Final

import pytest
import requests
import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NOT_SET

from mockserver.app import ADMIN_KEY, build_app
from mockserver.config import Settings
from mockserver.loader import LoadedStubs
from mockserver.server import RunningServer, start_in_thread

PREFIX: Final = "/__admin"
MAX_EXAMPLES: Final = 100
HEAVY_BODY_EXAMPLES: Final = 300
SEED: Final = 20261124
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# verify waits up to `within_ms` for a count that random data never reaches: keep waits short
WITHIN_MS_CAP: Final = 20
NAMESPACE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

STUBS: Final = """\
service: payments
base_path: /payments
stubs:
  - id: create-charge
    request:
      method: POST
      path: /v1/charges
      headers: {Authorization: {starts_with: "Bearer sk_test_"}}
      body: {form: {currency: usd}}
    response: {status: 200, json: {id: ch_1, paid: true}}
  - id: get-customer
    request: {method: GET, path: "/v1/customers/{id}"}
    response: {status: 200, body_file: __files/customer.json}
  - id: checkout
    scenario: {name: checkout, state: started, set_state: paid}
    request: {method: POST, path: /pay}
    response: {status: 201}
"""

# a valid body for each operation that takes one, by method and path after /ns/{namespace}
VALID_BODIES: Final[dict[tuple[str, str], Any]] = {
    ("POST", "/stubs"): {"request": {}},
    ("PUT", "/stubs/{id}"): {"request": {}},
    ("POST", "/requests/find"): {},
    ("POST", "/requests/count"): {},
    ("POST", "/verify"): {"request": {}},
    ("POST", "/verify/sequence"): {"requests": [{}]},
    ("PUT", "/scenarios/{name}"): {"state": "paid"},
    ("PUT", "/clock"): {"offset_ms": 0},
    ("POST", "/clock/advance"): {"ms": 0},
}


def _document() -> dict[str, Any]:
    """The admin OpenAPI document, built from the route table as the server builds it."""
    return build_app(Settings(stubs=()), LoadedStubs(stubs=()))[ADMIN_KEY].document()


DOCUMENT: Final = _document()
OPERATIONS: Final = sorted(
    (method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item
)
NAMESPACED: Final = [op for op in OPERATIONS if op[1].startswith(f"{PREFIX}/ns/{{namespace}}")]
STREAMING: Final = [op for op in OPERATIONS if op[1].endswith("/requests/stream")]
"""Never-ending answers: left out of the fuzzing (their bad inputs: tests/admin/test_stream.py)."""


def _config() -> SchemathesisConfig:
    heavy_body = {
        "phases": {"coverage": {"enabled": False}},
        "generation": {"max-examples": HEAVY_BODY_EXAMPLES},
    }
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "operations": [
                # the live feed never ends by itself: tests/admin/test_stream.py covers it
                {"include-name-regex": "^GET .*/requests/stream$", "enabled": False},
                {"include-name-regex": "^(POST|PUT) .*/stubs(/[{]id[}])?$", **heavy_body},
                {
                    "include-name-regex": "^POST .*/ns/[{]namespace[}]/"
                    "(requests/find|requests/count|verify|verify/sequence)$",
                    **heavy_body,
                },
            ],
        }
    )


schema = schemathesis.openapi.from_dict(DOCUMENT, config=_config())


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    stubs = tmp_path_factory.mktemp("fuzz-stubs")
    (stubs / "payments.yaml").write_text(STUBS, encoding="utf-8")
    (stubs / "__files").mkdir()
    (stubs / "__files" / "customer.json").write_text('{"id": "cus_1"}', encoding="utf-8")
    # every random namespace name creates a namespace: lift the cap (256) so none is refused
    running = start_in_thread(Settings(stubs=(stubs,), port=0, max_namespaces=1_000_000))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        yield client


def _call(case: Any, server: RunningServer, session: requests.Session) -> None:
    body = case.body
    if isinstance(body, dict):
        within = body.get("within_ms")
        if isinstance(within, int) and not isinstance(within, bool) and 0 <= within <= 30_000:
            body["within_ms"] = min(within, WITHIN_MS_CAP)
    case.call_and_validate(base_url=server.url, session=session, checks=CHECKS, timeout=10)


def test_the_fuzzed_document_is_the_served_one(admin_server: RunningServer) -> None:
    with urllib.request.urlopen(f"{admin_server.url}{PREFIX}/openapi.json") as response:
        served = json.load(response)
    assert served == json.loads(json.dumps(DOCUMENT))


def test_schemathesis_loads_every_operation() -> None:
    loaded = sorted(
        (result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()
    )
    assert loaded == [op for op in OPERATIONS if op not in STREAMING]
    assert len(OPERATIONS) >= 40


@pytest.mark.timeout(300)
@schema.parametrize()
def test_admin_api_conforms(
    case: Any, admin_server: RunningServer, session: requests.Session
) -> None:
    _call(case, admin_server, session)


@pytest.mark.parametrize("namespace", ["\x84", "\n"], ids=["U+0084", "newline"])
@pytest.mark.parametrize(
    "operation", [pytest.param(op, id=f"{op[0]} {op[1]}") for op in NAMESPACED]
)
def test_an_invalid_namespace_is_a_documented_error(
    operation: tuple[str, str],
    namespace: str,
    admin_server: RunningServer,
    session: requests.Session,
) -> None:
    """Names outside [A-Za-z0-9_-]{1,64} (found by fuzzing: once a 405 and a text/plain 404)
    answer the documented 404 with JSON."""
    method, path = operation
    tail = path.removeprefix(f"{PREFIX}/ns/{{namespace}}")
    case = schema[path][method].Case(
        path_parameters={"namespace": namespace, "id": "create-charge", "name": "checkout"},
        body=VALID_BODIES.get((method, tail), NOT_SET),
        media_type="application/json",
    )
    case.call_and_validate(base_url=admin_server.url, session=session, checks=CHECKS, timeout=10)


# Found by fuzzing: a JSON escape of a lone surrogate (\ud800) was accepted in a stub, then every
# JSON answer carrying it was a 500 (UnicodeEncodeError); it now goes back out as the same escape.


@pytest.fixture
def scratch_namespace(admin_server: RunningServer, session: requests.Session) -> Iterator[str]:
    """A namespace of its own, removed afterwards, so the fuzzed state stays apart."""
    yield "surrogates"
    session.delete(f"{admin_server.url}{PREFIX}/ns/surrogates", timeout=10)


def _namespaced_case(method: str, tail: str, namespace: str, **kwargs: Any) -> Any:
    operation = schema[f"{PREFIX}/ns/{{namespace}}{tail}"][method]
    return operation.Case(
        path_parameters={"namespace": namespace}, media_type="application/json", **kwargs
    )


def test_a_stub_with_a_lone_surrogate_leaves_the_stub_list_readable(
    admin_server: RunningServer, session: requests.Session, scratch_namespace: str
) -> None:
    stub = {"id": "lone-surrogate", "request": {"path": "/x\ud800"}}
    added = _namespaced_case("POST", "/stubs", scratch_namespace, body=stub)
    added.call_and_validate(base_url=admin_server.url, session=session, checks=CHECKS)
    listed = _namespaced_case("GET", "/stubs", scratch_namespace)
    listed.call_and_validate(base_url=admin_server.url, session=session, checks=CHECKS)


def test_a_verify_with_a_lone_surrogate_answers_without_a_server_error(
    admin_server: RunningServer, session: requests.Session, scratch_namespace: str
) -> None:
    body = {"request": {"path": "/\ud800"}}
    verify = _namespaced_case("POST", "/verify", scratch_namespace, body=body)
    verify.call_and_validate(base_url=admin_server.url, session=session, checks=CHECKS)

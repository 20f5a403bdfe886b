"""Near misses: one model, one JSON shape per target, one line of text wherever one is shown."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import JsonValue

from mockserver import MockServerClient, NearMiss, VerificationError
from mockserver.config import Settings
from mockserver.nearmiss import NearMiss as ServerNearMiss
from mockserver.nearmiss import RequestTarget, StubTarget
from mockserver.server import RunningServer, start_in_thread
from mockserver.wording import describe_matcher

STUB = StubTarget("create-charge", "stubs/stripe.yaml:4")
REQUEST = RequestTarget(3, "POST", "/v1/charges")


@pytest.mark.parametrize(
    ("near_miss", "wire", "text"),
    [
        (
            ServerNearMiss(STUB, "body.form.currency", "equals 'usd'", "eur"),
            {
                "stub_id": "create-charge",
                "source": "stubs/stripe.yaml:4",
                "field": "body.form.currency",
                "expected": "equals 'usd'",
                "actual": "eur",
            },
            "stub create-charge (stubs/stripe.yaml:4): body.form.currency: "
            "expected equals 'usd', got \"eur\"",
        ),
        (
            ServerNearMiss(REQUEST, "query.q", "equals 'x'", None),
            {
                "request_seq": 3,
                "method": "POST",
                "path": "/v1/charges",
                "field": "query.q",
                "expected": "equals 'x'",
                "actual": None,
            },
            "request #3 POST /v1/charges: query.q: expected equals 'x', got null",
        ),
        (
            ServerNearMiss(STUB, "query.tag", "equals 'a'", ["b", "c"]),
            None,
            "stub create-charge (stubs/stripe.yaml:4): query.tag: "
            'expected equals \'a\', got ["b", "c"]',
        ),
        (
            ServerNearMiss(REQUEST, "body.json.amount", "equals 2000", 20.5),
            None,
            "request #3 POST /v1/charges: body.json.amount: expected equals 2000, got 20.5",
        ),
        (
            ServerNearMiss(STUB, "body.json.note", "equals 'é'", 'café "x"'),
            None,
            "stub create-charge (stubs/stripe.yaml:4): body.json.note: "
            'expected equals \'é\', got "café \\"x\\""',
        ),
    ],
    ids=["stub", "request-absent", "repeated", "number", "quotes-and-non-ascii"],
)
def test_one_json_shape_per_target_and_one_line_of_text(
    near_miss: ServerNearMiss, wire: dict[str, JsonValue] | None, text: str
) -> None:
    shown = near_miss.to_json()
    if wire is not None:
        assert shown == wire
        assert list(shown) == list(wire)  # the order the contract shows
    assert near_miss.describe() == text
    # the client reads the same JSON and words it alike
    assert NearMiss.from_json(json.loads(json.dumps(shown))).describe() == text
    # and the journal stores it as plain values that give the same near miss back
    assert ServerNearMiss.unpacked(near_miss.packed()) == near_miss


# --- the same near miss, wherever a person meets it -------------------------------------------

SHOP = """
    service: shop
    base_path: /shop
    stubs:
      - id: create-charge
        request: {method: POST, path: /v1/charges, body: {form: {currency: usd}}}
        response: {status: 201, json: {id: ch_1}}
      - id: sdk-shaped-404
        unmatched: true
        request: {headers: {X-Sdk: {present: true}}}
        response:
          status: 404
          template: true
          json: {error: {message: "{{ miss.message }}"}}
"""
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_form(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=b"currency=eur",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )
    try:
        with _DIRECT.open(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def server_wording(shown: dict[str, Any]) -> str:
    """A near miss as the server sent it, worded by the server's own `describe()`."""
    target: StubTarget | RequestTarget = (
        StubTarget(shown["stub_id"], shown["source"])
        if "stub_id" in shown
        else RequestTarget(shown["request_seq"], shown["method"], shown["path"])
    )
    return ServerNearMiss(target, shown["field"], shown["expected"], shown["actual"]).describe()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    stubs: Path = tmp_path_factory.mktemp("stubs")
    (stubs / "shop.yaml").write_text(textwrap.dedent(SHOP))
    running = start_in_thread(Settings(stubs=(stubs,), port=0))
    yield running
    running.stop()


def test_a_near_miss_reads_the_same_in_every_place_it_is_shown(shop: RunningServer) -> None:
    client = MockServerClient(shop.url)
    client.reset()
    # the contract's 404 body
    status, plain = post_form(f"{shop.url}/shop/v1/charges")
    assert status == 404
    (closest,) = plain["near_misses"]
    source = closest["source"]
    assert source.endswith("shop.yaml:5")
    differed = "body.form.currency: expected equals 'usd', got \"eur\""
    stub_line = f"stub create-charge ({source}): {differed}"
    assert server_wording(closest) == stub_line
    assert NearMiss.from_json(closest).describe() == stub_line
    # an `unmatched: true` stub's template: `miss.message`
    status, shaped = post_form(f"{shop.url}/shop/v1/charges", {"X-Sdk": "1"})
    assert status == 404
    assert shaped["error"]["message"] == (
        f"no stub matched POST /shop/v1/charges; closest: {stub_line}"
    )
    # /__admin/requests/unmatched, raw and through the client: the 404's near miss, twice
    with _DIRECT.open(f"{shop.url}/__admin/requests/unmatched", timeout=10) as response:
        listed = json.load(response)["requests"]
    assert [entry["near_misses"] for entry in listed] == [[closest], [closest]]
    assert [entry.near_misses[0].describe() for entry in client.unmatched()] == [stub_line] * 2
    # a failed verify: the recorded request that came closest, the same field and values
    with pytest.raises(VerificationError) as caught:
        client.verify(method="POST", path="/shop/v1/charges", form={"currency": "usd"})
    failed = caught.value
    first_seq = listed[0]["seq"]
    request_line = f"request #{first_seq} POST /shop/v1/charges: {differed}"
    assert server_wording(failed.response["near_misses"][0]) == request_line
    assert failed.near_misses[0].describe() == request_line
    assert f"  {request_line}" in str(failed).splitlines()
    # the headline is the server's, as it sent it
    assert str(failed).splitlines()[0] == failed.response["message"]


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        ({}, "any method any path"),
        ({"method": ["GET", "HEAD"], "path": "/v1/x"}, "GET/HEAD /v1/x"),
        ({"path": {"starts_with": "/v1/"}}, 'any method {"starts_with": "/v1/"}'),
        (
            {"method": "POST", "path": "/v1/charges", "body": {"form": {"currency": "€"}}},
            'POST /v1/charges {"body": {"form": {"currency": "€"}}}',
        ),
    ],
    ids=["anything", "methods", "path-matcher", "body-non-ascii"],
)
def test_a_matcher_reads_on_one_line(matcher: dict[str, Any], text: str) -> None:
    assert describe_matcher(matcher) == text

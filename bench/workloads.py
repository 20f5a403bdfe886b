"""The benchmark workloads: requests, the bodies they must get back, and the stubs that serve them.

Each workload is described once and rendered for both servers: mockserver stub documents (section 1
of PRODUCT.md) and WireMock mappings. Pure data: no I/O, no server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

# ~300 bytes once serialised: the size the issue asks for (a typical Stripe-like object).
CUSTOMER: Final[dict[str, Any]] = {
    "id": "cus_123",
    "object": "customer",
    "email": "jenny.rosen@example.com",
    "name": "Jenny Rosen",
    "created": 1700000000,
    "currency": "usd",
    "balance": 0,
    "delinquent": False,
    "livemode": False,
    "metadata": {"order_id": "6735"},
    "address": {"city": "Berlin", "country": "DE", "line1": "Unter den Linden 1"},
    "invoice_prefix": "B2C4D6E",
    "preferred_locales": ["en"],
}
CUSTOMER_BODY: Final[bytes] = json.dumps(CUSTOMER, separators=(",", ":")).encode()

CHARGE_REQUEST: Final[dict[str, Any]] = {
    "amount": 2000,
    "currency": "usd",
    "source": "tok_visa",
    "description": "Order 6735",
    "metadata": {"order_id": "6735"},
}
CHARGE: Final[dict[str, Any]] = {
    "id": "ch_123",
    "object": "charge",
    "amount": 2000,
    "currency": "usd",
    "status": "succeeded",
    "paid": True,
    "captured": True,
    "customer": "cus_123",
    "description": "Order 6735",
    "created": 1700000000,
    "livemode": False,
    "metadata": {"order_id": "6735"},
    "outcome": {"network_status": "approved_by_network", "type": "authorized"},
}

JSON_HEADERS: Final[dict[str, str]] = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Workload:
    """One request replayed by wrk, and what the servers are loaded with to answer it."""

    name: str
    title: str
    method: str
    path: str
    expected: Any  # the parsed JSON body the response must carry
    stubs: list[dict[str, Any]]  # mockserver stubs, one YAML list
    mappings: list[dict[str, Any]]  # WireMock mappings, the same stubs in its format
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    loose: bool = False  # compare scalars as text: templates may render 2000 as "2000"
    may_be_unsupported: bool = False  # a later issue's feature: a rejected stub is not a failure


def _filler_stubs(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Stubs on other paths, so the target is one of several (and checked last)."""
    stubs, mappings = [], []
    for i in range(count):
        path = f"/v1/products/prod_{i}"
        product = {"id": f"prod_{i}", "object": "product"}
        stubs.append({"id": f"product-{i}", "request": {"method": "GET", "path": path}})
        stubs[-1]["response"] = {"status": 200, "json": product}
        mappings.append(_mapping({"method": "GET", "url": path}, product, priority=1))
    return stubs, mappings


def _mapping(request: dict[str, Any], body: Any, priority: int, **response: Any) -> dict[str, Any]:
    # WireMock tries the lowest priority number first: decoys get 1 and the target 2, so the
    # target is the last candidate there too (mockserver: first in file order wins).
    return {
        "priority": priority,
        "request": request,
        "response": {"status": 200, "jsonBody": body, "headers": JSON_HEADERS, **response},
    }


def w1() -> Workload:
    stubs, mappings = _filler_stubs(9)
    path = "/v1/customers/cus_123"
    stubs.append(
        {
            "id": "get-customer",
            "request": {"method": "GET", "path": path},
            "response": {"status": 200, "json": CUSTOMER},
        }
    )
    mappings.append(_mapping({"method": "GET", "url": path}, CUSTOMER, priority=2))
    return Workload("W1", "10 stubs, GET → 300-byte JSON", "GET", path, CUSTOMER, stubs, mappings)


def w2() -> Workload:
    stubs, mappings = [], []
    for i in range(1000):
        path = f"/v1/items/{i}"
        item = {"id": i, "object": "item", "name": f"Item {i}"}
        stubs.append({"id": f"item-{i}", "request": {"method": "GET", "path": path}})
        stubs[-1]["response"] = {"status": 200, "json": item}
        mappings.append(
            _mapping({"method": "GET", "url": path}, item, priority=2 if i == 999 else 1)
        )
    expected = {"id": 999, "object": "item", "name": "Item 999"}
    return Workload("W2", "1,000 literal paths", "GET", "/v1/items/999", expected, stubs, mappings)


def w3() -> Workload:
    stubs, mappings = [], []
    path = "/v1/charges"
    # Decoys differ from the request in one field only, so each is compared key by key.
    for i in range(20):
        wanted = {"amount": 3000 + i, "currency": "usd"}
        decline = {"error": {"type": "card_error", "code": f"decoy_{i}"}}
        stubs.append(
            {
                "id": f"decoy-{i}",
                "request": {"method": "POST", "path": path, "body": {"json": wanted}},
                "response": {"status": 402, "json": decline},
            }
        )
        mappings.append(_mapping(_charge_request(path, wanted), decline, priority=1, status=402))
    wanted = {"amount": 2000, "currency": "usd"}
    stubs.append(
        {
            "id": "charge",
            "request": {"method": "POST", "path": path, "body": {"json": wanted}},
            "response": {"status": 200, "json": CHARGE},
        }
    )
    mappings.append(_mapping(_charge_request(path, wanted), CHARGE, priority=2))
    return Workload(
        "W3",
        "POST, body.json match, 20 decoys",
        "POST",
        path,
        CHARGE,
        stubs,
        mappings,
        body=json.dumps(CHARGE_REQUEST).encode(),
        headers=JSON_HEADERS,
    )


def _charge_request(path: str, wanted: dict[str, Any]) -> dict[str, Any]:
    # ignoreExtraElements: the same subset semantics as mockserver's body.json.
    pattern = {"equalToJson": wanted, "ignoreExtraElements": True}
    return {"method": "POST", "url": path, "bodyPatterns": [pattern]}


def w4() -> Workload:
    stubs, mappings = _filler_stubs(9)
    stubs.append(
        {
            "id": "capture",
            "request": {"method": "POST", "path": "/v1/charges/{id}/capture"},
            "response": {
                "status": 200,
                "template": True,
                "json": {
                    "id": "{{ request.path_params.id }}",
                    "amount": "{{ request.json.amount }}",
                },
            },
        }
    )
    template = {"id": "{{request.path.id}}", "amount": "{{jsonPath request.body '$.amount'}}"}
    request = {"method": "POST", "urlPathTemplate": "/v1/charges/{id}/capture"}
    mappings.append(_mapping(request, template, priority=2, transformers=["response-template"]))
    return Workload(
        "W4",
        "template: path param + JSON field",
        "POST",
        "/v1/charges/ch_123/capture",
        {"id": "ch_123", "amount": 2000},
        stubs,
        mappings,
        body=json.dumps({"amount": 2000}).encode(),
        headers=JSON_HEADERS,
        loose=True,
        may_be_unsupported=True,
    )


def all_workloads() -> list[Workload]:
    return [w1(), w2(), w3(), w4()]


def same_body(workload: Workload, actual: Any) -> bool:
    """Whether a response body is the stubbed one (key order and spacing aside)."""
    if workload.loose:
        return _as_text(actual) == _as_text(workload.expected)
    return bool(actual == workload.expected)


def _as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return str(value)

"""`mockserver import wiremock`: the same mappings, served by WireMock standalone and by
mockserver from the imported stubs, answer the same requests the same way (status, body, the
headers the mapping sets); what does not translate is listed with its file and field.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import yaml

from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread
from tests.wiremock_server import WireMock, start_wiremock

COMMAND: Final = [sys.executable, "-m", "mockserver.cli"]
PNG: Final = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
JSON: Final = {"Content-Type": "application/json"}
TEXT: Final = {"Content-Type": "text/plain"}

# Representative mappings, one per file as WireMock users keep them (and one file of several).
MAPPINGS: Final[dict[str, Any]] = {
    "customer.json": {
        "name": "Get a customer",
        "request": {"method": "GET", "urlPath": "/v1/customers/cus_1"},
        "response": {
            "status": 200,
            "headers": {**JSON, "Request-Id": "req_123"},
            "jsonBody": {"id": "cus_1", "object": "customer", "balance": 0},
        },
    },
    "product.json": {
        "request": {"method": "GET", "urlPathTemplate": "/v1/products/{id}"},
        "response": {"status": 200, "headers": TEXT, "body": "a product"},
    },
    "invoice.json": {
        "request": {"method": "GET", "urlPathPattern": "/v1/invoices/in_[0-9]+"},
        "response": {"status": 200, "headers": JSON, "body": '{"object": "invoice"}'},
    },
    "charges-list.json": {
        "request": {"method": "GET", "url": "/v1/charges?limit=3"},
        "response": {"status": 200, "headers": JSON, "jsonBody": {"data": [], "has_more": False}},
    },
    "search.json": {
        "request": {
            "method": "GET",
            "urlPath": "/search",
            "queryParameters": {
                "q": {"equalTo": "Shoes", "caseInsensitive": True},
                "page": {"matches": "[0-9]+"},
                "debug": {"absent": True},
            },
        },
        "response": {"status": 200, "headers": TEXT, "body": "results"},
    },
    "versioned.json": {
        "request": {
            "method": "GET",
            "urlPath": "/v2/account",
            "headers": {
                "X-Api-Version": {"equalTo": "2024-01-01"},
                "Accept": {"contains": "json"},
                "X-Env": {"doesNotMatch": "prod.*"},
            },
            "cookies": {"theme": {"equalTo": "dark"}},
        },
        "response": {"status": 200, "headers": JSON, "jsonBody": {"account": "acct_1"}},
    },
    "orders.json": {
        "request": {
            "method": "POST",
            "urlPath": "/v1/orders",
            "bodyPatterns": [
                {"equalToJson": {"amount": 100, "currency": "usd"}, "ignoreExtraElements": True}
            ],
        },
        "response": {"status": 201, "headers": JSON, "jsonBody": {"id": "ord_1"}},
    },
    "carts.json": {
        "request": {
            "method": "POST",
            "urlPath": "/v1/carts",
            "bodyPatterns": [
                {"matchesJsonPath": "$.items[?(@.qty > 1)]"},
                {"matchesJsonPath": {"expression": "$.owner", "equalTo": "ann"}},
            ],
        },
        "response": {"status": 200, "headers": TEXT, "body": "bulk cart"},
    },
    "echo.json": {
        "request": {
            "method": "POST",
            "urlPath": "/echo",
            "bodyPatterns": [{"contains": "hello"}, {"doesNotContain": "bye"}],
        },
        "response": {"status": 202, "headers": TEXT, "body": "heard you"},
    },
    "tokens.json": {
        "request": {
            "method": "POST",
            "urlPath": "/v1/tokens",
            "formParameters": {"card": {"equalTo": "4242"}},
        },
        "response": {"status": 200, "headers": JSON, "jsonBody": {"id": "tok_1"}},
    },
    "status.json": {
        "mappings": [
            {
                "priority": 1,
                "request": {
                    "method": "GET",
                    "urlPath": "/status",
                    "headers": {"X-Mode": {"equalTo": "maintenance"}},
                },
                "response": {"status": 503, "headers": TEXT, "body": "down for maintenance"},
            },
            {
                "priority": 5,
                "request": {"method": "GET", "urlPath": "/status"},
                "response": {"status": 200, "headers": TEXT, "body": "up"},
            },
        ]
    },
    "cart-empty.json": {
        "scenarioName": "cart",
        "requiredScenarioState": "Started",
        "request": {"method": "GET", "urlPath": "/cart"},
        "response": {"status": 200, "headers": JSON, "jsonBody": {"items": []}},
    },
    "cart-add.json": {
        "scenarioName": "cart",
        "requiredScenarioState": "Started",
        "newScenarioState": "has-items",
        "request": {"method": "POST", "urlPath": "/cart/items"},
        "response": {"status": 201, "headers": JSON, "jsonBody": {"added": True}},
    },
    "cart-full.json": {
        "scenarioName": "cart",
        "requiredScenarioState": "has-items",
        "request": {"method": "GET", "urlPath": "/cart"},
        "response": {"status": 200, "headers": JSON, "jsonBody": {"items": ["sku_1"]}},
    },
    "logo.json": {
        "request": {"method": "GET", "urlPath": "/logo.png"},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "image/png"},
            "bodyFileName": "logo.png",
        },
    },
    "blob.json": {
        "request": {"method": "GET", "urlPath": "/blob"},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "base64Body": base64.b64encode(PNG[::-1]).decode(),
        },
    },
    "slow.json": {
        "request": {"method": "ANY", "urlPath": "/slow"},
        "response": {
            "status": 200,
            "headers": TEXT,
            "body": "eventually",
            "fixedDelayMilliseconds": 30,
        },
    },
    # at equal priority, the mapping loaded last answers
    "tie-a.json": {
        "request": {"method": "GET", "urlPath": "/tie"},
        "response": {"status": 200, "headers": TEXT, "body": "from a"},
    },
    "tie-b.json": {
        "request": {"method": "GET", "urlPath": "/tie"},
        "response": {"status": 200, "headers": TEXT, "body": "from b"},
    },
    "broken.json": {
        "request": {"method": "GET", "urlPath": "/broken"},
        "response": {"fault": "EMPTY_RESPONSE"},
    },
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] | None = None
    content: bytes | None = None
    json: Any = None
    data: dict[str, str] | None = None
    cookies: dict[str, str] | None = None
    status: int = 200  # what both answer: a 404 means no mapping matched


REQUESTS: Final = {
    "customer": Request("GET", "/v1/customers/cus_1"),
    "customer-other": Request("GET", "/v1/customers/cus_2", status=404),
    "product": Request("GET", "/v1/products/prod_9"),
    "invoice": Request("GET", "/v1/invoices/in_42"),
    "invoice-bad-id": Request("GET", "/v1/invoices/in_x", status=404),
    "charges": Request("GET", "/v1/charges?limit=3"),
    "search": Request("GET", "/search?q=shoes&page=2"),
    "search-debug": Request("GET", "/search?q=shoes&page=2&debug=1", status=404),
    "search-bad-page": Request("GET", "/search?q=shoes&page=two", status=404),
    "account": Request(
        "GET",
        "/v2/account",
        headers={"X-Api-Version": "2024-01-01", "Accept": "application/json", "X-Env": "staging"},
        cookies={"theme": "dark"},
    ),
    "account-prod": Request(
        "GET",
        "/v2/account",
        headers={"X-Api-Version": "2024-01-01", "Accept": "application/json", "X-Env": "prod-eu"},
        cookies={"theme": "dark"},
        status=404,
    ),
    "account-light": Request(
        "GET",
        "/v2/account",
        headers={"X-Api-Version": "2024-01-01", "Accept": "application/json"},
        cookies={"theme": "light"},
        status=404,
    ),
    "order": Request(
        "POST", "/v1/orders", json={"amount": 100, "currency": "usd", "note": "x"}, status=201
    ),
    "order-eur": Request("POST", "/v1/orders", json={"amount": 100, "currency": "eur"}, status=404),
    "cart-bulk": Request("POST", "/v1/carts", json={"owner": "ann", "items": [{"qty": 3}]}),
    "cart-single": Request(
        "POST", "/v1/carts", json={"owner": "ann", "items": [{"qty": 1}]}, status=404
    ),
    "echo": Request("POST", "/echo", content=b"well hello there", status=202),
    "echo-bye": Request("POST", "/echo", content=b"hello and bye", status=404),
    "token": Request("POST", "/v1/tokens", data={"card": "4242", "cvc": "123"}),
    "token-other": Request("POST", "/v1/tokens", data={"card": "4000"}, status=404),
    "status": Request("GET", "/status"),
    "status-maintenance": Request("GET", "/status", headers={"X-Mode": "maintenance"}, status=503),
    "logo": Request("GET", "/logo.png"),
    "blob": Request("GET", "/blob"),
    "slow": Request("DELETE", "/slow"),
    "tie": Request("GET", "/tie"),
}


@dataclass
class Servers:
    wiremock: WireMock
    mock: RunningServer
    imported: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("wiremock")
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    (root / "__files" / "logo.png").write_bytes(PNG)
    for name, mapping in MAPPINGS.items():
        (root / "mappings" / name).write_text(json.dumps(mapping, indent=2))
    out = tmp_path_factory.mktemp("stubs")
    result = run("import", "wiremock", str(root / "mappings"), "-o", str(out), "--service", "shop")
    wiremock = start_wiremock(root)
    try:
        mock = start_in_thread(Settings(stubs=(out,), port=0))
        try:
            yield Servers(wiremock, mock, out, result)
        finally:
            mock.stop()
    finally:
        wiremock.stop()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, timeout=60, check=False
    )


def send(base: str, request: Request) -> httpx.Response:
    with httpx.Client(base_url=base, cookies=request.cookies, timeout=30) as client:
        return client.request(
            request.method,
            request.path,
            headers=request.headers,
            content=request.content,
            json=request.json,
            data=request.data,
        )


def test_the_mappings_import_with_every_part_translated(servers: Servers) -> None:
    assert servers.result.returncode == 0, servers.result.stderr
    checked = run("validate", str(servers.imported))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    shop = yaml.safe_load((servers.imported / "shop.yaml").read_text())
    assert (shop["service"], shop["base_path"]) == ("shop", "/shop")
    stubs = {stub["id"]: stub for stub in shop["stubs"]}
    assert stubs["shop:get-a-customer"]["description"] == "Get a customer"
    assert stubs["shop:cart-add"]["scenario"] == {
        "name": "cart",
        "state": "started",
        "set_state": "has-items",
    }
    assert stubs["shop:status-0"]["priority"] == 1


@pytest.mark.parametrize("name", list(REQUESTS), ids=list(REQUESTS))
def test_wiremock_and_the_imported_stubs_answer_alike(servers: Servers, name: str) -> None:
    request = REQUESTS[name]

    theirs = send(servers.wiremock.url, request)
    ours = send(f"{servers.mock.url}/shop", request)

    assert (theirs.status_code, ours.status_code) == (request.status, request.status)
    if theirs.status_code == 404:
        return  # no mapping: each server explains it its own way
    assert ours.content == theirs.content or (
        ours.headers["Content-Type"] == "application/json" and ours.json() == theirs.json()
    )
    for header in ("Content-Type", "Request-Id"):
        assert ours.headers.get(header) == theirs.headers.get(header)


def test_a_scenario_moves_alike(servers: Servers) -> None:
    steps = [Request("GET", "/cart"), Request("POST", "/cart/items"), Request("GET", "/cart")]
    for base in (servers.wiremock.url, f"{servers.mock.url}/shop"):
        answers = [send(base, step) for step in steps]
        assert [answer.status_code for answer in answers] == [200, 201, 200]
        assert [answer.json() for answer in answers] == [
            {"items": []},
            {"added": True},
            {"items": ["sku_1"]},
        ]


def test_a_fault_breaks_the_connection_in_both(servers: Servers) -> None:
    for base in (servers.wiremock.url, f"{servers.mock.url}/shop"):
        with pytest.raises(httpx.RemoteProtocolError):
            send(base, Request("GET", "/broken"))


def test_what_does_not_translate_is_listed_with_file_and_field(tmp_path: Path) -> None:
    mappings = tmp_path / "payments" / "mappings"
    mappings.mkdir(parents=True)
    (mappings / "xml.json").write_text(
        json.dumps(
            {
                "request": {
                    "method": "POST",
                    "urlPath": "/soap",
                    "bodyPatterns": [{"matchesXPath": "//order[@id='1']"}],
                    "headers": {"Authorization": {"equalTo": "Bearer sk_test_4eC39HqLyjWDarjtT1"}},
                },
                "response": {
                    "status": 200,
                    "statusMessage": "Fine",
                    "body": "{{request.path}}",
                    "transformers": ["response-template"],
                },
            }
        )
    )
    (mappings / "proxy.json").write_text(
        json.dumps(
            {
                "request": {"method": "GET", "urlPattern": "/api/.*"},
                "response": {"proxyBaseUrl": "https://api.example.com"},
            }
        )
    )
    out = tmp_path / "out"

    done = run("import", "wiremock", str(tmp_path / "payments"), "-o", str(out))

    assert done.returncode == 3
    xml, proxy = mappings / "xml.json", mappings / "proxy.json"
    assert done.stderr.splitlines() == [
        f"{proxy}: response.proxyBaseUrl: 'https://api.example.com': not supported: "
        "mapping left out",
        f"{xml}: response.statusMessage: not supported",
        f"{xml}: response.transformers: response templates are not translated: sent as written",
        f"{xml}: request.headers.Authorization.equalTo: a credential is never written: "
        "matched as "
        "{present: true}",
        f"{xml}: request.bodyPatterns[0].matchesXPath: not supported",
        "mockserver: 5 parts not translated (listed above)",
    ]
    # the rest is written, under the root's name, and valid
    stubs = yaml.safe_load((out / "payments.yaml").read_text())["stubs"]
    assert [stub["id"] for stub in stubs] == ["payments:xml"]
    assert stubs[0]["request"]["headers"] == {"Authorization": {"present": True}}
    assert "sk_test" not in (out / "payments.yaml").read_text()
    assert run("validate", str(out)).returncode == 0


def test_a_mapping_file_that_is_not_json_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "bad.json").write_text('{\n  "request": {\n    "method": GET\n}')

    done = run("import", "wiremock", str(tmp_path), "-o", str(tmp_path / "out"))

    assert done.returncode == 1
    assert done.stderr == (
        f"mockserver: error: {tmp_path / 'mappings' / 'bad.json'}:3: not JSON: "
        "Expecting value (column 15)\n"
    )
    assert not (tmp_path / "out").exists()

"""CORS (PRODUCT.md §10): `--cors` or `cors: true` answers browsers' preflights and marks every
answer to a request with an Origin. Real HTTP clients (requests, httpx) send the headers a
browser sends, to a real server on loopback; the journal is read through the admin API."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
import requests

from mockserver.client import MockServerClient, VerificationError
from mockserver.cors import MAX_AGE_SECONDS
from tests.serving import ServeInThread

ORIGIN = "http://app.example:3000"
STUBS = """
    - id: orders
      request: {method: [GET, POST], path: /api/orders}
      response:
        status: 201
        headers: {X-Request-Id: req_1, Set-Cookie: [a=1, b=2]}
        json: {id: ord_1}
    - id: own-options
      request: {method: OPTIONS, path: /api/custom}
      response: {status: 200, headers: {Allow: "GET, OPTIONS"}}
    - id: speaks-cors
      request: {path: /api/own}
      response: {headers: {Access-Control-Allow-Origin: "*"}, body: mine}
    - id: events
      request: {path: /api/events}
      response: {sse: {events: [{data: one}]}}
"""
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type,x-api-key",
}


def test_a_preflight_is_answered_204_with_what_the_browser_asked(
    serve_in_thread: ServeInThread,
) -> None:
    server = serve_in_thread({"s.yaml": STUBS}, cors=True)
    answer = requests.options(f"{server.url}/api/orders", headers=PREFLIGHT)
    assert (answer.status_code, answer.content) == (204, b"")
    headers = answer.headers
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Methods"] == "POST"
    assert headers["Access-Control-Allow-Headers"] == "content-type,x-api-key"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Max-Age"] == str(MAX_AGE_SECONDS)
    assert "Origin" in headers["Vary"]


def test_every_answer_to_a_request_with_an_origin_carries_cors_headers(
    serve_in_thread: ServeInThread,
) -> None:
    server = serve_in_thread({"s.yaml": STUBS}, cors=True)
    with httpx.Client(base_url=server.url, headers={"Origin": ORIGIN}) as client:
        made = client.post("/api/orders", json={"sku": "a"})
        missed = client.get("/api/nothing-here")
        events = client.get("/api/events")
        own = client.get("/api/own")
    assert (made.status_code, made.json()) == (201, {"id": "ord_1"})
    assert made.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert made.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = [name.strip() for name in made.headers["Access-Control-Expose-Headers"].split(",")]
    assert {"*", "X-Request-Id"} <= set(exposed)
    assert made.headers["Vary"] == "Origin"
    assert made.headers.get_list("Set-Cookie") == ["a=1", "b=2"]  # repeated lines kept
    assert missed.status_code == 404
    assert missed.headers["Access-Control-Allow-Origin"] == ORIGIN  # 404s too: the page reads why
    assert "Access-Control-Expose-Headers" in missed.headers
    assert events.headers["Access-Control-Allow-Origin"] == ORIGIN  # streams too
    assert "data: one" in events.text
    assert own.headers["Access-Control-Allow-Origin"] == "*"  # a stub's own CORS is kept as is
    assert "Access-Control-Allow-Credentials" not in own.headers


def test_a_request_without_an_origin_gets_no_cors_headers(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread({"s.yaml": STUBS}, cors=True)
    answer = requests.get(f"{server.url}/api/orders")
    assert answer.status_code == 201
    assert not [name for name in answer.headers if name.lower().startswith("access-control")]


def test_a_stub_that_lists_options_wins_over_the_automatic_preflight(
    serve_in_thread: ServeInThread,
) -> None:
    server = serve_in_thread({"s.yaml": STUBS}, cors=True)
    answer = requests.options(f"{server.url}/api/custom", headers=PREFLIGHT)
    assert (answer.status_code, answer.headers["Allow"]) == (200, "GET, OPTIONS")
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    [entry] = MockServerClient(server.url).requests()
    assert (entry.stub_id, entry.preflight) == ("own-options", False)


def test_preflights_are_journaled_and_not_counted_unless_asked_for(
    serve_in_thread: ServeInThread,
) -> None:
    server = serve_in_thread({"s.yaml": STUBS}, cors=True)
    with requests.Session() as browser:
        browser.options(f"{server.url}/api/orders", headers=PREFLIGHT)
        browser.post(f"{server.url}/api/orders", json={"sku": "a"}, headers={"Origin": ORIGIN})
    listing = requests.get(f"{server.url}/__admin/requests").json()["requests"]
    assert [(e["method"], e["status"], e.get("preflight")) for e in listing] == [
        ("OPTIONS", 204, True),
        ("POST", 201, None),
    ]
    assert (listing[0]["matched"], listing[0]["stub_id"]) == (True, None)
    mock = MockServerClient(server.url)
    assert mock.count(path="/api/orders") == 1
    assert [entry.method for entry in mock.find(path="/api/orders")] == ["POST"]
    assert mock.count(method="OPTIONS", path="/api/orders") == 1
    assert mock.verify(path="/api/orders") == 1
    with pytest.raises(VerificationError):
        mock.verify(path="/api/orders", count=2)
    assert mock.verify_sequence([{"path": "/api/orders"}]) == [2]
    [preflight] = mock.requests(method="OPTIONS")
    assert preflight.preflight is True
    assert mock.unmatched() == []


def test_without_cors_a_preflight_is_an_ordinary_request(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread({"s.yaml": STUBS})
    preflight = requests.options(f"{server.url}/api/orders", headers=PREFLIGHT)
    answer = requests.get(f"{server.url}/api/orders", headers={"Origin": ORIGIN})
    assert preflight.status_code == 404
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert answer.status_code == 201
    assert "Access-Control-Allow-Origin" not in answer.headers
    listing = requests.get(f"{server.url}/__admin/requests").json()["requests"]
    assert [entry.get("preflight") for entry in listing] == [None, None]


DOCUMENTS = {
    "browser.yaml": """
        cors: true
        stubs:
          - id: cart
            request: {method: PUT, path: "/cart/{id}", headers: {X-Api-Key: k1}}
            response: {json: {ok: true}}
    """,
    "backend.yaml": """
        - id: internal
          request: {path: /internal}
          response: {body: internal}
    """,
}


def test_a_cors_document_covers_its_own_stubs_only(serve_in_thread: ServeInThread) -> None:
    server = serve_in_thread(DOCUMENTS)
    asked = {**PREFLIGHT, "Access-Control-Request-Method": "PUT"}
    with httpx.Client(base_url=server.url) as client:
        preflight = client.options("/cart/c1", headers=asked)
        put = client.put("/cart/c1", headers={"Origin": ORIGIN, "X-Api-Key": "k1"})
        other_method = client.options("/cart/c1", headers=PREFLIGHT)  # POST: no stub for it
        internal = client.get("/internal", headers={"Origin": ORIGIN})
        internal_preflight = client.options("/internal", headers=PREFLIGHT)
        stubs = client.get("/__admin/stubs").json()["stubs"]
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Methods"] == "PUT"
    assert (put.status_code, put.headers["Access-Control-Allow-Origin"]) == (200, ORIGIN)
    assert other_method.status_code == 404
    assert "Access-Control-Allow-Origin" not in other_method.headers
    assert (internal.status_code, internal.text) == (200, "internal")
    assert "Access-Control-Allow-Origin" not in internal.headers
    # a stub for any method answers its path's OPTIONS as before: its document has no CORS
    assert (internal_preflight.status_code, internal_preflight.text) == (200, "internal")
    assert {stub["id"]: stub.get("cors") for stub in stubs} == {"cart": True, "internal": None}


def test_under_cors_a_stub_for_any_method_does_not_take_the_preflight(
    serve_in_thread: ServeInThread,
) -> None:
    server = serve_in_thread(
        {"s.yaml": "cors: true\nstubs:\n  - request: {path: /any}\n    response: {body: any}\n"}
    )
    preflight = requests.options(f"{server.url}/any", headers=PREFLIGHT)
    plain_options = requests.options(f"{server.url}/any")
    assert (preflight.status_code, preflight.headers["Access-Control-Allow-Origin"]) == (
        204,
        ORIGIN,
    )
    assert (plain_options.status_code, plain_options.text) == (200, "any")


def test_a_cors_stub_added_over_the_api_and_the_entries_match_the_openapi_schema(
    serve_in_thread: ServeInThread,
) -> None:
    server = serve_in_thread()
    added = httpx.post(
        f"{server.url}/__admin/stubs",
        json={
            "cors": True,
            "request": {"method": "POST", "path": "/upload"},
            "response": {"status": 201},
        },
    )
    assert added.status_code == 201, added.text
    preflight = httpx.options(f"{server.url}/upload", headers=PREFLIGHT)
    upload = httpx.post(
        f"{server.url}/upload",
        headers={"Origin": ORIGIN},
        data={"note": "hi"},
        files={"blob": ("b.bin", b"\xff\x00", "application/octet-stream")},
    )
    assert (preflight.status_code, upload.status_code) == (204, 201)
    assert upload.headers["Access-Control-Allow-Origin"] == ORIGIN
    document = httpx.get(f"{server.url}/__admin/openapi.json").json()
    schema = {"$ref": "#/components/schemas/JournalEntry", "components": document["components"]}
    entries = httpx.get(f"{server.url}/__admin/requests").json()["requests"]
    for entry in entries:
        jsonschema.Draft202012Validator(schema).validate(entry)
    assert entries[0]["preflight"] is True
    parts = entries[1]["multipart"]
    assert [(part["name"], part.get("text"), part.get("base64")) for part in parts] == [
        ("note", "hi", None),
        ("blob", None, "/wA="),
    ]
    [listed] = httpx.get(f"{server.url}/__admin/stubs").json()["stubs"]
    assert listed["cors"] is True

"""The mocked surface over real HTTP: answers, the explanatory 404, the journal, body limits."""

from __future__ import annotations

import asyncio
import base64
import io
import socket
import struct
from typing import Any

import aiohttp
import pytest

from mockserver.errors import StubLoadError
from tests.serving import ServeStubs, raw_exchange

PAYMENTS = """
    service: payments
    base_path: /payments
    stubs:
      - id: create-charge
        request:
          method: POST
          path: /v1/charges
          body: {form: {currency: usd, amount: {matches: '^[0-9]+$'}}}
        response:
          status: 201
          headers: {Request-Id: req_1}
          json: {id: ch_1, amount: 2000}
      - id: get-customer
        request: {method: GET, path: "/v1/customers/{id}"}
        response: {json: {id: cus_1}}
"""


async def test_matching_request_gets_the_stubbed_response(serve: ServeStubs) -> None:
    client = await serve({"payments.yaml": PAYMENTS})
    response = await client.post("/payments/v1/charges", data={"currency": "usd", "amount": "2000"})
    assert response.status == 201
    assert response.headers["Request-Id"] == "req_1"
    assert response.headers["Content-Type"].startswith("application/json")
    assert await response.json() == {"id": "ch_1", "amount": 2000}


async def test_unmatched_request_names_the_first_differing_field(serve: ServeStubs) -> None:
    client = await serve({"payments.yaml": PAYMENTS})
    response = await client.post("/payments/v1/charges", data={"currency": "eur", "amount": "2000"})
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("application/json")
    body = await response.json()
    assert body["error"] == "no stub matched POST /payments/v1/charges"
    assert body["request"]["body"] == "currency=eur&amount=2000"
    nearest = body["near_misses"][0]
    assert (nearest["stub_id"], nearest["field"], nearest["expected"], nearest["actual"]) == (
        "create-charge",
        "body.form.currency",
        "equals 'usd'",
        "eur",
    )
    assert nearest["source"].endswith("payments.yaml:4")


async def test_near_misses_rank_path_matches_first_and_keep_three(serve: ServeStubs) -> None:
    stubs = """
        - id: other-path-all-else-equal
          request: {method: GET, path: /elsewhere, query: {a: "1"}}
        - id: same-path-wrong-method
          request: {method: POST, path: /target}
        - id: same-path-wrong-query
          request: {method: GET, path: /target, query: {a: "2", b: "3"}}
        - id: same-path-wrong-header
          request: {method: GET, path: /target, headers: {X-Key: k}}
        - id: far
          request: {method: DELETE, path: /far}
    """
    client = await serve({"s.yaml": stubs})
    body = await (await client.get("/target?a=1&b=3")).json()
    ids = [miss["stub_id"] for miss in body["near_misses"]]
    # path matched first, then by the share of declared fields matched: 3/4, 2/3, 1/2
    assert ids == ["same-path-wrong-query", "same-path-wrong-header", "same-path-wrong-method"]
    assert body["near_misses"][0] == {
        "stub_id": "same-path-wrong-query",
        "source": body["near_misses"][0]["source"],
        "field": "query.a",
        "expected": "equals '2'",
        "actual": "1",
    }


async def test_path_template_captures_and_base_path_is_required(serve: ServeStubs) -> None:
    client = await serve({"payments.yaml": PAYMENTS})
    assert (await client.get("/payments/v1/customers/cus_9")).status == 200
    assert (await client.get("/v1/customers/cus_9")).status == 404
    assert (await client.get("/payments/v1/customers/cus_9/extra")).status == 404


async def test_every_request_is_journaled_with_its_fields(serve: ServeStubs) -> None:
    client = await serve({"payments.yaml": PAYMENTS})
    await client.post(
        "/payments/v1/charges?expand=customer&expand=source",
        data={"currency": "usd", "amount": "2000"},
        headers={"X-Trace": "a"},
    )
    await client.get("/nowhere", headers={"Cookie": "session=s1"})
    listing = await (await client.get("/__admin/requests")).json()
    assert listing["total"] == 2
    assert listing["dropped"] == 0
    first, second = listing["requests"]
    assert first["seq"] == 1
    assert second["seq"] == 2
    assert first["service"] == "payments"
    assert first["method"] == "POST"
    assert first["path"] == "/payments/v1/charges"
    assert first["query"] == {"expand": ["customer", "source"]}
    assert first["headers"]["x-trace"] == "a"
    assert first["body"] == "currency=usd&amount=2000"
    assert first["form"] == {"currency": ["usd"], "amount": ["2000"]}
    assert first["json"] is None
    assert (first["matched"], first["stub_id"], first["status"]) == (True, "create-charge", 201)
    assert first["duration_ms"] >= 0
    assert first["time"].endswith("Z")
    assert (second["matched"], second["stub_id"], second["status"]) == (False, None, 404)


async def test_binary_body_is_kept_as_base64(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {method: PUT}\n"})
    payload = bytes(range(256)) * 4
    response = await client.put(
        "/bucket/key", data=payload, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status == 200
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert entry["body_encoding"] == "base64"
    assert base64.b64decode(entry["body"]) == payload


async def test_non_utf8_body_against_a_text_matcher_is_a_clean_miss(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {body: {contains: hello}}\n"})
    response = await client.post("/x", data=b"\xff\xfehello")
    assert response.status == 404
    nearest = (await response.json())["near_misses"][0]
    assert (nearest["field"], nearest["actual"]) == ("body.contains", None)


async def test_body_without_content_type_matches_json_and_text(serve: ServeStubs) -> None:
    client = await serve(
        {"s.yaml": "- request: {body: {json: {amount: 2000.0}, contains: amount}}\n"}
    )
    body = b'{"amount": 2000, "currency": "usd"}'
    head = (
        f"POST /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    reply = await raw_exchange(client, head.encode() + body)
    assert reply.startswith(b"HTTP/1.1 200")
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert entry["json"] == {"amount": 2000, "currency": "usd"}
    assert "content-type" not in entry["headers"]


async def test_large_bodies_up_to_the_limit_are_accepted(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {method: POST}\n"})
    nine_mib = b"a" * (9 * 1024 * 1024)
    response = await client.post("/upload", data=io.BytesIO(nine_mib))
    assert response.status == 200
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert len(entry["body"]) == len(nine_mib)
    assert "body_truncated" not in entry


async def test_body_over_the_limit_is_413_and_journaled(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {method: POST}\n"})
    eleven_mib = b"a" * (11 * 1024 * 1024)
    response = await client.post("/upload", data=io.BytesIO(eleven_mib))
    assert response.status == 413
    error = await response.json()
    assert "exceeds the limit of 10485760 bytes" in error["error"]
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert entry["body_truncated"] is True
    assert entry["body_size"] == len(eleven_mib)
    assert entry["status"] == 413
    # the server keeps serving
    assert (await client.post("/upload", data=b"ok")).status == 200


async def test_chunked_body_over_the_limit_is_413(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {method: POST}\n"}, max_body=1024)

    async def chunks() -> Any:
        for _ in range(8):
            yield b"x" * 512

    response = await client.post("/upload", data=chunks())
    assert response.status == 413
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert entry["body_truncated"] is True
    assert entry["body_size"] > 1024


async def test_journal_bounds_drop_the_oldest_and_say_so(serve: ServeStubs) -> None:
    client = await serve({}, journal_limit=3)
    for index in range(5):
        await client.get(f"/r{index}")
    listing = await (await client.get("/__admin/requests")).json()
    assert [entry["path"] for entry in listing["requests"]] == ["/r2", "/r3", "/r4"]
    assert listing["dropped"] == 2
    health = await (await client.get("/__admin/health")).json()
    assert (health["requests"], health["dropped"]) == (3, 2)


async def test_journal_byte_bound_drops_the_oldest(serve: ServeStubs) -> None:
    client = await serve({}, journal_max_bytes=50_000)
    for index in range(4):
        await client.post(f"/r{index}", data=b"x" * 20_000)
    listing = await (await client.get("/__admin/requests")).json()
    assert [entry["path"] for entry in listing["requests"]] == ["/r2", "/r3"]
    assert listing["dropped"] == 2


async def test_entry_is_in_the_journal_when_the_response_arrives(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {path: /a}\n"})
    for index in range(20):
        await client.get("/a")
        count = await (await client.post("/__admin/requests/count", json={})).json()
        assert count == {"count": index + 1}


async def test_2000_concurrent_requests_are_all_journaled_gap_free(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {method: GET, path: /hit}\n"})
    connector = aiohttp.TCPConnector(limit=0)
    url = str(client.make_url(""))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call(index: int) -> int:
            path = "/hit" if index % 2 == 0 else f"/miss/{index}"
            async with session.get(url + path) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(call(index) for index in range(2000)))
    assert statuses.count(200) == 1000
    assert statuses.count(404) == 1000
    listing = await (await client.get("/__admin/requests")).json()
    seqs = [entry["seq"] for entry in listing["requests"]]
    assert listing["total"] == 2000
    assert seqs == list(range(1, 2001))
    assert sum(entry["matched"] for entry in listing["requests"]) == 1000


async def test_host_scoped_stubs_match_only_their_host(serve: ServeStubs) -> None:
    stubs = """
        host: api.stripe.test
        stubs:
          - id: stripe-only
            request: {path: /v1/balance}
    """
    client = await serve({"s.yaml": stubs})
    assert (await client.get("/v1/balance", headers={"Host": "api.stripe.test:443"})).status == 200
    response = await client.get("/v1/balance", headers={"Host": "other.test"})
    assert response.status == 404
    nearest = (await response.json())["near_misses"][0]
    assert (nearest["field"], nearest["actual"]) == ("host", "other.test")


async def test_body_file_is_served_with_the_content_type_of_its_extension(
    serve: ServeStubs,
) -> None:
    client = await serve(
        {
            "s.yaml": "- request: {path: /logo}\n  response: {body_file: __files/logo.png}\n",
            "__files/logo.png": b"\x89PNG\r\n\x1a\n",
            "__files/not-a-stub.yaml": "this: [is not loaded",
        }
    )
    response = await client.get("/logo")
    assert response.headers["Content-Type"] == "image/png"
    assert await response.read() == b"\x89PNG\r\n\x1a\n"


async def test_paths_beside_the_admin_prefix_are_mocked_and_below_it_are_admin(
    serve: ServeStubs,
) -> None:
    client = await serve(
        {"s.yaml": "- request: {method: GET}\n  response: {json: {mocked: true}}\n"}
    )
    for path in ("/__adminx", "/__admin-not/health", "/x/__admin/health", "/~ns1/__admin/health"):
        response = await client.get(path)
        assert (response.status, await response.json()) == (200, {"mocked": True}), path
    health = await client.get("/__admin/health")
    assert (await health.json())["status"] == "ok"
    unknown = await client.get("/__admin")
    assert unknown.status == 404
    assert (await unknown.json())["error"] == "no admin call GET /__admin"
    listing = await (await client.get("/__admin/requests")).json()
    assert [entry["path"] for entry in listing["requests"]] == [
        "/__adminx",
        "/__admin-not/health",
        "/x/__admin/health",
    ]


async def test_expect_100_continue_gets_continue_before_the_body(serve: ServeStubs) -> None:
    client = await serve(
        {"s.yaml": "- request: {body: {contains: hello}}\n  response: {status: 201}\n"}
    )
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        final = await asyncio.wait_for(reader.read(), 5)
        assert final.startswith(b"HTTP/1.1 201 ")
    finally:
        writer.close()


async def test_repeated_and_non_ascii_headers_survive_the_journal(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {headers: {x-tag: {contains: 'b'}}}\n"})
    answer = await raw_exchange(
        client,
        b"GET /tags HTTP/1.1\r\nHost: x\r\nX-Tag: a\r\nX-Tag: b\r\nX-Empty:\r\n"
        b"X-Name: caf\xe9\r\nCookie: a=1\r\nCookie: b=2\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    (entry,) = (await (await client.get("/__admin/requests")).json())["requests"]
    headers = entry["headers"]
    assert headers["x-tag"] == "a, b"
    assert headers["x-empty"] == ""
    assert headers["x-name"] == "café"  # ISO-8859-1, HTTP's rule for header bytes
    assert headers["cookie"] == "a=1; b=2"
    count = await client.post("/__admin/requests/count", json={"headers": {"x-tag": "a, b"}})
    assert (await count.json())["count"] == 1


async def test_method_and_path_stubs_answer_in_sequence_and_journal_everything(
    serve: ServeStubs,
) -> None:
    stub = """
        - id: plain
          request: {method: GET, path: /v1/plain}
          responses: [{json: {n: 1}}, {status: 202, json: {n: 2}}]
    """
    client = await serve({"s.yaml": stub})
    answers = []
    for _ in range(3):
        response = await client.get("/v1/plain?expand=a&expand=b", headers={"X-Trace": "t1"})
        answers.append((response.status, await response.json()))
    assert answers == [(200, {"n": 1}), (202, {"n": 2}), (202, {"n": 2})]
    listing = await (await client.get("/__admin/requests")).json()
    assert [entry["status"] for entry in listing["requests"]] == [200, 202, 202]
    entry = listing["requests"][0]
    assert (entry["matched"], entry["stub_id"], entry["method"]) == (True, "plain", "GET")
    assert entry["query"] == {"expand": ["a", "b"]}
    assert entry["headers"]["x-trace"] == "t1"
    assert entry["duration_ms"] >= 0
    stubs = await (await client.get("/__admin/stubs")).json()
    (listed,) = [each for each in stubs["stubs"] if each["id"] == "plain"]
    assert listed["hits"] == 3


async def test_requests_read_but_not_yet_handled_when_the_client_resets_are_journaled(
    serve: ServeStubs,
) -> None:
    # Two pipelined requests on one connection: the first waits in its stub's delay, the
    # second is parsed and queued behind it. The client then resets the connection, so the
    # second never reaches a handler; it must still be in the journal.
    stubs = """
        - {id: slow, request: {path: /slow}, response: {delay_ms: 5000}}
        - {id: queued, request: {path: /queued}}
    """
    client = await serve({"s.yaml": stubs})
    _reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /queued?q=1 HTTP/1.1\r\nHost: x\r\nX-Id: 2\r\n\r\n"
    )
    await writer.drain()
    # the first request is journaled when it is matched: wait for it (verify wakes on appends)
    slow = {"request": {"path": "/slow"}, "count": 1, "within_ms": 5000}
    assert (await client.post("/__admin/verify", json=slow)).status == 200
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # RST
    queued = {"request": {"path": "/queued"}, "count": 1, "within_ms": 5000}
    assert (await client.post("/__admin/verify", json=queued)).status == 200
    listing = await (await client.get("/__admin/requests")).json()
    first, second = listing["requests"]
    assert (first["path"], first["stub_id"]) == ("/slow", "slow")
    assert (second["path"], second["query"], second["headers"]["x-id"]) == (
        "/queued",
        {"q": ["1"]},
        "2",
    )
    assert (second["matched"], second["status"]) == (False, 499)
    assert second["error"] == "client disconnected before the request was handled"


STRIPE_SHAPED = """
    service: stripe
    base_path: /stripe
    stubs:
      - id: create-charge
        request: {method: POST, path: /v1/charges, body: {form: {currency: usd}}}
        response: {json: {id: ch_1}}
      - id: stripe-unmatched
        unmatched: true
        request: {}
        response:
          status: 404
          template: true
          headers: {Request-Id: req_miss}
          json:
            error:
              type: invalid_request_error
              message: "{{ miss.message }}"
              near_misses: "{{ miss.near_misses }}"
"""


async def test_an_unmatched_stub_shapes_the_404_and_the_request_stays_unmatched(
    serve: ServeStubs,
) -> None:
    client = await serve({"stripe.yaml": STRIPE_SHAPED})
    response = await client.post("/stripe/v1/charges", data={"currency": "eur"})
    assert response.status == 404
    assert response.headers["Request-Id"] == "req_miss"
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == (
        "no stub matched POST /stripe/v1/charges; closest: stub create-charge ("
        + error["near_misses"][0]["source"]
        + "): body.form.currency: expected equals 'usd', got \"eur\""
    )
    assert [miss["stub_id"] for miss in error["near_misses"]] == ["create-charge"]
    # a match is still a match; outside the base path the contract's 404 answers
    assert (await client.post("/stripe/v1/charges", data={"currency": "usd"})).status == 200
    plain = await client.get("/elsewhere")
    assert (await plain.json())["error"] == "no stub matched GET /elsewhere"
    unmatched = await (await client.get("/__admin/requests/unmatched")).json()
    shaped, other = unmatched["requests"]
    assert (shaped["matched"], shaped["stub_id"], shaped["status"]) == (False, None, 404)
    assert shaped["near_misses"][0]["stub_id"] == "create-charge"
    assert other["path"] == "/elsewhere"
    stubs = await (await client.get("/__admin/stubs")).json()
    hits = {stub["id"]: stub["hits"] for stub in stubs["stubs"]}
    assert hits == {"create-charge": 1, "stripe-unmatched": 1}


async def test_an_unmatched_stub_with_a_sequence_is_refused_with_its_line(
    serve: ServeStubs,
) -> None:
    bad = "- {id: u, unmatched: true, request: {}, times: 2}\n"
    with pytest.raises(StubLoadError) as refused:
        await serve({"bad.yaml": bad})
    assert "bad.yaml:1" in str(refused.value)
    assert "'unmatched: true' stub answers with one response" in str(refused.value)


async def test_query_values_are_decoded_once(serve: ServeStubs) -> None:
    # "%2526" is the text "%26" and "%2B" a plus sign: decoding twice would give "&" and " "
    stubs = """
        - id: literal-percent
          request: {method: GET, path: /q, query: {c: "%26", a: "+1", b: "x y"}}
          response: {json: {ok: true}}
    """
    client = await serve({"s.yaml": stubs})
    answer = await raw_exchange(
        client,
        b"GET /q?c=%2526&a=%2B1&b=x+y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    (entry,) = (await (await client.get("/__admin/requests")).json())["requests"]
    assert entry["query"] == {"c": ["%26"], "a": ["+1"], "b": ["x y"]}
    assert entry["stub_id"] == "literal-percent"

"""Dynamic responses over real HTTP: sequences, times, scenarios, delays, faults, streams."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.serving import ServeStubs


async def statuses(client: Any, path: str, count: int) -> list[int]:
    """`count` concurrent GETs with no connection-pool limit."""
    url = str(client.make_url(path))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> int:
            async with session.get(url) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_sequence_gives_each_match_the_next_response_and_repeats_the_last(
    serve: ServeStubs,
) -> None:
    client = await serve(
        {
            "s.yaml": """
                - id: flaky
                  request: {path: /pay}
                  responses:
                    - {status: 503}
                    - {status: 502}
                    - {status: 200, json: {ok: true}}
            """
        }
    )
    assert [(await client.get("/pay")).status for _ in range(5)] == [503, 502, 200, 200, 200]
    await client.post("/__admin/reset")
    assert (await client.get("/pay")).status == 503


async def test_sequence_under_concurrency_hands_out_each_response_once(serve: ServeStubs) -> None:
    client = await serve(
        {
            "s.yaml": "- request: {path: /s}\n  responses:\n"
            + "".join(f"    - {{status: {200 + index}}}\n" for index in range(50))
        }
    )
    got = await statuses(client, "/s", 100)
    assert sorted(got[:0] + got) == sorted([*range(200, 250), *[249] * 50])


async def test_times_serves_exactly_n_under_concurrency_then_falls_through(
    serve: ServeStubs,
) -> None:
    client = await serve(
        {
            "s.yaml": """
                - id: limited
                  times: 50
                  request: {path: /t}
                  response: {status: 201}
                - id: fallback
                  priority: 9
                  request: {path: /t}
                  response: {status: 429}
            """
        }
    )
    got = await statuses(client, "/t", 200)
    assert got.count(201) == 50
    assert got.count(429) == 150
    stubs = {
        s["id"]: s["hits"] for s in (await (await client.get("/__admin/stubs")).json())["stubs"]
    }
    assert stubs == {"limited": 50, "fallback": 150}
    await client.post("/__admin/reset")
    assert (await client.get("/t")).status == 201


async def test_exhausted_times_is_reported_as_a_near_miss(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- id: once\n  times: 1\n  request: {path: /once}\n"})
    assert (await client.get("/once")).status == 200
    response = await client.get("/once")
    assert response.status == 404
    nearest = (await response.json())["near_misses"][0]
    assert nearest == {
        "stub_id": "once",
        "source": nearest["source"],
        "field": "times",
        "expected": "at most 1",
        "actual": "already answered 1 time",
    }


SCENARIO = """
- id: cart-empty
  scenario: {name: checkout, state: started, set_state: paid}
  request: {method: POST, path: /pay}
  response: {status: 201, json: {paid: true}}
- id: cart-paid
  scenario: {name: checkout, state: paid}
  request: {method: POST, path: /pay}
  response: {status: 409, json: {error: already paid}}
"""


async def test_scenario_moves_on_when_a_stub_answers(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": SCENARIO})
    assert await (await client.get("/__admin/scenarios")).json() == {
        "scenarios": {"checkout": "started"}
    }
    assert (await client.post("/pay")).status == 201
    assert (await client.post("/pay")).status == 409
    assert await (await client.get("/__admin/scenarios")).json() == {
        "scenarios": {"checkout": "paid"}
    }
    response = await client.put("/__admin/scenarios/checkout", json={"state": "started"})
    assert response.status == 200
    assert (await client.post("/pay")).status == 201
    await client.post("/__admin/reset")
    assert (await (await client.get("/__admin/scenarios")).json())["scenarios"] == {
        "checkout": "started"
    }


async def test_scenario_state_mismatch_is_reported_as_a_near_miss(serve: ServeStubs) -> None:
    client = await serve(
        {
            "s.yaml": """
                - id: refund
                  scenario: {name: order, state: shipped}
                  request: {path: /refund}
            """
        }
    )
    response = await client.get("/refund")
    assert response.status == 404
    nearest = (await response.json())["near_misses"][0]
    assert (nearest["stub_id"], nearest["field"], nearest["expected"], nearest["actual"]) == (
        "refund",
        "scenario.state",
        "scenario 'order' in state 'shipped'",
        "started",
    )


async def test_scenario_admin_errors(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": SCENARIO})
    unknown = await client.put("/__admin/scenarios/nope", json={"state": "x"})
    assert unknown.status == 404
    for body in ({}, {"state": ""}, {"state": 3}, {"state": "a", "extra": 1}):
        response = await client.put("/__admin/scenarios/checkout", json=body)
        assert response.status == 400, body


async def test_delays_do_not_block_other_requests(serve: ServeStubs) -> None:
    client = await serve(
        {
            "s.yaml": """
                - request: {path: /slow}
                  response: {delay_ms: 500}
                - request: {path: /slower}
                  response: {delay_ms: 10000}
                - request: {path: /ranged}
                  response: {delay_ms: {min: 50, max: 100}}
                - request: {path: /fast}
            """
        }
    )
    began = time.monotonic()
    slower = asyncio.ensure_future(statuses(client, "/slower", 1))
    slow = asyncio.ensure_future(statuses(client, "/slow", 100))
    assert (await client.get("/fast")).status == 200
    assert not slow.done()  # the fast answer did not wait for the delayed ones
    done, _ = await asyncio.wait({slow, slower}, return_when=asyncio.FIRST_COMPLETED)
    # 100 delays of 500 ms overlap: taken one after another they would end after the 10 s one
    assert done == {slow}
    assert await slow == [200] * 100
    assert time.monotonic() - began >= 0.5  # a delay is at least as long as declared
    slower.cancel()
    began = time.monotonic()
    assert (await client.get("/ranged")).status == 200
    assert time.monotonic() - began >= 0.05


async def test_delayed_request_is_journaled_before_its_answer(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {path: /slow}\n  response: {delay_ms: 2000}\n"})
    pending = asyncio.ensure_future(client.get("/slow"))
    for _ in range(200):  # poll the journal: the entry appears while the answer is delayed
        count = (await (await client.post("/__admin/requests/count", json={})).json())["count"]
        if count:
            break
        await asyncio.sleep(0.01)
    assert count == 1
    assert not pending.done()
    pending.cancel()


FAULTS = """
- request: {path: /reset}
  response: {fault: connection_reset}
- request: {path: /empty}
  response: {fault: empty_response}
- request: {path: /garbage}
  response: {fault: malformed_response}
"""


@pytest.mark.parametrize(
    ("path", "error", "text"),
    [
        ("/reset", aiohttp.ClientOSError, "Connection reset by peer"),
        ("/empty", aiohttp.ServerDisconnectedError, "Server disconnected"),
        ("/garbage", aiohttp.ClientResponseError, "Bad status line"),
    ],
)
async def test_faults_as_a_client_sees_them(
    serve: ServeStubs, path: str, error: type[Exception], text: str
) -> None:
    client = await serve({"s.yaml": FAULTS})
    url = str(client.make_url(path))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(error, match=text):
            async with session.get(url) as response:
                await response.read()
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert entry["fault"] == path.strip("/").replace("reset", "connection_reset").replace(
        "garbage", "malformed_response"
    ).replace("empty", "empty_response")
    assert entry["status"] is None
    assert (await client.get("/__admin/health")).status == 200


SSE = """
- id: stream
  request: {method: POST, path: /v1/chat/completions}
  response:
    sse:
      interval_ms: 100
      events:
        - data: {choices: [{delta: {content: Hel}}]}
        - {event: update, id: "2", retry: 1000, data: {choices: [{delta: {content: lo}}]}}
        - data: "[DONE]"
"""


async def test_sse_events_arrive_one_by_one_in_order(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": SSE})
    response = await client.post("/v1/chat/completions", json={"stream": True})
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    arrivals: list[tuple[float, bytes]] = []
    began = time.monotonic()
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            arrivals.append((time.monotonic() - began, frame))
    frames = [frame for _, frame in arrivals]
    assert frames == [
        b'data: {"choices":[{"delta":{"content":"Hel"}}]}',
        b'id: 2\nevent: update\nretry: 1000\ndata: {"choices":[{"delta":{"content":"lo"}}]}',
        b"data: [DONE]",
    ]
    times = [moment for moment, _ in arrivals]
    assert times[1] - times[0] >= 0.08  # interval honoured (lower bounds only)
    assert times[2] - times[1] >= 0.08
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert (entry["stub_id"], entry["status"]) == ("stream", 200)


async def test_chunks_are_flushed_one_by_one(serve: ServeStubs) -> None:
    client = await serve(
        {
            "s.yaml": """
                - request: {path: /chunks}
                  response: {chunks: {parts: ["one,", "two,", "three"], interval_ms: 100}}
            """
        }
    )
    response = await client.get("/chunks")
    assert response.headers["Transfer-Encoding"] == "chunked"
    pieces = []
    async for piece, _ in response.content.iter_chunks():
        if piece:
            pieces.append(piece)
    assert pieces == [b"one,", b"two,", b"three"]


TEMPLATED = """
- id: echo
  request: {method: POST, path: "/v1/customers/{id}/charges"}
  response:
    template: true
    status: 201
    headers: {X-Customer: "{{ request.path_params.id }}"}
    json:
      id: "ch_{{ request.path_params.id }}"
      amount: "{{ request.json.amount }}"
      captured: "{{ request.json.capture }}"
      currency: "{{ request.json.currency | upper }}"
      hit: "{{ hits }}"
- id: broken
  request: {path: /broken}
  response:
    template: true
    body: "{{ request.json.amount + 1 }}"
"""


async def test_templates_render_the_request_and_keep_json_types(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": TEMPLATED})
    response = await client.post(
        "/v1/customers/cus_42/charges", json={"amount": 2000, "capture": False, "currency": "usd"}
    )
    assert response.status == 201
    assert response.headers["X-Customer"] == "cus_42"
    assert await response.json() == {
        "id": "ch_cus_42",
        "amount": 2000,
        "captured": False,
        "currency": "USD",
        "hit": 1,
    }


async def test_template_render_error_is_500_naming_the_stub(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": TEMPLATED})
    response = await client.post("/broken", data=b"not json")
    assert response.status == 500
    error = await response.json()
    assert error["stub_id"] == "broken"
    assert "template error in stub 'broken'" in error["error"]
    assert (await client.get("/__admin/health")).status == 200
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert (entry["status"], entry["stub_id"]) == (500, "broken")

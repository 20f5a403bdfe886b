"""Admin calls on the journal over real HTTP: filters, find, count, clear, unmatched."""

from __future__ import annotations

from typing import Any

from tests.serving import ServeStubs

STUBS = {
    "pay.yaml": """
        service: pay
        base_path: /pay
        stubs:
          - id: charge
            request: {method: POST, path: /v1/charges, body: {json: {currency: usd}}}
          - id: balance
            request: {method: GET, path: /v1/balance}
    """
}


async def traffic(client: Any) -> None:
    await client.post("/pay/v1/charges", json={"amount": 2000, "currency": "usd"})
    await client.get("/pay/v1/balance")
    await client.post("/pay/v1/charges", json={"amount": 10, "currency": "eur"})
    await client.get("/pay/v1/balance?x=1")


async def paths(client: Any, query: str) -> list[tuple[int, str]]:
    response = await client.get(f"/__admin/requests{query}")
    assert response.status == 200
    return [(entry["seq"], entry["method"]) for entry in (await response.json())["requests"]]


async def test_filters(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await traffic(client)
    assert await paths(client, "?method=post") == [(1, "POST"), (3, "POST")]
    assert await paths(client, "?path=/pay/v1/balance") == [(2, "GET"), (4, "GET")]
    assert await paths(client, "?service=pay&matched=false") == []
    assert await paths(client, "?matched=false") == [(3, "POST")]
    assert await paths(client, "?stub_id=balance") == [(2, "GET"), (4, "GET")]
    assert await paths(client, "?since_seq=2") == [(3, "POST"), (4, "GET")]
    assert await paths(client, "?limit=1") == [(4, "GET")]
    assert await paths(client, "?since_seq=1&limit=2") == [(2, "GET"), (3, "POST")]
    # paging backward from the newest, as the live view does
    assert await paths(client, "?before_seq=4&limit=2") == [(2, "GET"), (3, "POST")]
    assert await paths(client, "?before_seq=2&method=post") == [(1, "POST")]


async def test_bad_filters_are_400(serve: ServeStubs) -> None:
    client = await serve()
    for query in ("?limit=-1", "?since_seq=abc", "?matched=maybe", "?before_seq=-2"):
        response = await client.get(f"/__admin/requests{query}")
        assert response.status == 400, query
        assert (await response.json())["details"]


async def test_find_and_count_take_the_stub_request_format(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await traffic(client)
    matcher = {"method": "POST", "body": {"json_path": {"$.amount": {"matches": "^[0-9]{4}$"}}}}
    found = await (await client.post("/__admin/requests/find", json=matcher)).json()
    assert [entry["seq"] for entry in found["requests"]] == [1]
    assert await (await client.post("/__admin/requests/count", json={})).json() == {"count": 4}
    count = await client.post("/__admin/requests/count", json={"query": {"x": "1"}})
    assert await count.json() == {"count": 1}


async def test_matchers_must_be_json_objects(serve: ServeStubs) -> None:
    client = await serve()
    huge_number = b'{"query": {"n": ' + b"9" * 5000 + b"}}"  # past int()'s digit limit
    for body in (b"", b"null", b"[]", b"{bad", b'{"heders": {}}', b'{"method": 5}', huge_number):
        response = await client.post(
            "/__admin/requests/count", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status == 400, body
    error = await (
        await client.post("/__admin/requests/find", json={"path": {"matches": "("}})
    ).json()
    assert error["details"][0]["field"] == "path.matches"


async def test_unmatched_lists_near_misses_and_clear_keeps_seq(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await traffic(client)
    unmatched = (await (await client.get("/__admin/requests/unmatched")).json())["requests"]
    assert [entry["seq"] for entry in unmatched] == [3]
    nearest = unmatched[0]["near_misses"][0]
    assert (nearest["stub_id"], nearest["field"], nearest["actual"]) == (
        "charge",
        "body.json.currency",
        "eur",
    )
    assert await (await client.delete("/__admin/requests")).json() == {"cleared": 4}
    await client.get("/pay/v1/balance")
    assert await paths(client, "") == [(5, "GET")]

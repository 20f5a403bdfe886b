"""Admin verification over real HTTP: counts, bounds, sequences, and readable failures."""

from __future__ import annotations

from tests.serving import ServeStubs

STUBS = {"s.yaml": "- id: charge\n  request: {method: POST, path: /v1/charges}\n"}


async def test_verify_passes_with_the_count(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await client.post("/v1/charges", data={"currency": "usd"})
    body = {"request": {"method": "POST", "path": "/v1/charges"}, "count": 1}
    response = await client.post("/__admin/verify", json=body)
    assert response.status == 200
    assert await response.json() == {"ok": True, "count": 1}


async def test_failed_verify_is_422_with_message_and_near_misses(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await client.post("/v1/charges", data={"currency": "eur"})
    body = {
        "request": {"method": "POST", "path": "/v1/charges", "body": {"form": {"currency": "usd"}}},
        "count": 1,
    }
    response = await client.post("/__admin/verify", json=body)
    assert response.status == 422
    verdict = await response.json()
    assert verdict["ok"] is False
    assert verdict["count"] == 0
    assert verdict["expected"] == "exactly 1"
    assert verdict["message"].startswith("expected exactly 1 request matching POST /v1/charges")
    assert verdict["message"].endswith("found 0")
    assert verdict["near_misses"] == [
        {
            "request_seq": 1,
            "method": "POST",
            "path": "/v1/charges",
            "field": "body.form.currency",
            "expected": "equals 'usd'",
            "actual": "eur",
        }
    ]


async def test_at_least_and_at_most(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    for _ in range(3):
        await client.post("/v1/charges")
    matcher = {"path": "/v1/charges"}
    cases = [({"at_least": 2}, 200), ({"at_most": 2}, 422), ({"at_least": 1, "at_most": 3}, 200)]
    for bounds, status in cases:
        response = await client.post("/__admin/verify", json={"request": matcher, **bounds})
        assert response.status == status, bounds
    default = await client.post("/__admin/verify", json={"request": {"path": "/none"}})
    assert default.status == 422
    assert (await default.json())["expected"] == "at least 1"


async def test_verify_bad_input_is_400(serve: ServeStubs) -> None:
    client = await serve()
    for body in (
        {},
        {"request": None},
        {"request": {}, "count": -1},
        {"request": {}, "count": 1, "at_least": 1},
        {"request": {}, "count": "one"},
        {"request": {"heders": {}}},
        {"request": {}, "within": 5},
    ):
        response = await client.post("/__admin/verify", json=body)
        assert response.status == 400, body
        assert (await response.json())["details"], body


async def test_sequence_in_order_passes_and_out_of_order_explains(serve: ServeStubs) -> None:
    client = await serve()
    await client.post("/v1/customers")
    await client.get("/v1/other")
    await client.post("/v1/charges")
    in_order = {"requests": [{"path": "/v1/customers"}, {"path": "/v1/charges"}]}
    response = await client.post("/__admin/verify/sequence", json=in_order)
    assert response.status == 200
    assert await response.json() == {"ok": True, "matched_seqs": [1, 3]}
    reversed_order = {"requests": [{"path": "/v1/charges"}, {"path": "/v1/customers"}]}
    response = await client.post("/__admin/verify/sequence", json=reversed_order)
    assert response.status == 422
    outcome = await response.json()
    assert set(outcome) == {"ok", "matched_seqs", "failed_step", "message", "near_misses"}
    assert (outcome["ok"], outcome["matched_seqs"], outcome["failed_step"]) == (False, [3], 1)
    assert outcome["message"] == (
        "step 1 (any method /v1/customers) did not happen after request seq 3"
    )
    empty = await client.post("/__admin/verify/sequence", json={"requests": []})
    assert empty.status == 400

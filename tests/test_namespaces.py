"""Namespaces over real HTTP: /~{ns}/ isolation of stubs, journal, state; eventual verification."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from tests.serving import ServeStubs

FILE_STUBS = {
    "s.yaml": """
        - id: shared
          request: {path: /shared}
        - id: once
          times: 1
          request: {path: /once}
        - id: seq
          request: {path: /seq}
          responses: [{status: 201}, {status: 202}]
        - id: step-one
          scenario: {name: flow, state: started, set_state: done}
          request: {path: /flow}
          response: {status: 200}
        - id: step-two
          scenario: {name: flow, state: done}
          request: {path: /flow}
          response: {status: 410}
    """
}


async def test_prefix_is_removed_and_the_entry_carries_the_namespace(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    assert (await client.get("/~worker-1/shared?x=1")).status == 200
    listing = await (await client.get("/__admin/ns/worker-1/requests")).json()
    (entry,) = listing["requests"]
    assert (entry["path"], entry["namespace"], entry["stub_id"]) == (
        "/shared",
        "worker-1",
        "shared",
    )
    assert entry["query"] == {"x": ["1"]}
    default = await (await client.get("/__admin/requests")).json()
    assert default["requests"] == []


async def test_api_stubs_are_scoped_and_file_stubs_shared(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    added = await client.post("/__admin/ns/a/stubs", json={"id": "mine", "request": {"path": "/m"}})
    assert added.status == 201
    assert (await client.get("/~a/m")).status == 200
    assert (await client.get("/~b/m")).status == 404
    assert (await client.get("/m")).status == 404
    # the same id may exist in another namespace
    other = await client.post("/__admin/ns/b/stubs", json={"id": "mine", "request": {"path": "/o"}})
    assert other.status == 201
    ids_a = [s["id"] for s in (await (await client.get("/__admin/ns/a/stubs")).json())["stubs"]]
    assert "mine" in ids_a
    assert "shared" in ids_a


async def test_times_sequences_scenarios_and_resets_are_per_namespace(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    for ns in ("a", "b"):
        assert (await client.get(f"/~{ns}/once")).status == 200
        assert (await client.get(f"/~{ns}/seq")).status == 201
        assert (await client.get(f"/~{ns}/flow")).status == 200
    assert (await client.get("/~a/once")).status == 404
    assert (await client.get("/~a/seq")).status == 202
    assert (await client.get("/~a/flow")).status == 410
    scenarios = await (await client.get("/__admin/ns/b/scenarios")).json()
    assert scenarios == {"scenarios": {"flow": "done"}}
    assert (await client.post("/__admin/ns/a/reset")).status == 200
    assert (await client.get("/~a/once")).status == 200
    assert (await client.get("/~a/seq")).status == 201
    assert (await client.get("/~a/flow")).status == 200
    # b kept its state through a's reset
    assert (await client.get("/~b/once")).status == 404
    assert (await client.get("/~b/seq")).status == 202
    assert (await client.get("/~b/flow")).status == 410
    assert (await (await client.get("/__admin/scenarios")).json())["scenarios"] == {
        "flow": "started"
    }


async def test_dropped_counts_are_per_namespace(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS, journal_limit=2)
    for _ in range(5):
        await client.get("/~noisy/shared")
    await client.get("/~quiet/shared")
    noisy = await (await client.get("/__admin/ns/noisy/requests")).json()
    quiet = await (await client.get("/__admin/ns/quiet/requests")).json()
    assert (noisy["total"], noisy["dropped"]) == (2, 3)
    assert (quiet["total"], quiet["dropped"]) == (1, 0)


async def test_eight_namespaces_driven_concurrently_each_see_only_their_own(
    serve: ServeStubs,
) -> None:
    client = await serve(FILE_STUBS)
    url = str(client.make_url(""))
    names = [f"w{index}" for index in range(8)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def drive(name: str, rounds: int) -> None:
            for round_ in range(rounds):
                async with session.get(f"{url}/~{name}/shared") as response:
                    assert response.status == 200
                if round_ == 5:  # a reset in the middle: only this namespace forgets
                    async with session.post(f"{url}/__admin/ns/{name}/reset") as response:
                        assert response.status == 200

        await asyncio.gather(*(drive(name, 10 + index) for index, name in enumerate(names)))
        for index, name in enumerate(names):
            async with session.get(f"{url}/__admin/ns/{name}/requests") as response:
                listing = await response.json()
            expected = 10 + index - 6  # the requests after the reset
            assert listing["total"] == expected
            assert {entry["namespace"] for entry in listing["requests"]} == {name}
            async with session.post(
                f"{url}/__admin/ns/{name}/verify",
                json={"request": {"path": "/shared"}, "count": expected},
            ) as response:
                assert response.status == 200
            async with session.get(f"{url}/__admin/ns/{name}/stubs") as response:
                hits = {s["id"]: s["hits"] for s in (await response.json())["stubs"]}
            assert hits["shared"] == expected


async def test_namespaces_are_listed_removed_and_bounded(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS, max_namespaces=2)
    await client.get("/~one/shared")
    await client.get("/~two/shared")
    refused = await client.get("/~three/shared")
    assert refused.status == 503
    assert "limit of 2 namespaces" in (await refused.json())["error"]
    listed = await (await client.get("/__admin/namespaces")).json()
    assert [entry["name"] for entry in listed["namespaces"]] == ["one", "two"]
    assert listed["limit"] == 2
    assert (await client.delete("/__admin/ns/one")).status == 200
    assert (await client.delete("/__admin/ns/one")).status == 404
    assert (await client.get("/~three/shared")).status == 200


async def test_invalid_namespace_names_are_plain_paths(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": "- request: {path: '/~bad.name/x'}\n"})
    assert (await client.get("/~bad.name/x")).status == 200
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert (entry["namespace"], entry["path"]) == (None, "/~bad.name/x")


async def test_verify_within_waits_for_a_request_sent_later(serve: ServeStubs) -> None:
    client = await serve(
        {**FILE_STUBS, "slow.yaml": "- {request: {path: /slow}, response: {delay_ms: 15000}}\n"}
    )
    verify = asyncio.ensure_future(
        client.post(
            "/__admin/ns/app/verify",
            json={"request": {"path": "/shared"}, "count": 1, "within_ms": 30000},
        )
    )
    assert (await client.get("/__admin/health")).status == 200  # other calls go on meanwhile
    assert not verify.done()
    assert (await client.get("/~app/shared")).status == 200
    slow = asyncio.ensure_future(client.get("/slow"))
    done, _ = await asyncio.wait({verify, slow}, return_when=asyncio.FIRST_COMPLETED)
    assert done == {verify}  # woken by the request, long before its 30 s window or the 15 s one
    response = await verify
    assert response.status == 200
    assert await response.json() == {"ok": True, "count": 1}
    slow.cancel()


async def test_verify_within_fails_after_the_window_with_near_misses(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    await client.get("/shared")
    began = time.monotonic()
    response = await client.post(
        "/__admin/verify",
        json={"request": {"path": "/never"}, "count": 1, "within_ms": 300},
    )
    assert time.monotonic() - began >= 0.3
    assert response.status == 422
    verdict: dict[str, Any] = await response.json()
    assert verdict["count"] == 0
    assert verdict["near_misses"][0]["field"] == "path"


async def test_verify_within_does_not_block_other_calls(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    waiting = asyncio.ensure_future(
        client.post(
            "/__admin/verify", json={"request": {"path": "/x"}, "count": 1, "within_ms": 3000}
        )
    )
    await asyncio.sleep(0.05)
    assert (await client.get("/__admin/health")).status == 200
    assert (await client.get("/shared")).status == 200
    assert not waiting.done()
    await client.get("/x")
    assert (await waiting).status == 200


async def test_within_ms_is_capped(serve: ServeStubs) -> None:
    client = await serve()
    for value in (-1, 30_001, "1s", True):
        response = await client.post("/__admin/verify", json={"request": {}, "within_ms": value})
        assert response.status == 400, value


async def test_templates_see_the_namespace_for_links_back(serve: ServeStubs) -> None:
    client = await serve(
        {
            "s.yaml": """
                - request: {path: /items}
                  response:
                    template: true
                    headers: {Link: '<{{ request.path_prefix }}/items?page=2>; rel="next"'}
                    json: {namespace: "{{ request.namespace }}"}
            """
        }
    )
    response = await client.get("/~w7/items")
    assert response.headers["Link"] == '</~w7/items?page=2>; rel="next"'
    assert await response.json() == {"namespace": "w7"}
    plain = await client.get("/items")
    assert plain.headers["Link"] == '</items?page=2>; rel="next"'
    assert await plain.json() == {"namespace": None}


async def test_reads_do_not_create_namespaces(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS, max_namespaces=1)
    for name in ("r1", "r2", "r3"):
        health = await (await client.get(f"/__admin/ns/{name}/health")).json()
        assert health["requests"] == 0
        assert (await client.get(f"/__admin/ns/{name}/requests")).status == 200
    assert (await (await client.get("/__admin/namespaces")).json())["namespaces"] == []
    assert (await client.get("/~real/shared")).status == 200


async def test_posted_reads_and_resets_do_not_create_namespaces(serve: ServeStubs) -> None:
    # find, count and verify are POSTs that only read: they used to fill the registry
    client = await serve(FILE_STUBS, max_namespaces=1)
    for name in ("ghost1", "ghost2", "ghost3"):
        count = await client.post(f"/__admin/ns/{name}/requests/count", json={})
        assert (count.status, (await count.json())["count"]) == (200, 0)
        found = await client.post(f"/__admin/ns/{name}/requests/find", json={})
        assert (await found.json())["requests"] == []
        verify = await client.post(
            f"/__admin/ns/{name}/verify", json={"request": {"path": "/x"}, "count": 0}
        )
        assert verify.status == 200
        sequence = await client.post(
            f"/__admin/ns/{name}/verify/sequence", json={"requests": [{"path": "/x"}]}
        )
        assert sequence.status == 422
        assert (await client.post(f"/__admin/ns/{name}/reset")).status == 200
        assert (await client.delete(f"/__admin/ns/{name}/stubs")).status == 200
        assert (await client.delete(f"/__admin/ns/{name}/requests")).status == 200
    assert (await (await client.get("/__admin/namespaces")).json())["namespaces"] == []
    assert (await client.get("/~real/shared")).status == 200
    listed = await (await client.get("/__admin/namespaces")).json()
    assert [entry["name"] for entry in listed["namespaces"]] == ["real"]


async def test_a_path_with_an_encoded_newline_is_journaled(serve: ServeStubs) -> None:
    client = await serve(FILE_STUBS)
    response = await client.get("/x%0Ay")
    assert response.status == 404
    entry = (await (await client.get("/__admin/requests")).json())["requests"][0]
    assert entry["path"] == "/x\ny"

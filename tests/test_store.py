"""The stub store: priority order, the index, atomic swaps and API stubs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mockserver.errors import AdminInputError, NamespaceLimitError, NotFoundError
from mockserver.incoming import IncomingRequest, parse_query
from mockserver.loader import load_paths, parse_stub_text
from mockserver.memory_state import MemoryState
from mockserver.store import StubStore
from tests.serving import write_stubs


def request(method: str, path: str) -> IncomingRequest:
    path, _, query = path.partition("?")
    return IncomingRequest(method, path, parse_query(query), {})


def make_store(tmp_path: Path, files: dict[str, str | bytes]) -> StubStore:
    loaded = load_paths([write_stubs(tmp_path / "stubs", files)])
    return StubStore(loaded.stubs, MemoryState(1000, 10**9, limit=2))


def literal_stubs(count: int) -> str:
    return "".join(
        f"- id: item-{index}\n  request: {{method: GET, path: /v1/items/{index}}}\n"
        for index in range(count)
    )


FALLBACK = """
- id: by-template
  request: {method: GET, path: "/v1/things/{id}"}
- id: by-regex
  request: {path: {matches: '^/v2/.*$'}}
"""


@pytest.mark.parametrize("count", [10, 1000])
async def test_a_request_examines_the_same_stubs_with_10_or_1000_literal_paths(
    tmp_path: Path, count: int
) -> None:
    store = make_store(tmp_path, {"items.yaml": literal_stubs(count), "z.yaml": FALLBACK})
    found = await store.default.select(request("GET", "/v1/items/7"))
    assert found.stub is not None
    assert found.stub.id == "item-7"
    # the index entry for the literal path, then nothing else: 1 stub examined
    assert found.examined == 1
    missed = await store.default.select(request("GET", "/v1/nothing"))
    assert (missed.stub, missed.examined) == (None, 2)  # only the two fallback stubs
    templated = await store.default.select(request("GET", "/v1/things/9"))
    assert templated.stub is not None
    assert (templated.stub.id, templated.examined) == ("by-template", 1)


async def test_priority_then_api_newest_then_file_order(tmp_path: Path) -> None:
    store = make_store(
        tmp_path,
        {
            "a.yaml": "- id: file-first\n  request: {path: /x}\n"
            "- id: file-second\n  request: {path: /x}\n",
            "b.yaml": "- id: file-urgent\n  priority: 1\n  request: {path: {starts_with: /x}}\n",
        },
    )
    assert (await store.default.select(request("GET", "/x"))).stub.id == "file-urgent"  # type: ignore[union-attr]
    await store.default.remove("file-urgent")
    assert (await store.default.select(request("GET", "/x"))).stub.id == "file-first"  # type: ignore[union-attr]
    await store.default.add(
        parse_stub_text("- id: api-old\n  request: {path: /x}\n", stub_dirs=[tmp_path])
    )
    await store.default.add(
        parse_stub_text(
            "- id: api-new-a\n  request: {path: /x}\n- id: api-new-b\n  request: {path: /x}\n",
            stub_dirs=[tmp_path],
        )
    )
    order = [stub.id for stub in store.stubs]
    assert order == ["api-new-a", "api-new-b", "api-old", "file-first", "file-second"]
    assert (await store.default.select(request("GET", "/x"))).stub.id == "api-new-a"  # type: ignore[union-attr]


async def test_method_less_and_method_specific_stubs_merge_in_order(tmp_path: Path) -> None:
    store = make_store(
        tmp_path,
        {
            "s.yaml": "- id: any-method\n  request: {path: /x, query: {v: '1'}}\n"
            "- id: get-only\n  request: {method: GET, path: /x}\n"
            "- id: any-again\n  request: {path: /x}\n"
        },
    )
    assert (await store.default.select(request("GET", "/x?v=1"))).stub.id == "any-method"  # type: ignore[union-attr]
    found = await store.default.select(request("GET", "/x"))
    assert (found.stub.id, found.examined) == ("get-only", 2)  # type: ignore[union-attr]
    assert (await store.default.select(request("POST", "/x"))).stub.id == "any-again"  # type: ignore[union-attr]


async def test_put_overrides_a_file_stub_until_api_stubs_are_removed(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"s.yaml": "- id: s\n  request: {path: /old}\n"})
    (replacement,) = parse_stub_text("id: s\nrequest: {path: /new}\n", stub_dirs=[tmp_path])
    await store.default.replace("s", replacement)
    assert (await store.default.select(request("GET", "/new"))).stub is not None
    assert (await store.default.select(request("GET", "/old"))).stub is None
    await store.default.remove_api_stubs()
    assert (await store.default.select(request("GET", "/old"))).stub is not None


async def test_adding_an_existing_id_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"s.yaml": "- id: s\n  request: {path: /a}\n"})
    before = store.stubs
    with pytest.raises(AdminInputError, match="already exists"):
        await store.default.add(
            parse_stub_text("id: s\nrequest: {path: /b}\n", stub_dirs=[tmp_path])
        )
    assert store.stubs is before


async def test_unknown_ids_are_not_found(tmp_path: Path) -> None:
    store = make_store(tmp_path, {})
    with pytest.raises(NotFoundError, match="no stub with id 'nope'"):
        await store.default.remove("nope")


async def test_swap_replaces_file_stubs_in_one_step_and_keeps_api_stubs(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"s.yaml": "- id: old\n  request: {path: /a}\n"})
    await store.default.add(parse_stub_text("id: api\nrequest: {path: /b}\n", stub_dirs=[tmp_path]))
    fresh = load_paths([write_stubs(tmp_path / "v2", {"s.yaml": "- id: new\n  request: {}\n"})])
    await store.swap_files(fresh.stubs)
    assert sorted(stub.id for stub in store.stubs) == ["api", "new"]


async def test_namespaces_see_file_stubs_but_only_their_own_api_stubs(tmp_path: Path) -> None:
    store = make_store(tmp_path, {"s.yaml": "- id: shared\n  request: {path: /shared}\n"})
    worker = await store.scoped("w1")
    await worker.add(parse_stub_text("id: mine\nrequest: {path: /mine}\n", stub_dirs=[tmp_path]))
    assert [stub.id for stub in worker.stubs] == ["mine", "shared"]
    assert [stub.id for stub in store.default.stubs] == ["shared"]
    await worker.remove("shared")
    assert [stub.id for stub in store.default.stubs] == ["shared"]


async def test_namespace_count_is_bounded(tmp_path: Path) -> None:
    store = make_store(tmp_path, {})
    await store.scoped("a")
    await store.scoped("b")
    with pytest.raises(NamespaceLimitError, match="limit of 2 namespaces"):
        await store.scoped("c")
    assert await store.remove_namespace("a")
    await store.scoped("c")


PLAIN_AND_NOT = """
- id: plain
  request: {method: GET, path: /v1/plain}
  responses: [{json: {n: 1}}, {json: {n: 2}}]
- {id: with-header, request: {method: GET, path: /v1/header, headers: {x-a: b}}}
- {id: with-times, request: {method: GET, path: /v1/times}, times: 1}
- id: with-scenario
  request: {method: GET, path: /v1/scenario}
  scenario: {name: s, state: started}
- {id: with-template, request: {method: GET, path: /v1/template}, response: {template: true}}
- {id: with-delay, request: {method: GET, path: /v1/delay}, response: {delay_ms: 1}}
- {id: with-fault, request: {method: GET, path: /v1/fault}, response: {fault: empty_response}}
- {id: any-method, request: {path: /v1/any}}
"""


def test_plain_answers_are_stubs_that_need_only_method_and_path(tmp_path: Path) -> None:
    stubs = make_store(tmp_path, {"s.yaml": PLAIN_AND_NOT}).stubs
    plain = stubs.plain_answer("GET", "/v1/plain")
    assert plain is not None
    assert plain.stub.id == "plain"
    assert stubs.plain_answer("DELETE", "/v1/any") is not None
    assert stubs.plain_answer("POST", "/v1/plain") is None  # no stub: the full path says why
    for path in ("header", "times", "scenario", "template", "delay", "fault"):
        assert stubs.plain_answer("GET", f"/v1/{path}") is None, path


async def test_a_fallback_stub_before_an_indexed_one_keeps_the_full_path(tmp_path: Path) -> None:
    files = {
        "a.yaml": "- {id: regex-first, request: {path: {matches: '^/v1/.*$'}}, priority: 1}\n",
        "b.yaml": "- {id: literal, request: {method: GET, path: /v1/x}, priority: 5}\n",
    }
    stubs = make_store(tmp_path, files).stubs
    assert stubs.plain_answer("GET", "/v1/x") is None
    found = await make_store(tmp_path, files).default.select(request("GET", "/v1/x"))
    assert found.stub is not None
    assert found.stub.id == "regex-first"


def test_plain_answers_cache_only_indexed_paths(tmp_path: Path) -> None:
    stubs = make_store(tmp_path, {"s.yaml": PLAIN_AND_NOT + FALLBACK}).stubs
    for index in range(1000):
        assert stubs.plain_answer("GET", f"/v2/unknown/{index}") is None
    assert stubs.plain_answer("GET", "/v1/plain") is not None
    assert len(stubs._plain) == 1  # bounded by the stubs, not by the requests

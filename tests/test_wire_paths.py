"""Paths as real clients send them (PRODUCT.md §10): split on the `/` characters as sent, then
each segment percent-decoded, so `/files/a%2Fb/meta` has three segments and its second is
`a/b` (GitLab's `projects/group%2Fproject`). The journal keeps `path` (decoded) and `raw_path`
(as sent). Every client below is a real one over loopback.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import aiohttp
import httpx
import pytest
import requests
import urllib3
from aiohttp.test_utils import TestClient
from yarl import URL

from mockserver.incoming import decoded_path, request_path, segment_path, split_target
from tests.serving import ServeStubs, raw_exchange
from tests.test_wire_answers import get, parse_responses

PATHS = """
    - id: nested
      request: {path: /files/a/b/meta}
      response: {body: nested}
    - id: meta
      request: {path: "/files/{name}/meta"}
      response: {template: true, body: "name={{ request.path_params.name }}"}
    - id: gitlab
      request: {path: /api/v4/projects/group%2Fproject}
      response: {body: project}
    - id: cafe
      request: {path: /menu/café}
      response: {body: coffee}
"""


def require_tool(name: str) -> None:
    """Skip (fail under CI=true) when a real client the test drives is not installed."""
    if shutil.which(name) is None:
        message = f"{name} is not installed: apt-get install {name}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


async def journal(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    listing = await (await client.get("/__admin/requests")).json()
    entries: list[dict[str, Any]] = listing["requests"]
    return entries


async def fetch_with(kind: str, url: str) -> tuple[int, str]:
    """GET `url` with one real client, its path sent as written (encoded escapes kept)."""
    if kind == "aiohttp":
        async with (
            aiohttp.ClientSession() as session,
            session.get(URL(url, encoded=True)) as response,
        ):
            return response.status, await response.text()
    if kind == "httpx":
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
            return answer.status_code, answer.text
    if kind == "requests":
        reply = await asyncio.to_thread(requests.get, url, timeout=10)
        return reply.status_code, reply.text
    if kind == "urllib3":
        with urllib3.PoolManager() as pool:
            raw = await asyncio.to_thread(pool.request, "GET", url, timeout=10.0)
        return raw.status, raw.data.decode()
    require_tool("curl")
    curl = await asyncio.create_subprocess_exec(
        "curl", "--silent", "--show-error", "--max-time", "10",
        "--write-out", "\n%{http_code}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await curl.communicate()
    assert curl.returncode == 0, err
    body, _, status = out.decode().rpartition("\n")
    return int(status), body


CLIENTS = ["aiohttp", "httpx", "requests", "urllib3", "curl"]


@pytest.mark.parametrize("kind", CLIENTS)
async def test_an_encoded_slash_stays_inside_its_segment(serve: ServeStubs, kind: str) -> None:
    client = await serve({"s.yaml": PATHS})
    base = f"http://{client.host}:{client.port}"
    assert await fetch_with(kind, base + "/files/a%2Fb/meta") == (200, "name=a/b")
    assert await fetch_with(kind, base + "/files/a/b/meta") == (200, "nested")
    [encoded, plain] = await journal(client)
    assert (encoded["stub_id"], encoded["path"], encoded["raw_path"]) == (
        "meta",
        "/files/a/b/meta",
        "/files/a%2Fb/meta",
    )
    assert (plain["stub_id"], plain["path"], plain["raw_path"]) == (
        "nested",
        "/files/a/b/meta",
        "/files/a/b/meta",
    )


@pytest.mark.parametrize("kind", CLIENTS)
async def test_a_stub_path_written_encoded_or_decoded_means_the_same(
    serve: ServeStubs, kind: str
) -> None:
    client = await serve({"s.yaml": PATHS})
    base = f"http://{client.host}:{client.port}"
    assert await fetch_with(kind, base + "/api/v4/projects/group%2Fproject") == (200, "project")
    assert await fetch_with(kind, base + "/api/v4/projects/group%2fproject") == (200, "project")
    assert await fetch_with(kind, base + "/menu/caf%C3%A9") == (200, "coffee")
    status, _ = await fetch_with(kind, base + "/api/v4/projects/group/project")
    assert status == 404
    entries = await journal(client)
    # requests and urllib3 re-quote a URL before sending it: their escapes go out upper-case
    lower = "%2F" if kind in ("requests", "urllib3") else "%2f"
    assert [(entry["path"], entry["raw_path"], entry["stub_id"]) for entry in entries] == [
        ("/api/v4/projects/group/project", "/api/v4/projects/group%2Fproject", "gitlab"),
        ("/api/v4/projects/group/project", f"/api/v4/projects/group{lower}project", "gitlab"),
        ("/menu/café", "/menu/caf%C3%A9", "cafe"),
        ("/api/v4/projects/group/project", "/api/v4/projects/group/project", None),
    ]


async def test_raw_bytes_an_absolute_target_and_a_namespace(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": PATHS})
    data = (
        get("/files/x%2Fy%2Fz/meta")
        + get("http://api.test/files/a%2Fb/meta")  # absolute form, as to a proxy
        + get("/~w1/files/a%2fb/meta", "Connection: close")
    )
    answers = parse_responses(await raw_exchange(client, data))
    assert [(status, body) for status, _, body in answers] == [
        ("HTTP/1.1 200 OK", b"name=x/y/z"),
        ("HTTP/1.1 200 OK", b"name=a/b"),
        ("HTTP/1.1 200 OK", b"name=a/b"),
    ]
    listing = await (await client.get("/__admin/ns/w1/requests")).json()
    [entry] = listing["requests"]
    assert (entry["namespace"], entry["path"], entry["raw_path"]) == (
        "w1",
        "/files/a/b/meta",
        "/files/a%2fb/meta",
    )


async def test_the_path_filter_takes_either_form(serve: ServeStubs) -> None:
    client = await serve({"s.yaml": PATHS})
    await client.get(URL("/menu/caf%C3%A9", encoded=True))
    await client.get(URL("/files/a%2Fb/meta", encoded=True))
    for written in ("/menu/café", "/menu/caf%C3%A9"):
        listing = await (await client.get("/__admin/requests", params={"path": written})).json()
        assert [entry["stub_id"] for entry in listing["requests"]] == ["cafe"]
    listing = await (
        await client.get("/__admin/requests", params={"path": "/files/a%2Fb/meta"})
    ).json()
    assert [entry["stub_id"] for entry in listing["requests"]] == ["meta"]


@pytest.mark.parametrize(
    ("sent", "form"),
    [
        ("/plain/path", "/plain/path"),
        ("/files/a%2Fb/meta", "/files/a%2Fb/meta"),
        ("/files/a%2fb/meta", "/files/a%2Fb/meta"),
        ("/menu/caf%C3%A9", "/menu/café"),
        ("/menu/café", "/menu/café"),
        ("/100%", "/100%25"),
        ("/100%25", "/100%25"),
        ("/bytes/%FF%fe", "/bytes/%FF%FE"),
        ("/a%20b", "/a b"),
    ],
    ids=[
        "plain",
        "encoded-slash",
        "lower-case-escape",
        "utf8",
        "already-decoded",
        "lone-percent",
        "encoded-percent",
        "not-utf8",
        "space",
    ],
)
def test_segment_form(sent: str, form: str) -> None:
    assert segment_path(sent) == form
    assert segment_path(form) == form  # one form: applying it again changes nothing


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/v1/x?a=%2B1#top", ("/v1/x", "a=%2B1")),
        ("/v1/x#top", ("/v1/x", "")),
        ("http://api.test/v1/x?a=1", ("/v1/x", "a=1")),
        ("http://api.test", ("/", "")),
        ("*", ("*", "")),
    ],
    ids=["query-and-fragment", "fragment", "absolute", "absolute-no-path", "asterisk"],
)
def test_split_target(target: str, expected: tuple[str, str]) -> None:
    assert split_target(target) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/x", (None, "/x", None)),
        ("/~w1/a%2fb", ("w1", "/a%2Fb", "/a%2fb")),
        ("/%7Ew1/caf%C3%A9", ("w1", "/café", "/caf%C3%A9")),
        ("/~w1", ("w1", "/", None)),
        ("/~not!a-name/x", (None, "/~not!a-name/x", None)),
    ],
    ids=["plain", "namespace", "encoded-namespace", "namespace-root", "not-a-namespace"],
)
def test_request_path(raw: str, expected: tuple[str | None, str, str | None]) -> None:
    assert request_path(raw) == expected


def test_decoded_path_is_what_the_journal_shows() -> None:
    assert decoded_path("/files/a%2Fb/meta") == "/files/a/b/meta"
    assert decoded_path("/100%25") == "/100%"

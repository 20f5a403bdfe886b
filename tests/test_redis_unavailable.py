"""A Redis state store that goes away and comes back (PRODUCT.md §15): mocked requests and admin
calls answer 503 JSON naming the store, never a hang or a 500; health answers 503 with
"state": "unavailable" and counts the requests that could not be journaled; the server finds
Redis again by itself. Each test has its own redis-server, which it stops and starts again on
the same port."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.redis_client import shown_url
from tests.redis_server import start_redis, stop_redis, unique_prefix
from tests.serving import ServeStubs, write_stubs
from tests.test_cli import Server

STUBS = {
    "hello.yaml": """
        - id: hello
          request: {path: /hello}
          response: {json: {hello: world}}
    """
}


class RedisProcess:
    """A redis-server this test stops and starts again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process, self.url = start_redis(directory)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self) -> None:
        stop_redis(self.process)

    def start_again(self) -> None:
        self.process, url = start_redis(self.directory, port=self.port)
        assert url == self.url


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    (tmp_path / "redis").mkdir()
    server = RedisProcess(tmp_path / "redis")
    try:
        yield server
    finally:
        if server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)  # in case a test left it stopped
            server.stop()


async def answer(client: Any, method: str, path: str, **options: Any) -> tuple[int, Any]:
    async with client.request(method, path, **options) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def names_the_store(body: Any, url: str) -> None:
    assert body["error"] == "state store unavailable"
    assert body["state"] == url
    assert body["reason"]


async def test_redis_gone_answers_503_and_the_server_recovers_when_it_returns(
    serve: ServeStubs, redis: RedisProcess, tmp_path: Path
) -> None:
    client = await serve(STUBS, state=redis.url, state_prefix=unique_prefix())
    assert await answer(client, "GET", "/hello") == (200, {"hello": "world"})
    status, health = await answer(client, "GET", "/__admin/health")
    assert (status, health["state"], health["unjournaled"]) == (200, "redis", 0)
    count = {"path": "/hello"}
    assert await answer(client, "POST", "/__admin/requests/count", json=count) == (
        200,
        {"count": 1},
    )

    redis.stop()
    status, body = await answer(client, "GET", "/hello")
    assert status == 503
    names_the_store(body, redis.url)
    status, body = await answer(client, "GET", "/~team/hello")  # a namespace not yet known
    assert status == 503
    names_the_store(body, redis.url)
    for method, path, payload in (
        ("GET", "/__admin/requests", None),
        ("POST", "/__admin/requests/count", {}),
        ("POST", "/__admin/verify", {"request": {"path": "/hello"}, "count": 1}),
        ("POST", "/__admin/stubs", {"request": {"path": "/x"}, "response": {"status": 204}}),
        ("POST", "/__admin/reset", None),
        ("GET", "/__admin/namespaces", None),
    ):
        status, body = await answer(client, method, path, json=payload)
        assert status == 503, (method, path, body)
        names_the_store(body, redis.url)
    status, health = await answer(client, "GET", "/__admin/health")
    assert status == 503
    assert (health["status"], health["state"], health["store"]) == (
        "unavailable",
        "unavailable",
        redis.url,
    )
    assert health["unjournaled"] == 2  # the two mocked requests; admin calls are not journaled

    redis.start_again()  # empty: started without persistence
    while (await answer(client, "GET", "/__admin/health"))[0] != 200:  # polled, not slept
        pass
    assert (await answer(client, "GET", "/nope"))[0] == 404
    assert await answer(client, "GET", "/hello") == (200, {"hello": "world"})
    assert await answer(client, "GET", "/~team/hello") == (200, {"hello": "world"})
    # the replica's copy of the journal (filtered queries) is of the Redis that answers now
    assert await answer(client, "POST", "/__admin/requests/count", json=count) == (
        200,
        {"count": 1},
    )
    status, found = await answer(client, "GET", "/__admin/requests")
    # what Redis lost stays lost: the journal goes on from what Redis holds, every entry whole
    assert [(entry["seq"], entry["path"]) for entry in found["requests"]] == [
        (1, "/nope"),
        (2, "/hello"),
    ]
    status, health = await answer(client, "GET", "/__admin/health")
    assert (status, health["state"], health["requests"], health["unjournaled"]) == (
        200,
        "redis",
        2,
        2,
    )


async def test_api_stubs_added_after_a_restart_are_not_mistaken_for_ones_compiled_before(
    serve: ServeStubs, redis: RedisProcess
) -> None:
    prefix = unique_prefix()
    one = await serve(STUBS, state=redis.url, state_prefix=prefix)
    two = await serve(STUBS, state=redis.url, state_prefix=prefix)
    before = {"id": "added", "request": {"path": "/added"}, "response": {"json": {"n": 1}}}
    assert (await answer(one, "POST", "/__admin/stubs", json=before))[0] == 201
    assert await answer(two, "GET", "/added") == (200, {"n": 1})  # two compiles it

    redis.stop()
    redis.start_again()
    after = {"id": "added", "request": {"path": "/added"}, "response": {"json": {"n": 2}}}
    while (await answer(one, "POST", "/__admin/stubs", json=after))[0] != 201:
        pass  # polled until one finds Redis again
    # the first change to an empty Redis must not carry the version two compiled before
    assert await answer(two, "GET", "/added") == (200, {"n": 2})


async def test_a_redis_that_stops_answering_fails_calls_within_the_socket_timeout(
    serve: ServeStubs, redis: RedisProcess
) -> None:
    client = await serve(STUBS, state=redis.url, state_prefix=unique_prefix())
    assert (await answer(client, "GET", "/hello"))[0] == 200
    os.kill(redis.process.pid, signal.SIGSTOP)  # connections open, nothing answers
    try:
        status, body = await answer(client, "GET", "/hello")
        assert status == 503
        names_the_store(body, redis.url)
        assert "Timeout" in body["reason"] or "timed out" in body["reason"].lower()
    finally:
        os.kill(redis.process.pid, signal.SIGCONT)
    while (await answer(client, "GET", "/__admin/health"))[0] != 200:
        pass
    assert (await answer(client, "GET", "/hello"))[0] == 200


def test_the_store_is_shown_without_its_password() -> None:
    assert shown_url("redis://:secret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert shown_url("rediss://app:secret@cache/1") == "rediss://app:***@cache/1"
    assert shown_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_serve_answers_503_while_redis_is_away(tmp_path: Path, redis: RedisProcess) -> None:
    """The same through `mockserver serve`, the way a replica runs (no Redis at start-up)."""
    stubs = write_stubs(tmp_path / "stubs", STUBS)
    redis.stop()
    server = Server("--stubs", str(stubs), "--port", "0", "--state", redis.url)
    try:
        status, body = _get(server.url + "/hello")
        assert status == 503
        names_the_store(body, redis.url)
        redis.start_again()
        while _get(server.url + "/__admin/health")[0] != 200:
            pass
        assert _get(server.url + "/hello") == (200, {"hello": "world"})
    finally:
        server.stop()


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())

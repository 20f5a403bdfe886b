"""Replicas sharing one Redis (`--state redis://...`): two or three `mockserver serve` processes
on their own ports, one real redis-server, one shared state (PRODUCT.md §15)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import unique_prefix
from tests.serving import write_stubs
from tests.test_cli import Server


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(url, data=data, method=method)
    sent.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def replicas(
    redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[list[Server]]:
    """Two replicas (or as many as the test's parameter says) sharing one Redis."""
    count: int = getattr(request, "param", 2)
    stubs = write_stubs(
        tmp_path / "stubs",
        {
            "once.yaml": "- id: once\n  request: {path: /once}\n  times: 1\n"
            "  response: {json: {ok: true}}\n",
            "plain.yaml": "- id: file-plain\n  request: {path: /file}\n"
            "  response: {json: {file: true}}\n",
        },
    )
    flags = ("--stubs", str(stubs), "--port", "0", "--state", redis_url)
    prefix = ("--state-prefix", unique_prefix())
    started: list[Server] = []
    try:
        for _ in range(count):
            started.append(Server(*flags, *prefix))
        yield started
    finally:
        for server in started:
            if server.process.poll() is None:
                server.stop()


@pytest.mark.parametrize("replicas", [2, 3], indirect=True)
def test_replicas_share_times_the_journal_and_api_stubs(replicas: list[Server]) -> None:
    one, *others = replicas
    assert call(one.url + "/__admin/health")[1]["state"] == "redis"
    targets = [server.url + "/once" for server in replicas for _ in range(10)]
    requests = len(targets)
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(status for status, _ in pool.map(call, targets))
    assert statuses == [200] + [404] * (requests - 1)  # `times: 1` answers once across all

    for server in replicas:  # every request in one journal, one seq sequence
        status, found = call(server.url + "/__admin/requests")
        assert status == 200
        assert sorted(entry["seq"] for entry in found["requests"]) == list(range(1, requests + 1))
        assert call(server.url + "/__admin/requests/count", "POST", {})[1] == {"count": requests}

    added = {"id": "added", "request": {"path": "/added"}, "response": {"json": {"from": "one"}}}
    assert call(one.url + "/__admin/stubs", "POST", added)[0] == 201
    for other in others:
        assert call(other.url + "/added") == (200, {"from": "one"})
        assert call(other.url + "/__admin/stubs/added")[1]["id"] == "added"
    status, listed = call(one.url + "/__admin/stubs")
    hits = {stub["id"]: stub.get("hits") for stub in listed["stubs"]}
    assert hits["added"] == len(others)  # hit counts are shared too


def test_a_verify_waiting_on_one_replica_sees_a_request_to_the_other(
    replicas: list[Server],
) -> None:
    one, two = replicas
    condition = {"request": {"path": "/late"}, "count": 1, "within_ms": 20000}
    with ThreadPoolExecutor(1) as pool:
        # on a namespace that the request, sent to the other replica, creates
        waiting = pool.submit(call, two.url + "/__admin/ns/team/verify", "POST", condition)
        assert call(one.url + "/~team/late")[0] == 404
        assert waiting.result(timeout=15) == (200, {"ok": True, "count": 1})
    assert call(two.url + "/__admin/namespaces")[1]["namespaces"][0]["name"] == "team"


def test_plain_answers_count_exactly_and_follow_changes_made_through_the_other_replica(
    replicas: list[Server],
) -> None:
    # plain stubs take the one-round-trip answer: hit counted with the entry, if the API
    # stubs it was chosen from are still current
    one, two = replicas
    plain = {"id": "plain", "request": {"path": "/plain"}, "response": {"json": {"v": 1}}}
    assert call(one.url + "/__admin/stubs", "POST", plain)[0] == 201
    targets = [server.url + "/plain" for server in replicas for _ in range(30)]
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, targets)) == [(200, {"v": 1})] * 60
    for server in replicas:
        assert call(server.url + "/__admin/stubs/plain")[1]["hits"] == 60
        count = call(server.url + "/__admin/requests/count", "POST", {"path": "/plain"})
        assert count[1] == {"count": 60}

    replaced = {**plain, "response": {"json": {"v": 2}}}
    assert call(two.url + "/__admin/stubs/plain", "PUT", replaced)[0] == 200
    assert call(one.url + "/plain") == (200, {"v": 2})  # one compiled v1: not answered from it
    assert call(two.url + "/__admin/stubs/plain")[1]["hits"] == 1  # replaced: counts anew

    for _ in range(2):  # one compiles the namespace, then answers from what it compiled
        assert call(one.url + "/~team/file") == (200, {"file": True})
    assert call(two.url + "/__admin/ns/team", "DELETE")[0] == 200
    assert call(one.url + "/~team/file") == (200, {"file": True})  # registered again, as new
    assert call(two.url + "/__admin/namespaces")[1]["namespaces"][0]["name"] == "team"
    found = call(two.url + "/__admin/ns/team/requests")[1]["requests"]
    assert [entry["seq"] for entry in found] == [1]
    assert call(two.url + "/__admin/ns/team/stubs/file-plain")[1]["hits"] == 1

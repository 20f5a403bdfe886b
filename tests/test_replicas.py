"""Replicas sharing one Redis (`--state redis://...`): two or three `mockserver serve` processes
on their own ports, one real redis-server, one shared state (PRODUCT.md §15)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

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


UPSTREAM = """
- {request: {path: /v1/customers/cus_1}, response: {json: {id: cus_1, name: Ada}}}
- {request: {path: /v1/flip}, responses: [{body: heads}, {body: tails}]}
- request: {path: {matches: "/v1/items/.*"}}
  response: {json: {item: "{{ request.path }}"}, template: true}
"""


def test_replicas_share_recordings_and_write_one_complete_file(
    redis_url: str, tmp_path: Path
) -> None:
    upstream = Server("--stubs", str(write_stubs(tmp_path / "up", {"up.yaml": UPSTREAM})),
                      "--port", "0")  # fmt: skip
    record_dir = tmp_path / "recorded"  # one directory, as a volume the replicas share
    flags = (
        "--stubs", str(write_stubs(tmp_path / "stubs", {})), "--port", "0",
        "--state", redis_url, "--state-prefix", unique_prefix(),
        "--record", f"api={upstream.url}", "--record-mode", "new_episodes",
        "--record-dir", str(record_dir),
    )  # fmt: skip
    one, two = Server(*flags), Server(*flags)
    try:

        def upstream_calls() -> int:
            return int(call(upstream.url + "/__admin/requests")[1]["total"])

        assert call(one.url + "/api/v1/customers/cus_1") == (200, {"id": "cus_1", "name": "Ada"})
        assert upstream_calls() == 1
        # recorded on one, replayed by the other (a new episode became a stub of the namespace)
        assert call(two.url + "/api/v1/customers/cus_1") == (200, {"id": "cus_1", "name": "Ada"})
        assert upstream_calls() == 1
        # 40 new episodes at once, spread over both replicas: none is lost
        paths = [f"/api/v1/items/{n}" for n in range(40)]
        targets = [(one if n % 2 else two).url + path for n, path in enumerate(paths)]
        with ThreadPoolExecutor(8) as pool:
            assert {status for status, _ in pool.map(call, targets)} == {200}
        assert upstream_calls() == 41
        expected = {"api-get-v1-customers-cus_1"} | {f"api-get-v1-items-{n}" for n in range(40)}
        for server in (one, two):
            status, listed = call(server.url + "/__admin/recordings")
            assert status == 200
            [document] = listed["documents"]
            ids = {stub["id"] for stub in yaml.safe_load(document["yaml"])["stubs"]}
            assert ids == expected
            # replayed: the upstream saw the path under the base path
            assert call(server.url + "/api/v1/items/7") == (200, {"item": "/v1/items/7"})
        assert upstream_calls() == 41
        # whichever replica wrote last wrote everything (each writes what is shared, under a lock)
        written = yaml.safe_load((record_dir / "api.yaml").read_text())
        assert {stub["id"] for stub in written["stubs"]} == expected
        # a cleared recording is cleared for both, its replayed stubs too
        assert call(two.url + "/__admin/recordings", "DELETE")[1] == {"cleared": 41}
        assert call(one.url + "/__admin/recordings")[1] == {"documents": []}
        assert call(one.url + "/api/v1/customers/cus_1")[0] == 200
        assert upstream_calls() == 42  # forwarded again: a new episode
    finally:
        for server in (one, two, upstream):
            server.stop()


def test_the_live_feed_of_one_replica_shows_every_replica_s_requests(
    replicas: list[Server],
) -> None:
    one, two = replicas
    feed = http.client.HTTPConnection(urlsplit(one.url).netloc, timeout=10)
    try:
        feed.request("GET", "/__admin/requests/stream?heartbeat_ms=60000")
        events = feed.getresponse()
        assert events.status == 200

        def next_event() -> dict[str, str]:
            fields: dict[str, str] = {}
            while (line := events.readline().decode().rstrip("\n")) or not fields:
                if line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
            return fields

        assert next_event()["event"] == "ready"  # subscribed: what follows is live
        for server, path in ((two, "/a"), (one, "/b"), (two, "/c"), (two, "/once"), (one, "/d")):
            assert call(server.url + path)[0] in (200, 404)
        seen = [json.loads(next_event()["data"]) for _ in range(5)]
        assert [(entry["seq"], entry["path"]) for entry in seen] == [
            (1, "/a"), (2, "/b"), (3, "/c"), (4, "/once"), (5, "/d"),
        ]  # fmt: skip
    finally:
        feed.close()


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

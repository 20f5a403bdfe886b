"""The Python clients against a real server on a loopback port (started with start_in_thread)."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from mockserver import (
    AdminError,
    AsyncMockServerClient,
    JournalEntry,
    MockServerClient,
    VerificationError,
)
from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread

PAYMENTS = """
    service: payments
    base_path: /payments
    stubs:
      - id: create-charge
        request:
          method: POST
          path: /v1/charges
          body: {form: {currency: usd}}
        response: {status: 201, json: {id: ch_1}}
"""

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def send(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One request to the mocked surface, as the application under test would send it."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def form(url: str, fields: str) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return send(url, "POST", fields.encode(), headers)


@pytest.fixture(scope="module")
def stub_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("stubs")
    (directory / "payments.yaml").write_text(textwrap.dedent(PAYMENTS))
    return directory


@pytest.fixture(scope="module")
def server(stub_dir: Path) -> Iterator[RunningServer]:
    running = start_in_thread(Settings(stubs=(stub_dir,), port=0))
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[MockServerClient]:
    client = MockServerClient(server.url)
    yield client
    client.reset()


def test_add_stub_from_keywords_dict_or_yaml(client: MockServerClient) -> None:
    first = client.add_stub(id="kw", request={"path": "/kw"}, response={"json": {"via": "kw"}})
    second = client.add_stub({"id": "dict", "request": {"path": "/dict"}}, response={"body": "d"})
    third = client.add_stub("- id: yaml\n  request: {path: /yaml}\n  response: {body: y}\n")
    assert (first, second, third) == ("kw", "dict", "yaml")
    assert send(client.url + "/kw") == (200, b'{"via":"kw"}')
    assert send(client.url + "/dict") == (200, b"d")
    assert send(client.url + "/yaml") == (200, b"y")


def test_add_stubs_takes_a_document_and_returns_every_id(client: MockServerClient) -> None:
    ids = client.add_stubs(
        {
            "service": "github",
            "base_path": "/gh",
            "stubs": [
                {"id": "user", "request": {"path": "/user"}},
                {"id": "repos", "request": {"path": "/user/repos"}},
            ],
        }
    )
    assert ids == ["user", "repos"]
    assert send(client.url + "/gh/user/repos")[0] == 200
    assert [entry.service for entry in client.requests(stub_id="repos")] == ["github"]


def test_stub_read_replace_and_remove(client: MockServerClient) -> None:
    client.add_stub(id="ns:thing", request={"path": "/thing"}, response={"body": "one"})
    assert client.stub("ns:thing")["request"] == {"path": "/thing"}
    assert "ns:thing" in [stub["id"] for stub in client.stubs()]
    client.replace_stub("ns:thing", {"request": {"path": "/thing"}, "response": {"body": "two"}})
    assert send(client.url + "/thing") == (200, b"two")
    assert client.stub("ns:thing")["hits"] == 1
    client.remove_stub("ns:thing")
    assert "ns:thing" not in [stub["id"] for stub in client.stubs()]


def test_remove_stubs_keeps_the_file_stubs(client: MockServerClient) -> None:
    client.add_stub(id="temporary", request={"path": "/t"})
    client.remove_stubs()
    assert [stub["id"] for stub in client.stubs()] == ["create-charge"]


def test_journal_entries_are_typed(client: MockServerClient) -> None:
    send(
        client.url + "/payments/v1/charges?expand=customer&expand=invoice",
        "POST",
        b"currency=usd&amount=2000",
        {"Content-Type": "application/x-www-form-urlencoded", "X-Trace": "t-1"},
    )
    send(client.url + "/v1/events", "POST", b'{"type": "ping", "n": 2}', {"X-Trace": "t-2"})
    charge, event = client.requests()
    assert isinstance(charge, JournalEntry)
    assert (charge.method, charge.path, charge.service) == (
        "POST",
        "/payments/v1/charges",
        "payments",
    )
    assert charge.query == {"expand": ["customer", "invoice"]}
    assert charge.form == {"currency": ["usd"], "amount": ["2000"]}
    assert charge.headers["x-trace"] == charge.headers["X-TRACE"] == "t-1"
    assert "Content-Type" in charge.headers
    assert (charge.matched, charge.stub_id, charge.status) == (True, "create-charge", 201)
    assert isinstance(charge.time, datetime)
    assert event.json == {"type": "ping", "n": 2}
    assert (event.matched, event.stub_id, event.status) == (False, None, 404)
    assert event.seq > charge.seq


def test_binary_bodies_come_back_as_bytes(client: MockServerClient) -> None:
    send(client.url + "/upload", "PUT", b"\xff\x00\xfe")
    (entry,) = client.requests(path="/upload")
    assert entry.body_encoding == "base64"
    assert entry.content == b"\xff\x00\xfe"


def test_requests_filters(client: MockServerClient) -> None:
    for path in ("/a", "/b", "/a"):
        send(client.url + path)
    form(client.url + "/payments/v1/charges", "currency=usd")
    assert [e.path for e in client.requests(path="/a")] == ["/a", "/a"]
    assert [e.path for e in client.requests(matched=True)] == ["/payments/v1/charges"]
    assert [e.path for e in client.requests(matched=False, limit=2)] == ["/b", "/a"]
    first = client.requests()[0].seq
    assert [e.path for e in client.requests(since_seq=first, limit=1)] == ["/b"]
    assert len(client.requests(method="post", service="payments")) == 1
    with pytest.raises(TypeError, match="unknown journal filter 'stub'"):
        client.requests(stub="x")


def test_find_and_count_take_keywords_or_a_matcher(client: MockServerClient) -> None:
    form(client.url + "/payments/v1/charges", "currency=usd&amount=2000")
    form(client.url + "/payments/v1/charges", "currency=eur&amount=100")
    send(client.url + "/v1/events", "POST", b'{"type": "ping", "n": 2}')
    assert client.count() == 3
    assert client.count(method="POST", form={"currency": "usd"}) == 1
    assert client.count({"path": {"starts_with": "/payments/"}}) == 2
    assert client.count({"method": "POST"}, form={"amount": {"matches": "^[0-9]{3}$"}}) == 1
    (event,) = client.find(json={"type": "ping"})
    assert event.json == {"type": "ping", "n": 2}
    assert client.find(body={"contains": "ping"}) == [event]
    assert client.count(method=["GET", "HEAD"]) == 0


def test_verify_passes_and_returns_the_count(client: MockServerClient) -> None:
    form(client.url + "/payments/v1/charges", "currency=usd")
    form(client.url + "/payments/v1/charges", "currency=usd")
    assert client.verify(method="POST", path="/payments/v1/charges", count=2) == 2
    assert client.verify(form={"currency": "usd"}, at_least=1) == 2
    assert client.verify(form={"currency": "usd"}, at_least=1, at_most=2) == 2
    assert client.verify(path="/never", count=0) == 0
    with pytest.raises(TypeError, match="not both"):
        client.verify(path="/x", count=1, at_least=1)


def test_failed_verify_names_expectation_count_and_near_misses(client: MockServerClient) -> None:
    form(client.url + "/payments/v1/charges", "currency=eur&amount=2000")
    with pytest.raises(VerificationError) as caught:
        client.verify(method="POST", path="/payments/v1/charges", form={"currency": "usd"})
    error = caught.value
    assert isinstance(error, AssertionError)
    assert (error.count, error.expected) == (0, "exactly 1")
    seq = client.requests()[-1].seq
    # the headline is the server's message, as it came
    assert error.summary == error.response["message"]
    assert str(error).splitlines() == [
        "expected exactly 1 request matching POST /payments/v1/charges "
        '{"body": {"form": {"currency": "usd"}}}, found 0',
        "Near misses (closest first):",
        f"  request #{seq} POST /payments/v1/charges: body.form.currency: "
        "expected equals 'usd', got \"eur\"",
        "Received (newest 1):",
        f"  #{seq} POST /payments/v1/charges -> 404 (no stub) body 'currency=eur&amount=2000'",
    ]
    (miss,) = error.near_misses
    assert (miss.request_seq, miss.field, miss.actual) == (seq, "body.form.currency", "eur")


def test_failed_verify_with_nothing_received_says_so(client: MockServerClient) -> None:
    with pytest.raises(VerificationError) as caught:
        client.verify(path="/payments/v1/charges", at_least=2)
    assert str(caught.value).splitlines() == [
        "expected at least 2 requests matching any method /payments/v1/charges, found 0",
        "Near misses: none (no recorded request came close)",
        "Received: no requests at all",
    ]


def test_a_missing_field_is_shown_as_absent(client: MockServerClient) -> None:
    send(client.url + "/search")
    with pytest.raises(VerificationError, match=r"query\.q: expected equals 'x', got null"):
        client.verify(path="/search", query={"q": "x"})


def test_verify_sequence(client: MockServerClient) -> None:
    for path in ("/login", "/cart", "/pay"):
        send(client.url + path)
    seqs = client.verify_sequence([{"path": "/login"}, {"path": "/pay"}])
    assert len(seqs) == 2
    assert seqs[0] < seqs[1]
    with pytest.raises(VerificationError) as caught:
        client.verify_sequence([{"path": "/pay"}, {"method": "GET", "path": "/login"}])
    lines = str(caught.value).splitlines()
    assert lines[0] == f"step 1 (GET /login) did not happen after request seq {seqs[1]}"
    assert lines[1] == f"  0. any method /pay: matched request #{seqs[1]}"
    assert lines[2] == "  1. GET /login: NOT FOUND"


def test_unmatched_requests_carry_their_near_misses(client: MockServerClient) -> None:
    form(client.url + "/payments/v1/charges", "currency=usd")
    form(client.url + "/payments/v1/charges", "currency=eur")
    (entry,) = client.unmatched()
    assert entry.form == {"currency": ["eur"]}
    nearest = entry.near_misses[0]
    assert (nearest.stub_id, nearest.field, nearest.expected, nearest.actual) == (
        "create-charge",
        "body.form.currency",
        "equals 'usd'",
        "eur",
    )
    assert nearest.source is not None
    assert nearest.source.endswith("payments.yaml:5")
    assert nearest.describe() == (
        f"stub create-charge ({nearest.source}): body.form.currency: "
        "expected equals 'usd', got \"eur\""
    )


def test_reset_clears_the_journal_and_api_stubs(client: MockServerClient) -> None:
    client.add_stub(id="temporary", request={"path": "/t"})
    send(client.url + "/t")
    client.reset()
    assert client.requests() == []
    assert [stub["id"] for stub in client.stubs()] == ["create-charge"]


def test_clear_requests_keeps_seq_increasing(client: MockServerClient) -> None:
    send(client.url + "/one")
    (before,) = client.requests()
    client.clear_requests()
    send(client.url + "/two")
    (after,) = client.requests()
    assert after.seq > before.seq


def test_admin_errors_carry_status_error_and_details(client: MockServerClient) -> None:
    with pytest.raises(AdminError) as missing:
        client.stub("no-such-stub")
    assert missing.value.status == 404
    assert "no-such-stub" in missing.value.error
    assert str(missing.value).startswith("GET /__admin/stubs/no-such-stub -> 404: ")

    with pytest.raises(AdminError) as invalid:
        client.add_stub(request={"path": "/x", "heders": {"A": "b"}})
    assert invalid.value.status == 400
    assert any("request.heders" in json.dumps(detail) for detail in invalid.value.details)
    assert "request.heders" in str(invalid.value)


def test_reload_rereads_the_stub_files(client: MockServerClient, stub_dir: Path) -> None:
    extra = stub_dir / "extra.yaml"
    extra.write_text("- id: extra\n  request: {path: /extra}\n")
    try:
        client.reload()
        assert send(client.url + "/extra")[0] == 200
        extra.write_text("- id: broken\n  request: {pth: /extra}\n")
        with pytest.raises(AdminError) as caught:
            client.reload()
        assert caught.value.status == 400
        assert "extra.yaml:2" in str(caught.value)
    finally:
        extra.unlink()
        client.reload()


def test_health_and_wait_until_ready(client: MockServerClient) -> None:
    assert client.health()["status"] == "ok"
    assert client.wait_until_ready(timeout=5)["status"] == "ok"


def test_wait_until_ready_gives_up_on_a_closed_port() -> None:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        client = MockServerClient(f"http://127.0.0.1:{port}")
        with pytest.raises(TimeoutError, match=f"127.0.0.1:{port} not ready"):
            client.wait_until_ready(timeout=0.2)


def test_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http://"):
        MockServerClient("localhost:8080")
    assert MockServerClient("http://mock:8080/").url == "http://mock:8080"


def test_a_custom_admin_prefix(tmp_path: Path) -> None:
    running = start_in_thread(Settings(stubs=(), port=0, admin_prefix="/_mock"))
    try:
        client = MockServerClient(running.url, admin_prefix="/_mock")
        assert client.admin_url == running.url + "/_mock"
        assert client.health()["status"] == "ok"
    finally:
        running.stop()


async def test_async_client_mirrors_the_sync_one(server: RunningServer) -> None:
    async with AsyncMockServerClient(server.url) as client:
        try:
            assert (await client.wait_until_ready(timeout=5))["status"] == "ok"
            assert await client.add_stub(id="async", request={"path": "/async"}) == "async"
            assert (await client.stub("async"))["request"] == {"path": "/async"}
            send(server.url + "/async")
            form(server.url + "/payments/v1/charges", "currency=eur")
            (entry,) = await client.requests(path="/async")
            assert entry.headers["Host"].startswith("127.0.0.1:")
            assert await client.count(path="/async") == 1
            assert [e.path for e in await client.find(method="POST")] == ["/payments/v1/charges"]
            assert await client.verify(path="/async") == 1
            with pytest.raises(
                VerificationError, match=r"body\.form\.currency: expected equals 'usd'"
            ):
                await client.verify(path="/payments/v1/charges", form={"currency": "usd"})
            assert await client.verify_sequence([{"path": "/async"}, {"method": "POST"}])
            (unmatched,) = await client.unmatched()
            assert unmatched.near_misses[0].stub_id == "create-charge"
            with pytest.raises(AdminError) as caught:
                await client.remove_stub("no-such-stub")
            assert caught.value.status == 404
            await client.remove_stub("async")
            assert [stub["id"] for stub in await client.stubs()] == ["create-charge"]
        finally:
            await client.reset()
        assert await client.requests() == []


def test_stubs_added_without_ids_get_distinct_ids(client: MockServerClient) -> None:
    first = client.add_stub(request={"path": "/first"})
    second = client.add_stub(request={"path": "/second"})
    assert first != second


def test_verify_within_waits_for_a_late_request(client: MockServerClient) -> None:
    client.add_stub(id="late", request={"path": "/late"})
    sender = threading.Timer(0.2, lambda: urllib.request.urlopen(client.url + "/late").close())
    sender.start()
    try:
        assert client.verify(path="/late", within=5.0) == 1
    finally:
        sender.join()
    with pytest.raises(VerificationError, match="found 0"):
        client.verify(path="/never", within=0.2)


def test_namespaced_clients_see_only_their_own(server: RunningServer) -> None:
    root = MockServerClient(server.url)
    first, second = root.in_namespace("c1"), root.in_namespace("c2")
    assert first.url == f"{server.url}/~c1"
    first.add_stub(id="only-c1", request={"path": "/ns"})
    urllib.request.urlopen(first.url + "/ns").close()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(second.url + "/ns")
    assert first.count(path="/ns") == 1
    assert [entry.path for entry in second.requests()] == ["/ns"]
    assert root.requests() == []
    first.remove_namespace()
    second.remove_namespace()
    with pytest.raises(ValueError, match="namespace"):
        MockServerClient(server.url, namespace="bad name")


async def test_async_client_in_a_namespace(server: RunningServer) -> None:
    async with AsyncMockServerClient(server.url, namespace="async-ns") as client:
        await client.add_stub(id="a", request={"path": "/a"})
        assert [stub["id"] for stub in await client.stubs()] == ["a", "create-charge"]
        await client.remove_namespace()
    # the twins share one constructor: a namespaced twin is of the same kind, with the same settings
    async with AsyncMockServerClient(server.url, timeout=3.0, token="t").in_namespace("w1") as twin:
        assert isinstance(twin, AsyncMockServerClient)
        assert (twin.namespace, twin.timeout, twin.token) == ("w1", 3.0, "t")
        assert repr(twin) == f"AsyncMockServerClient('{server.url}/~w1')"
    assert repr(MockServerClient(server.url).in_namespace("w1")) == (
        f"MockServerClient('{server.url}/~w1')"
    )

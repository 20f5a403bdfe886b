"""Record and replay against a real upstream on loopback (a second mockserver, or a socket
server that fails on purpose): what is forwarded, what is kept, what the files say, replay."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestClient

from mockserver.app import build_app
from mockserver.config import Settings
from mockserver.loader import load_paths
from tests.serving import MockTestServer, write_stubs
from tests.upstreams import Handler, RawUpstream

Client = TestClient[Any, Any]

UPSTREAM = """
    - id: charge
      request: {method: POST, path: /v1/charges}
      response:
        status: 201
        headers: {X-Request-Id: req_1, Set-Cookie: "session=abc", Idempotency-Key: k1}
        json: {id: ch_1, amount: 2000, secret: sk_test_abcdefgh12345678}
    - id: customer
      request: {method: GET, path: /v1/customers/cus_1}
      response: {json: {id: cus_1}}
    - id: flip
      request: {method: GET, path: /v1/flip}
      responses: [{body: heads}, {body: tails}]
    - id: logo
      request: {method: GET, path: /v1/logo.png}
      response: {body_file: __files/logo.png}
    - id: events
      request: {path: /v1/events}
      response:
        sse:
          events: [{event: delta, data: {text: Hel}}, {data: {text: lo}}, {data: "[DONE]"}]
          interval_ms: 20
    - id: slow
      request: {path: /v1/slow}
      response:
        sse: {events: [{data: one}, {data: two}, {data: three}, {data: "[DONE]"}], interval_ms: 100}
    - id: head
      request: {method: HEAD, path: /v1/file}
      response: {headers: {Content-Type: text/plain}, body: "0123456789"}
"""
LOGO = b"\x89PNG\r\n\x1a\n\x00\x01binary\xff"

Start = Callable[..., Awaitable[Client]]


@pytest.fixture
def start(tmp_path: Path, aiohttp_client: Any) -> Start:
    """start(name, files, **settings) -> a client of a real server whose stubs are `files`."""

    async def run(name: str, files: dict[str, str | bytes], **options: Any) -> Client:
        directory = write_stubs(tmp_path / name, files)
        settings = Settings(stubs=(directory,), port=0, **options)
        return await aiohttp_client(MockTestServer(build_app(settings), settings))

    return run


async def upstream(start: Start) -> tuple[Client, str]:
    client = await start("upstream", {"up.yaml": UPSTREAM, "__files/logo.png": LOGO})
    return client, f"http://127.0.0.1:{client.port}"


async def upstream_calls(client: Client) -> int:
    response = await client.get("/__admin/requests")
    return int((await response.json())["total"])


async def recordings(client: Client, namespace: str | None = None) -> list[dict[str, Any]]:
    prefix = "/__admin" if namespace is None else f"/__admin/ns/{namespace}"
    response = await client.get(f"{prefix}/recordings")
    assert response.status == 200
    return list((await response.json())["documents"])


async def test_a_miss_is_forwarded_kept_and_then_replayed(start: Start, tmp_path: Path) -> None:
    real, url = await upstream(start)
    record_dir = tmp_path / "recorded"
    client = await start("mock", {}, record=(("stripe", url),), record_dir=record_dir)
    first = await client.post(
        "/stripe/v1/charges?expand=customer",
        json={"amount": 2000, "card": {"token": "tok_visa"}},
        headers={"Authorization": "Bearer sk_test_abcdefgh12345678", "X-Trace": "1"},
    )
    assert first.status == 201
    assert (await first.json())["id"] == "ch_1"
    again = await client.post(
        "/stripe/v1/charges?expand=customer",
        json={"amount": 2000, "card": {"token": "tok_visa"}},
        headers={"Authorization": "Bearer sk_test_other0000000000"},
    )
    assert again.status == 201
    assert (await again.json())["secret"] == "REDACTED"  # replayed from the recording
    assert await upstream_calls(real) == 1
    journal = await (await client.get("/__admin/requests")).json()
    forwarded, replayed = journal["requests"]
    assert (forwarded["matched"], forwarded["upstream_status"], forwarded["service"]) == (
        False,
        201,
        "stripe",
    )
    assert forwarded["proxied_to"] == f"{url}/v1/charges?expand=customer"
    assert (replayed["matched"], replayed["stub_id"]) == (True, "stripe-post-v1-charges")
    # the in-memory journal keeps what arrived
    assert forwarded["headers"]["authorization"] == "Bearer sk_test_abcdefgh12345678"
    (document,) = await recordings(client)
    assert (document["service"], document["file"], document["files"]) == (
        "stripe",
        "stripe.yaml",
        {},
    )
    assert document["yaml"] == (record_dir / "stripe.yaml").read_text()
    assert "sk_test_" not in document["yaml"]
    assert document["yaml"].split("\n", 2)[2] == EXPECTED_CHARGE
    assert len(load_paths([record_dir]).stubs) == 1  # valid for `mockserver validate`


EXPECTED_CHARGE = """\
service: stripe
base_path: /stripe
stubs:
  - id: stripe-post-v1-charges
    request:
      method: POST
      path: /v1/charges
      query:
        expand: customer
      headers:
        Authorization: {present: true}
      body:
        json:
          amount: 2000
          card: {token: tok_visa}
    response:
      status: 201
      headers:
        Content-Type: application/json
        Set-Cookie: REDACTED
        X-Request-Id: req_1
      json: {id: ch_1, amount: 2000, secret: REDACTED}
"""


async def _record_everything(start: Start, name: str, url: str, record_dir: Path) -> Client:
    client = await start(name, {}, record=(("api", url),), record_mode="all", record_dir=record_dir)
    for path in ("/api/v1/flip", "/api/v1/flip", "/api/v1/customers/cus_1", "/api/v1/logo.png"):
        response = await client.get(path)
        assert response.status == 200
        await response.read()
    await (await client.get("/api/v1/events")).read()
    head = await client.head("/api/v1/file")
    assert head.headers["Content-Length"] == "10"
    return client


async def test_the_same_traffic_writes_the_same_bytes(start: Start, tmp_path: Path) -> None:
    real, url = await upstream(start)
    await _record_everything(start, "first", url, tmp_path / "one")
    await real.post("/__admin/reset")  # the upstream answers its sequence from the start again
    await _record_everything(start, "second", url, tmp_path / "two")
    one = sorted(path.relative_to(tmp_path / "one") for path in (tmp_path / "one").rglob("*"))
    two = sorted(path.relative_to(tmp_path / "two") for path in (tmp_path / "two").rglob("*"))
    assert one == two
    text = (tmp_path / "one" / "api.yaml").read_text()

    # the one thing measured: the events' interval (rounded to 10 ms) may differ between runs
    def without_interval(text: str) -> str:
        return "\n".join(line for line in text.splitlines() if "interval_ms" not in line)

    assert without_interval(text) == without_interval((tmp_path / "two" / "api.yaml").read_text())
    for relative in one:
        if relative.suffix != ".yaml" and (tmp_path / "one" / relative).is_file():
            assert (tmp_path / "one" / relative).read_bytes() == (
                tmp_path / "two" / relative
            ).read_bytes()


async def test_what_each_kind_of_answer_becomes(start: Start, tmp_path: Path) -> None:
    real, url = await upstream(start)
    record_dir = tmp_path / "recorded"
    client = await _record_everything(start, "mock", url, record_dir)
    assert await upstream_calls(real) == 6  # `all`: everything forwarded, repeats included
    stubs = {
        stub["id"]: stub for stub in yaml.safe_load((record_dir / "api.yaml").read_text())["stubs"]
    }
    assert [answer["body"] for answer in stubs["api-get-v1-flip"]["responses"]] == [
        "heads",
        "tails",
    ]
    logo = stubs["api-get-v1-logo.png"]["response"]
    assert logo["body_file"].startswith("__files/api-get-v1-logo.png-")
    assert (record_dir / logo["body_file"]).read_bytes() == LOGO
    sse = stubs["api-get-v1-events"]["response"]["sse"]
    assert sse["events"] == [
        {"event": "delta", "data": {"text": "Hel"}},
        {"data": {"text": "lo"}},
        {"data": "[DONE]"},
    ]
    # measured, so only its form is certain (a busy machine may read events together): a
    # multiple of 10 ms; the exact rounding is tested on fixed arrival times (test_recorded.py)
    assert sse["interval_ms"] % 10 == 0
    head = stubs["api-head-v1-file"]["response"]
    assert head["headers"]["Content-Length"] == "10"
    (document,) = await recordings(client)
    assert base64.b64decode(document["files"][logo["body_file"]]) == LOGO

    # replayed with the upstream out of the picture
    replay = await start("replay", {"recorded/api.yaml": (record_dir / "api.yaml").read_text(),
                                    logo["body_file"].replace("__files", "recorded/__files"): LOGO},
                         record=(("api", "http://127.0.0.1:9"),), record_mode="none")  # fmt: skip
    assert [await (await replay.get("/api/v1/flip")).text() for _ in range(3)] == [
        "heads",
        "tails",
        "tails",
    ]
    assert await (await replay.get("/api/v1/logo.png")).read() == LOGO
    replayed_head = await replay.head("/api/v1/file")
    assert replayed_head.headers.get("Content-Length") == "10", replayed_head
    events = await (await replay.get("/api/v1/events")).text()
    assert events == 'event: delta\ndata: {"text":"Hel"}\n\ndata: {"text":"lo"}\n\ndata: [DONE]\n\n'
    missed = await replay.get("/api/v1/unknown")
    assert missed.status == 404  # `none`: a miss is the usual explaining 404
    assert (await missed.json())["near_misses"]


async def test_once_records_only_while_nothing_was_recorded(start: Start, tmp_path: Path) -> None:
    real, url = await upstream(start)
    stubs = tmp_path / "once"
    first = await start(
        "once", {}, record=(("api", url),), record_mode="once", record_dir=stubs / "recorded"
    )
    answer = await first.get("/api/v1/customers/cus_1")
    assert answer.status == 200
    await answer.read()  # the whole answer: the exchange is kept before its last byte
    assert (stubs / "recorded" / "api.yaml").is_file()
    # a second run loads what the first recorded: replay only
    calls = await upstream_calls(real)
    replay = await start(
        "once", {}, record=(("api", url),), record_mode="once", record_dir=stubs / "recorded"
    )
    assert (await replay.get("/api/v1/customers/cus_1")).status == 200
    assert (await replay.get("/api/v1/flip")).status == 404
    assert await upstream_calls(real) == calls


async def test_an_upstream_failure_is_journaled_and_never_recorded(
    start: Start, tmp_path: Path
) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = await start(
        "mock", {}, record=(("api", f"http://127.0.0.1:{port}"),), record_dir=tmp_path / "rec"
    )
    response = await client.get("/api/v1/x")
    assert response.status == 502
    (entry,) = (await (await client.get("/__admin/requests")).json())["requests"]
    assert entry["error"].startswith(f"upstream http://127.0.0.1:{port}/v1/x is unreachable")
    assert await recordings(client) == []
    assert not (tmp_path / "rec").exists()


async def test_namespaces_record_apart_even_at_once(start: Start, tmp_path: Path) -> None:
    real, url = await upstream(start)
    client = await start("mock", {}, record=(("api", url),))

    async def call(namespace: str, path: str) -> int:
        response = await client.get(f"/~{namespace}/api{path}")
        await response.read()
        return response.status

    statuses = await asyncio.gather(
        *(
            call(namespace, path)
            for namespace in ("a", "b")
            for path in ("/v1/customers/cus_1", "/v1/flip")
        )
    )
    assert statuses == [200, 200, 200, 200]
    assert await (await client.get("/~c/api/v1/logo.png")).read() == LOGO
    before = await upstream_calls(real)
    replayed = await client.get("/~c/api/v1/logo.png")  # binary, replayed from memory
    assert (await replayed.read(), replayed.headers["Content-Type"]) == (LOGO, "image/png")
    assert await upstream_calls(real) == before
    for namespace in ("a", "b"):
        (document,) = await recordings(client, namespace)
        ids = [stub["id"] for stub in yaml.safe_load(document["yaml"])["stubs"]]
        assert ids == sorted(
            ids, key=lambda i: ["api-get-v1-customers-cus_1", "api-get-v1-flip"].index(i)
        )
        assert set(ids) == {"api-get-v1-customers-cus_1", "api-get-v1-flip"}
    assert await recordings(client) == []  # the default namespace recorded nothing
    # replayed only where recorded: b's repeat is answered from b's recording
    calls = await upstream_calls(real)
    assert await call("b", "/v1/flip") == 200
    assert await upstream_calls(real) == calls
    cleared = await client.delete("/__admin/ns/a/recordings")
    assert (await cleared.json()) == {"cleared": 2}
    assert await recordings(client, "a") == []
    assert await call("a", "/v1/flip") == 200  # forwarded again: nothing replays it now
    assert await upstream_calls(real) == calls + 1


async def test_a_stub_document_can_record_its_service(start: Start, tmp_path: Path) -> None:
    real, url = await upstream(start)
    client = await start(
        "mock",
        {
            "payments.yaml": f"""
                service: payments
                record: {{target: "{url}/v1", mode: new_episodes}}
                stubs:
                  - id: hand-written
                    request: {{path: /customers/cus_2}}
                    response: {{json: {{id: cus_2}}}}
            """
        },
        record_dir=tmp_path / "rec",
    )
    assert (await (await client.get("/payments/customers/cus_2")).json()) == {"id": "cus_2"}
    assert (await (await client.get("/payments/customers/cus_1")).json()) == {"id": "cus_1"}
    assert await upstream_calls(real) == 1
    document = yaml.safe_load((tmp_path / "rec" / "payments.yaml").read_text())
    assert (document["service"], document["base_path"]) == ("payments", "/payments")
    assert [stub["id"] for stub in document["stubs"]] == ["payments-get-customers-cus_1"]


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x00\x7fNOT HTTP\r\n\r\n")
    await writer.drain()
    writer.close()


async def _half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\nsome")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(
    ("handler", "status", "error"),
    [
        (_silent, 504, "sent no answer within 200 ms"),
        (_garbage, 502, "failed: "),
        (_half, 200, "broke off mid-stream"),
    ],
    ids=["silent", "garbage", "mid-stream"],
)
async def test_a_failing_upstream_is_journaled_and_nothing_is_recorded(
    start: Start,
    tmp_path: Path,
    raw_upstream: RawUpstream,
    handler: Handler,
    status: int,
    error: str,
) -> None:
    url = await raw_upstream(handler)
    client = await start(
        "mock",
        {"api.yaml": f'service: api\nrecord: {{target: "{url}", timeout_ms: 200}}\n'},
        record_dir=tmp_path / "rec",
    )
    response = await client.get("/api/v1/x")
    assert response.status == status
    if status == 200:
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    else:
        assert (await response.json())["upstream"] == f"{url}/v1/x"
    (entry,) = (await (await client.get("/__admin/requests")).json())["requests"]
    assert error in entry["error"]
    assert await recordings(client) == []
    assert not (tmp_path / "rec").exists()


CASSETTE = """\
service: api
base_path: /api
stubs:
  - id: api-get-v1-logo.png
    request: {method: GET, path: /v1/logo.png}
    response:
      headers: {Content-Type: image/png}
      body_file: __files/api-get-v1-logo.png-0123456789.png
"""


async def test_a_cassette_loaded_into_a_namespace_replays_there(start: Start) -> None:
    client = await start("mock", {})  # no target: replay only
    files = {"__files/api-get-v1-logo.png-0123456789.png": base64.b64encode(LOGO).decode()}
    loaded = await client.post(
        "/__admin/ns/t1/recordings", json={"mode": "none", "yaml": CASSETTE, "files": files}
    )
    assert (loaded.status, await loaded.json()) == (200, {"loaded": 1})
    replayed = await client.get("/~t1/api/v1/logo.png")
    assert await replayed.read() == LOGO
    assert (await client.get("/api/v1/logo.png")).status == 404  # another namespace
    (document,) = await recordings(client, "t1")
    assert yaml.safe_load(document["yaml"])["stubs"][0]["id"] == "api-get-v1-logo.png"
    assert document["files"] == files
    assert (await (await client.delete("/__admin/ns/t1/recordings")).json()) == {"cleared": 0}
    assert (await client.get("/~t1/api/v1/logo.png")).status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "sometimes"}, "mode"),
        ({"mode": "none", "yaml": "a: [b"}, "yaml"),
        ({"mode": "none", "yaml": CASSETTE}, "files"),
        ({"mode": "none", "yaml": "service: api\nstubs: [{request: {heders: {}}}]"}, None),
        ({"mode": "new_episodes", "yaml": "service: api\nstubs: []"}, "mode"),
        ({"mode": "none", "files": {"a": "***"}}, "files.a"),
        ({"mode": "none", "extra": 1}, "extra"),
    ],
    ids=["mode", "yaml", "missing-file", "bad-stub", "no-target", "not-base64", "unknown"],
)
async def test_a_bad_cassette_is_a_400_naming_the_field(
    start: Start, body: dict[str, Any], field: str | None
) -> None:
    client = await start("mock", {})
    response = await client.post("/__admin/ns/t1/recordings", json=body)
    assert response.status == 400
    details = (await response.json())["details"]
    if field is not None:
        assert details[0]["field"] == field
    else:
        assert details[0]["field"] == "yaml.documents[0].stubs[0].request.heders"


async def test_a_listing_waits_for_a_stream_the_client_stopped_reading(start: Start) -> None:
    # an SDK stops at its first useful event (or at `data: [DONE]`) while the upstream still
    # sends: the exchange is kept when the upstream's answer ends, and a test's teardown that
    # lists the recordings right away must find it
    _, url = await upstream(start)
    client = await start("mock", {}, record=(("api", url),), record_mode="all")
    response = await client.get("/api/v1/slow")
    assert response.status == 200
    assert (await response.content.readuntil(b"\n\n")).startswith(b"data: one")
    response.close()  # gone, 300 ms before the upstream's last event
    [document] = await recordings(client)
    [stub] = yaml.safe_load(document["yaml"])["stubs"]
    assert stub["id"] == "api-get-v1-slow"
    assert [event["data"] for event in stub["response"]["sse"]["events"]] == [
        "one", "two", "three", "[DONE]",
    ]  # fmt: skip


async def test_all_forwards_what_a_plain_stub_would_answer(start: Start, tmp_path: Path) -> None:
    # a plain stub (fixed answer, no state) is answered without matching, from a table: not
    # under a recorded service, whose mode decides first
    real, url = await upstream(start)
    record_dir = tmp_path / "s" / "recorded"
    options = {"record": (("api", url),), "record_mode": "all", "record_dir": record_dir}
    first = await start("s", {}, **options)
    await (await first.get("/api/v1/customers/cus_1")).read()
    assert (record_dir / "api.yaml").is_file()  # loaded by the next server as a plain stub
    calls = await upstream_calls(real)
    again = await start("s", {}, **options)
    await (await again.get("/api/v1/customers/cus_1")).read()
    assert await upstream_calls(real) == calls + 1  # `all`: forwarded and recorded anew

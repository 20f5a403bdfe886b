"""The conformance checks: what each client sends, what it must observe, what the journal keeps.

Every client (curl, Node's fetch and http module, Java's HttpClient, requests, httpx, urllib3,
aiohttp) runs the same plan against one real server on loopback, each in its own namespace
(`/~<client>/...`), and reports what it observed as `Observation`s. The assertions live here,
once: a client runner only sends and reports. Each request carries `X-Check: <name>`, so the
journal entry of every check is found through the admin API.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ORIGIN = "http://app.example:3000"
CSV = b"name,value\ntotal,42\n"
CHARGE = json.dumps({"amount": 2000, "currency": "usd"}).encode()

STUBS = """
- id: hello
  request: {method: GET, path: /conf/hello}
  response: {headers: {Content-Type: text/plain}, body: hello}
- id: values
  request:
    method: GET
    path: /conf/values
    query: {zip: 01234, version: 1.10, country: NO}
  response:
    headers: {X-Version: 1.10, X-Flag: yes}
    json: {version: 1.10, zip: 01234}
- id: cookies
  request: {method: GET, path: /conf/cookies}
  response:
    headers:
      Set-Cookie:
        - a=1; Path=/
        - b=2; Path=/
    body: two cookies
- id: events
  request: {method: GET, path: /conf/events}
  response: {sse: {events: [{data: one}, {event: done, data: two}]}}
- id: chunks
  request: {method: GET, path: /conf/chunks}
  response: {chunks: {parts: [part1, part2, part3]}}
- id: closing
  request: {method: GET, path: /conf/closing}
  response: {headers: {Connection: close}, body: bye}
- id: charge
  request:
    method: POST
    path: /conf/charges
    body: {json: {amount: 2000, currency: usd}}
  response: {status: 201, json: {id: ch_1}}
- id: upload
  request:
    method: POST
    path: /conf/upload
    body:
      multipart:
        title: Q3
        report: {filename: q3.csv, content_type: text/csv, body: {contains: "total,42"}}
  response: {status: 201, json: {id: up_1}}
"""


@dataclass(frozen=True)
class FormField:
    """A multipart field: a value, or a file (`filename`, `content_type`, `data`)."""

    name: str
    value: str | None = None
    filename: str | None = None
    content_type: str | None = None
    data: bytes = b""


@dataclass(frozen=True)
class Observation:
    """What one client saw: status, headers (lower-cased names, every line), body, and the
    HTTP version the answer came in when the client tells it."""

    status: int
    headers: Mapping[str, Sequence[str]]
    body: bytes
    version: str | None = None

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return None if not values else ", ".join(values)

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def from_line(cls, data: Mapping[str, Any]) -> Observation:
        """From a JSON line of the Node or Java runner."""
        headers = {str(k).lower(): [str(v) for v in vs] for k, vs in data["headers"].items()}
        return cls(
            int(data["status"]), headers, base64.b64decode(data["body"]), data.get("version")
        )


@dataclass(frozen=True)
class Check:
    """One request of the plan, its §10 point, and its assertions."""

    name: str
    point: str
    method: str
    path: str
    expect: Callable[[Observation], None]
    journal: Callable[[Mapping[str, Any]], None]
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    form: tuple[FormField, ...] = ()
    """For clients with a multipart encoder of their own; `body` and `headers` hold the same
    form encoded, for the others."""
    http10: bool = False
    """Sent as HTTP/1.0: only by clients that can (curl)."""

    def sent_headers(self) -> list[tuple[str, str]]:
        return [("X-Check", self.name), *self.headers]

    def plan(self) -> dict[str, Any]:
        """The check as the Node and Java runners read it."""
        return {
            "name": self.name,
            "method": self.method,
            "path": self.path,
            "headers": self.sent_headers(),
            "body": base64.b64encode(self.body).decode(),
            "form": [
                {
                    "name": item.name,
                    "value": item.value,
                    "filename": item.filename,
                    "type": item.content_type,
                    "data": base64.b64encode(item.data).decode(),
                }
                for item in self.form
            ],
            "http10": self.http10,
        }


def _multipart(form: Sequence[FormField]) -> tuple[str, bytes]:
    """The form encoded by hand, for clients without an encoder (Java's HttpClient)."""
    boundary = "conformance-boundary-7e3a"
    chunks = []
    for item in form:
        disposition = f'form-data; name="{item.name}"'
        head = ""
        if item.filename is not None:
            disposition += f'; filename="{item.filename}"'
            head = f"Content-Type: {item.content_type}\r\n"
        data = item.data if item.value is None else item.value.encode()
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{head}\r\n".encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(chunks)


# --- expectations ---------------------------------------------------------------------------


def _status(status: int, body: bytes | None = None) -> Callable[[Observation], None]:
    def expect(seen: Observation) -> None:
        assert seen.status == status, (seen.status, seen.body[:300])
        if body is not None:
            assert seen.body == body

    return expect


def _json_error(status: int) -> Callable[[Observation], None]:
    def expect(seen: Observation) -> None:
        assert seen.status == status, (seen.status, seen.body[:300])
        assert (seen.header("content-type") or "").startswith("application/json")
        assert isinstance(seen.json()["error"], str)

    return expect


def _journaled(
    status: int, stub_id: str | None = None, **fields: Any
) -> Callable[[Mapping[str, Any]], None]:
    def check(entry: Mapping[str, Any]) -> None:
        assert (entry["status"], entry["stub_id"]) == (status, stub_id), entry
        for name, value in fields.items():
            assert entry.get(name) == value, (name, entry.get(name))

    return check


def _expect_values(seen: Observation) -> None:
    assert seen.status == 200, (seen.status, seen.body[:300])
    assert (seen.header("x-version"), seen.header("x-flag")) == ("1.10", "yes")
    assert seen.json() == {"version": 1.1, "zip": 1234}


def _expect_cookies(seen: Observation) -> None:
    assert seen.status == 200
    assert list(seen.headers.get("set-cookie", ())) == ["a=1; Path=/", "b=2; Path=/"]


def _expect_events(seen: Observation) -> None:
    assert seen.status == 200
    assert (seen.header("content-type") or "").startswith("text/event-stream")
    assert seen.body == b"data: one\n\nevent: done\ndata: two\n\n"


def _expect_closing(seen: Observation) -> None:
    assert (seen.status, seen.body) == (200, b"bye")
    # clients that show the Connection header (not all do) see that it closes
    assert seen.header("connection") in (None, "close")


def _expect_http10_plain(seen: Observation) -> None:
    assert (seen.status, seen.body) == (200, b"hello")
    assert seen.version in (None, "1.0")


def _expect_http10_events(seen: Observation) -> None:
    _expect_events(seen)
    assert seen.version in (None, "1.0")
    assert "transfer-encoding" not in seen.headers  # close-delimited: HTTP/1.0 has no chunks


def _expect_http10_chunks(seen: Observation) -> None:
    assert (seen.status, seen.body) == (200, b"part1part2part3")
    assert seen.version in (None, "1.0")
    assert "transfer-encoding" not in seen.headers


def _expect_preflight(seen: Observation) -> None:
    assert (seen.status, seen.body) == (204, b"")
    assert seen.header("access-control-allow-origin") == ORIGIN
    assert seen.header("access-control-allow-methods") == "POST"
    assert seen.header("access-control-allow-headers") == "content-type,x-api-key"
    assert seen.header("access-control-allow-credentials") == "true"


def _expect_cors_answer(seen: Observation) -> None:
    assert (seen.status, seen.body) == (200, b"hello")
    assert seen.header("access-control-allow-origin") == ORIGIN
    assert seen.header("access-control-expose-headers") is not None


def _journaled_preflight(entry: Mapping[str, Any]) -> None:
    assert (entry["status"], entry["method"], entry.get("preflight")) == (204, "OPTIONS", True)


def _journaled_not_found(entry: Mapping[str, Any]) -> None:
    assert (entry["status"], entry["matched"]) == (404, False)


def _journaled_upload(entry: Mapping[str, Any]) -> None:
    assert (entry["status"], entry["stub_id"]) == (201, "upload")
    parts = [(part["name"], part["filename"], part.get("text")) for part in entry["multipart"]]
    assert parts == [("title", None, "Q3"), ("report", "q3.csv", CSV.decode())]


def _journaled_compressed(encoding: str) -> Callable[[Mapping[str, Any]], None]:
    def check(entry: Mapping[str, Any]) -> None:
        assert (entry["status"], entry["stub_id"]) == (201, "charge")
        assert (entry["content_encoding"], entry["json"]) == (encoding, json.loads(CHARGE))

    return check


def _journaled_refused(status: int) -> Callable[[Mapping[str, Any]], None]:
    def check(entry: Mapping[str, Any]) -> None:
        assert (entry["status"], entry["matched"]) == (status, False)
        assert entry["error"]

    return check


_FORM = (
    FormField("title", value="Q3"),
    FormField("report", filename="q3.csv", content_type="text/csv", data=CSV),
)
_FORM_TYPE, _FORM_BODY = _multipart(_FORM)
_JSON = ("Content-Type", "application/json")

CHECKS: tuple[Check, ...] = (
    Check(
        "plain", "HTTP/1.1 fixed answer", "GET", "/conf/hello",
        _status(200, b"hello"), _journaled(200, "hello"),
    ),
    Check(
        "http10-plain", "HTTP/1.0", "GET", "/conf/hello",
        _expect_http10_plain, _journaled(200, "hello"), http10=True,
    ),
    Check(
        "http10-events", "HTTP/1.0 streams (close-delimited SSE)", "GET", "/conf/events",
        _expect_http10_events, _journaled(200, "events"), http10=True,
    ),
    Check(
        "http10-chunks", "HTTP/1.0 streams (close-delimited chunks)", "GET", "/conf/chunks",
        _expect_http10_chunks, _journaled(200, "chunks"), http10=True,
    ),
    Check(
        "events", "SSE", "GET", "/conf/events",
        _expect_events, _journaled(200, "events"), headers=(("Accept", "text/event-stream"),),
    ),
    Check(
        "chunks", "Chunks", "GET", "/conf/chunks",
        _status(200, b"part1part2part3"), _journaled(200, "chunks"),
    ),
    Check(
        "set-cookie", "Repeated Set-Cookie", "GET", "/conf/cookies",
        _expect_cookies, _journaled(200, "cookies"),
    ),
    Check(
        "connection-close", "Connection: close", "GET", "/conf/closing",
        _expect_closing, _journaled(200, "closing"),
    ),
    Check(
        "gzip-body", "Compressed request body (gzip)", "POST", "/conf/charges",
        _status(201, b'{"id":"ch_1"}'), _journaled_compressed("gzip"),
        headers=(_JSON, ("Content-Encoding", "gzip")), body=gzip.compress(CHARGE),
    ),
    Check(
        "deflate-body", "Compressed request body (deflate)", "POST", "/conf/charges",
        _status(201, b'{"id":"ch_1"}'), _journaled_compressed("deflate"),
        headers=(_JSON, ("Content-Encoding", "deflate")), body=zlib.compress(CHARGE),
    ),
    Check(
        "bad-gzip", "4xx JSON (400: a body that does not decode)", "POST", "/conf/charges",
        _json_error(400), _journaled_refused(400),
        headers=(_JSON, ("Content-Encoding", "gzip")), body=b"this is not gzip",
    ),
    Check(
        "unknown-encoding", "4xx JSON (415: an encoding not decoded)", "POST", "/conf/charges",
        _json_error(415), _journaled_refused(415),
        headers=(_JSON, ("Content-Encoding", "compress")), body=b"\x1f\x9d\x90",
    ),
    Check(
        "not-found", "4xx JSON (404 with near misses)", "GET", "/conf/nothing-here",
        _json_error(404), _journaled_not_found,
    ),
    Check(
        "yaml-values", "Stub YAML values as written", "GET",
        "/conf/values?zip=01234&version=1.10&country=NO",
        _expect_values, _journaled(200, "values"),
    ),
    Check(
        "preflight", "CORS preflight", "OPTIONS", "/conf/charges",
        _expect_preflight, _journaled_preflight,
        headers=(
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type,x-api-key"),
        ),
    ),
    Check(
        "cors-answer", "CORS headers on answers", "GET", "/conf/hello",
        _expect_cors_answer, _journaled(200, "hello"), headers=(("Origin", ORIGIN),),
    ),
    Check(
        "multipart", "Multipart body", "POST", "/conf/upload",
        _status(201, b'{"id":"up_1"}'), _journaled_upload,
        headers=(("Content-Type", _FORM_TYPE),), body=_FORM_BODY, form=_FORM,
    ),
)  # fmt: skip
BY_NAME: dict[str, Check] = {check.name: check for check in CHECKS}


@dataclass
class ClientRun:
    """One client's run of the plan: what it observed per check, or why a check failed there."""

    client: str
    observed: dict[str, Observation] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def checks(self, *, http10: bool = False) -> list[Check]:
        return [check for check in CHECKS if http10 or not check.http10]

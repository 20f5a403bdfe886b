"""Whatever bytes a client sends, the server keeps four promises (PRODUCT.md §10), checked with
Hypothesis over raw sockets against a real server:

1. never a plain-text 500 (and the parser's own refusals, 400/414/431, are JSON);
2. never a malformed answer: each answer parses (status line, header lines, framing by
   Content-Length, chunked encoding, or the end of a connection that then closes);
3. never a hang: within a few seconds the server has answered or closed the connection (a
   request cut short is cut off after --client-timeout, set low here);
4. never a request missing from the journal.

What "request" means for the fourth, with malformed bytes: bytes that *begin with a request
line* (after optional blank lines: a method token, a space, and a target that starts with `/` or
`scheme://`) are a request, whatever follows; anything else (a TLS hello, noise) is not, and the
server answers it 400 without journaling it. So: every answer the mock itself gave (a stub's, a
404, a 413/415/400 for a body, a template's 500) is in the journal with its status; when the
server's first answer refuses the head (400, 414, 431, 505) and the bytes it had read by then
begin with a request line (the test counts the first write, which the parser has read when it
refuses), that refusal is in the journal; and every well-formed request is, with its method,
its path as sent and the status it got. A head that never ends gets no answer (it is cut off)
and need not be journaled: nothing was read of it that makes a request.

Budget: `EXAMPLES` examples, each bounded by the server's cut-off (`CLIENT_TIMEOUT_S`) plus a
short wait for more bytes; the test's timeout is derived from those settings (`BUDGET_S`), so a
slow run fails by name instead of overrunning CI. Deterministic: derandomized, no database.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread
from tests.serving import write_stubs

EXAMPLES: Final = 80
CLIENT_TIMEOUT_S: Final = 0.3
"""The server's --client-timeout: a head or body that stops coming is cut off after this."""
IDLE_S: Final = 0.03
"""After a complete answer, how long to wait for more (a pipelined answer, or the close)."""
HANG_S: Final = 5.0
"""No answer and no close within this: a hang (far beyond the cut-off, for a busy machine)."""
WORST_EXAMPLE_S: Final = CLIENT_TIMEOUT_S + IDLE_S + 0.1
BUDGET_S: Final = int(EXAMPLES * WORST_EXAMPLE_S + 20)  # + start-up: within CI's 60 s
WIRE: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

STUBS: Final = """
- id: fixed
  request: {method: [GET, HEAD], path: /fixed}
  response: {headers: {X-Note: café}, body: fixed}
- id: items
  request: {method: [POST, PUT, PATCH], path: "/items/{id}"}
  response: {status: 201, json: {ok: true}}
- id: echo
  request: {path: "/echo/{word}"}
  response:
    template: true
    headers: {X-Word: "{{ request.path_params.word }}"}
    body: "{{ request.path_params.word }}"
- id: stream
  request: {path: /stream}
  response: {sse: {events: [{data: a}, {data: b}]}}
- id: chunks
  request: {path: /chunks}
  response: {chunks: {parts: [x, y]}}
- id: slow
  request: {path: /slow}
  response: {delay_ms: 5, body: slow}
- id: closing
  request: {path: /closing}
  response: {headers: {Connection: close}, body: bye}
- id: empty
  request: {path: /empty}
  response: {status: 204}
"""

METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SEGMENTS: Final = (
    "fixed", "items", "echo", "stream", "chunks", "slow", "closing", "empty", "nowhere", "1",
    "a%2Fb", "caf%C3%A9", "%FF", "%0D%0A", "%25", "~ns1", "",
)  # fmt: skip
QUERIES: Final = ("", "?a=1", "?a=%2B1&a=2&b", "?q=caf%C3%A9", "?x=%ZZ")
NAMES: Final = ("X-Note", "Accept", "Content-Type", "Cookie", "X-Empty", "Expect", "User-Agent")
VALUES: Final = (
    b"x", b"caf\xe9", b"", b"a, b", b"\xff\xfe", b"Bearer t", b"100-continue", b"a=1; b=2",
    b"application/json", b"application/x-www-form-urlencoded",
)  # fmt: skip
NASTY: Final = (
    b"\r\n", b"\n", b" ", b"\x00", b":", b"\r\n\r\n", b"%", b"\xff", b"\t", b"0\r\n\r\n",
    b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"GET / HTTP/1.1\r\n",
)  # fmt: skip
KNOWN_BAD: Final = (
    b"GET /fixed HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
    b"\r\n3\r\nabc\r\n0\r\n\r\n",
    b"POST /items/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nabc\r\n0\r\n\r\n",
    b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nshort",
    b"GET /fixed HTTP/1.1\r\nHo st: x\r\n\r\n",
    b"GET /fixed HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /fixed\r\n\r\n",
    b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /fixed HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(40)) + b"\r\n",
    b"GET /fixed HTTP/1.1\r\nX-Big: " + b"b" * 2000 + b"\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(32)),
    b"GET /fixed HTTP/1.1\nHost: x\n\n",
    b"get /fixed HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /fi\x00xed HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://api.test/fixed HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
    b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Encoding: br, zz\r\nContent-Length: 2\r\n\r\nhi",
    b"GET /echo/%0D%0AX-Injected:%20yes HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\r\n\r\nGET /fixed HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /fixed HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
)
_REQUEST_LINE: Final = re.compile(
    rb"[\r\n]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+ (/|[A-Za-z][A-Za-z0-9+.\-]*://)"
)
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9]) [^\r\n]*")
_HEADER_LINE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[ \t]*[^\r\n]*")


class Sent:
    """What one example sends on one connection, in `chunks`; `request` names the well-formed
    request it is (method, target) when it was not mutated; `first` the well-formed request
    pipelined before mutated bytes."""

    __slots__ = ("chunks", "first", "request")

    def __init__(
        self,
        chunks: tuple[bytes, ...],
        request: tuple[str, str] | None,
        first: tuple[str, str] | None = None,
    ) -> None:
        self.chunks = chunks
        self.request = request
        self.first = first

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def __repr__(self) -> str:
        return f"Sent({self.chunks!r}, {self.request!r})"


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[bytes, str, str]:
    method = draw(st.sampled_from(METHODS))
    segments = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4))
    target = "/" + "/".join(segments) + draw(st.sampled_from(QUERIES))
    version = draw(st.sampled_from(("1.1", "1.1", "1.0")))
    headers = [(b"Host", b"mock")]
    headers += draw(
        st.lists(
            st.tuples(st.sampled_from(NAMES).map(str.encode), st.sampled_from(VALUES)), max_size=4
        )
    )
    body = draw(st.binary(max_size=48)) if method in ("POST", "PUT", "PATCH") else b""
    if body and draw(st.booleans()):
        headers.append((b"Content-Encoding", b"gzip"))
        body = gzip.compress(body)
    if body and version == "1.1" and draw(st.booleans()):
        headers.append((b"Transfer-Encoding", b"chunked"))
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    elif body:
        headers.append((b"Content-Length", str(len(body)).encode()))
    if draw(st.booleans()):
        headers.append((b"Connection", b"close"))
    head = f"{method} {target} HTTP/{version}\r\n".encode()
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return head + b"\r\n" + body, method, target


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    kind = draw(st.sampled_from(("flip", "insert", "truncate", "delete")))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "flip":
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if kind == "insert":
        extra = draw(st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=8)))
        return data[:at] + extra + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 8)) :]
    return data[:at]


@st.composite
def sends(draw: st.DrawFn) -> Sent:
    source = draw(st.sampled_from(("well-formed", "mutated", "known-bad", "pipelined")))
    event(source)
    first = None
    if source == "known-bad":
        data, request = draw(st.sampled_from(KNOWN_BAD)), None
    elif source == "pipelined":  # a good request, then bad bytes: often in one read
        good, method, target = draw(well_formed())
        second, _, _ = draw(well_formed())
        data, request = good + draw(mutated(second)), None
        if b"Connection: close" not in good:
            first = (method, target)
    else:
        data, method, target = draw(well_formed())
        request = (method, target)
        if source == "mutated":
            data, request = draw(mutated(data)), None
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=2, unique=True)))
    edges = [0, *(cut for cut in cuts if cut < len(data)), len(data)]
    return Sent(tuple(data[a:b] for a, b in itertools.pairwise(edges)), request, first)


# --- the answer, parsed strictly --------------------------------------------------------------


class Malformed(AssertionError):
    """An answer that does not parse as HTTP/1.x."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, list[str]]
    body: bytes


def parse_answers(
    data: bytes, methods: bytes | list[bytes], closed: bool
) -> tuple[list[Answer], bool]:
    """The final answers in `data` (interim 1xx skipped) and whether the last one is complete;
    `methods` are those of the requests answered, in order (the last one for any beyond).
    Raises Malformed for bytes that cannot be an answer however many more follow."""
    methods = [methods] if isinstance(methods, bytes) else methods or [b""]
    answers: list[Answer] = []
    while data:
        method = methods[min(len(answers), len(methods) - 1)]
        head, separator, rest = data.partition(b"\r\n\r\n")
        if not separator:
            if closed:
                raise Malformed(f"the connection closed inside a head: {data[:200]!r}")
            return answers, False
        status_line, *lines = head.split(b"\r\n")
        found = _STATUS_LINE.fullmatch(status_line)
        if found is None:
            raise Malformed(f"not a status line: {status_line[:200]!r}")
        headers: dict[str, list[str]] = {}
        for line in lines:
            if _HEADER_LINE.fullmatch(line) is None:
                raise Malformed(f"not a header line: {line[:200]!r}")
            name, _, value = line.partition(b":")
            headers.setdefault(name.decode().lower(), []).append(value.strip().decode("latin-1"))
        status = int(found.group(1))
        if status < 200:
            data = rest
            continue
        lengths = headers.get("content-length", [])
        chunked = headers.get("transfer-encoding", []) == ["chunked"]
        if len(lengths) > 1 or (lengths and chunked):
            raise Malformed(f"conflicting framing: {headers}")
        if method == b"HEAD" or status in (204, 304):
            body, data = b"", rest
        elif chunked:
            parsed = parse_chunked(rest)
            if parsed is None:
                if closed:
                    raise Malformed(f"the connection closed inside a chunked body: {rest[:200]!r}")
                return answers, False
            body, data = parsed
        elif lengths:
            if not lengths[0].isdigit():
                raise Malformed(f"Content-Length {lengths[0]!r}")
            length = int(lengths[0])
            if len(rest) < length:
                if closed:
                    raise Malformed("the connection closed before Content-Length bytes came")
                return answers, False
            body, data = rest[:length], rest[length:]
        elif not closed:  # delimited by the close: complete only once it came
            return answers, False
        else:
            body, data = rest, b""
        answers.append(Answer(status, headers, body))
    return answers, True


def parse_chunked(data: bytes) -> tuple[bytes, bytes] | None:
    """(body, what follows) of a chunked body; None while incomplete; Malformed when broken."""
    body = b""
    while True:
        line, separator, data = data.partition(b"\r\n")
        if not separator:
            return None
        if not re.fullmatch(rb"[0-9a-fA-F]+", line):
            raise Malformed(f"not a chunk size: {line[:50]!r}")
        size = int(line, 16)
        if size == 0:
            trailer, separator, data = data.partition(b"\r\n")
            if not separator:
                return None
            if trailer:
                raise Malformed(f"trailers where none are sent: {trailer[:50]!r}")
            return body, data
        if len(data) < size + 2:
            return None
        if data[size : size + 2] != b"\r\n":
            raise Malformed("a chunk not followed by CRLF")
        body, data = body + data[:size], data[size + 2 :]


# --- one exchange -----------------------------------------------------------------------------


def exchange(server: RunningServer, sent: Sent) -> tuple[list[Answer], bool]:
    """Send, then read until the server closes, or until it has answered in full and sends
    nothing more for IDLE_S. Fails on a hang: no full answer and no close within HANG_S."""
    # an answer to HEAD has no body; bytes that begin no request have no method
    method = [
        part.lstrip(b"\r\n").split(b" ", 1)[0]
        for part in sent.data.split(b"\r\n\r\n")
        if begins_a_request(part)
    ]
    with socket.create_connection((server.host, server.port), timeout=HANG_S) as connection:
        try:
            for chunk in sent.chunks:
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early and closed: what it said is still to be read
        received, closed, complete = b"", False, False
        deadline = time.monotonic() + HANG_S
        while True:
            wait = IDLE_S if complete else deadline - time.monotonic()
            assert wait > 0, f"hang: no answer and no close for {HANG_S}s after {sent.data[:200]!r}"
            connection.settimeout(wait)
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                if complete:
                    break
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
            answers, complete = parse_answers(received, method, closed=False)
            complete = complete and bool(answers)
    return parse_answers(received, method, closed=closed)


# --- the server and its journal ---------------------------------------------------------------


class Journal:
    """Reads what each example added to the journal, in every namespace (a mutated path may
    name a new one)."""

    def __init__(self, server: RunningServer) -> None:
        self._url = server.url + "/__admin"
        self._last: dict[str, int] = {}

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self._url + path, timeout=10) as response:
            return json.loads(response.read())

    def new_entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        names = [item["name"] for item in self._get("/namespaces")["namespaces"]]
        for prefix in ("", *(f"/ns/{name}" for name in names)):
            listed = self._get(f"{prefix}/requests?since_seq={self._last.get(prefix, 0)}")
            if listed["requests"]:
                self._last[prefix] = listed["requests"][-1]["seq"]
            entries.extend(listed["requests"])
        return entries


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    stubs = write_stubs(tmp_path_factory.mktemp("wire") / "stubs", {"s.yaml": STUBS})
    running = start_in_thread(
        Settings(
            stubs=(stubs,),
            port=0,
            client_timeout=CLIENT_TIMEOUT_S,
            max_line_size=1024,
            max_field_size=1024,
            max_headers=30,
        )
    )
    yield running
    running.stop()


def begins_a_request(data: bytes) -> bool:
    return _REQUEST_LINE.match(data) is not None


def expected_raw_path(target: str) -> str:
    path = target.partition("?")[0]
    if path == "/~ns1" or path.startswith("/~ns1/"):
        path = path.removeprefix("/~ns1") or "/"
    return path


@pytest.mark.timeout(BUDGET_S)
def test_whatever_arrives_the_four_promises_hold(server: RunningServer) -> None:
    journal = Journal(server)

    @WIRE
    @given(sent=sends())
    def promises(sent: Sent) -> None:
        answers, _ = exchange(server, sent)  # 2 and 3: it parses, it came in time
        for answer in answers:  # 1: no stub here answers an error, so each is the server's
            if answer.status >= 400:
                content_type = ",".join(answer.headers.get("content-type", []))
                assert content_type.startswith("application/json"), (sent.data[:300], answer)
                if answer.body:  # an answer to HEAD has none
                    json.loads(answer.body)
        entries = journal.new_entries()  # 4
        statuses = Counter(entry["status"] for entry in entries)
        mocked = Counter(
            answer.status for answer in answers if answer.status not in (400, 414, 431, 505)
        )
        assert not mocked - statuses, (sent.data[:300], answers, entries)
        # the parser refuses at the first bad byte: what it read then is at least the first
        # write, and a request line there makes the refused bytes a request
        if (
            answers
            and answers[0].status in (400, 414, 431, 505)
            and begins_a_request(sent.chunks[0])
        ):
            assert statuses[answers[0].status] >= 1, (sent.data[:300], answers, entries)
        if sent.first is not None:  # answered, or dropped with the bad bytes: journaled
            method, target = sent.first
            seen_requests = [(e["method"], e["raw_path"]) for e in entries]
            assert (method, expected_raw_path(target)) in seen_requests, (sent.data, entries)
        if sent.request is not None:
            method, target = sent.request
            assert answers, f"a well-formed request got no answer: {sent.data[:300]!r}"
            wanted = (method, expected_raw_path(target), answers[0].status)
            seen = [(e["method"], e["raw_path"], e["status"]) for e in entries]
            assert wanted in seen, (wanted, seen)

    promises()


def test_the_answer_parser_refuses_what_is_not_http() -> None:
    with pytest.raises(Malformed):
        parse_answers(b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", b"GET", closed=True)
    with pytest.raises(Malformed):
        parse_answers(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", b"GET", closed=True)
    with pytest.raises(Malformed):
        parse_answers(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"GET", True)
    assert parse_answers(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"GET", False) == (
        [Answer(200, {"content-length": ["2"]}, b"ok")],
        True,
    )
    assert parse_answers(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", b"GET", closed=False) == (
        [],
        False,
    )


# --- what the property found, pinned ----------------------------------------------------------


@pytest.mark.parametrize("version", [b"0.9", b"2.0"])  # llhttp refuses 1.2 itself: 400
def test_a_version_other_than_1x_is_505_in_http10_and_journaled(
    server: RunningServer, version: bytes
) -> None:
    # aiohttp answered in the request's own version ("HTTP/0.9 404"), which no client reads
    journal = Journal(server)
    journal.new_entries()
    sent = Sent((b"GET /fixed HTTP/" + version + b"\r\nHost: x\r\n\r\n",), None)
    [answer] = exchange(server, sent)[0]
    assert answer.status == 505
    assert json.loads(answer.body)["error"] == (
        f"HTTP version HTTP/{version.decode()} is not supported: send HTTP/1.1 or HTTP/1.0"
    )
    [entry] = journal.new_entries()
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/fixed", 505)


def test_head_to_a_stream_gets_the_head_alone(server: RunningServer) -> None:
    # the events went out after the head, where a client reads the next answer
    head = b"HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"
    then = b"GET /fixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answers, _ = exchange(server, Sent((head + then,), None))
    assert [(answer.status, answer.body) for answer in answers] == [(200, b""), (200, b"fixed")]
    assert answers[0].headers["content-type"] == ["text/event-stream; charset=utf-8"]

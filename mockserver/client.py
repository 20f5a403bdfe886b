"""Python clients of the admin API: `MockServerClient` (sync) and `AsyncMockServerClient`.

They speak HTTP only and import nothing of the server, so they work against a sidecar of the same
version as well as against an in-process server. The sync client uses the standard library; the
async one imports aiohttp on its first call, so `import mockserver` stays light (the pytest plugin
loads it in every test session). Each admin call is described once, as a `_Call` (what to send,
how to read the answer), and both clients only run it.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Self, TypedDict, TypeVar, Unpack

from mockserver.wording import describe_matcher, describe_near_miss, value_text

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "AdminError",
    "AsyncClock",
    "AsyncMockServerClient",
    "Clock",
    "ClockState",
    "Headers",
    "JournalEntry",
    "MockServerClient",
    "MockServerClientError",
    "NearMiss",
    "Recording",
    "RequestFields",
    "VerificationError",
]

DEFAULT_ADMIN_PREFIX: Final = "/__admin"
DEFAULT_TIMEOUT: Final = 10.0
TOKEN_ENV: Final = "MOCKSERVER_ADMIN_TOKEN"
_RECEIVED_SHOWN: Final = 10
"""A failed verify lists this many of the newest recorded requests: what arrived instead."""
_YAML: Final = "application/yaml"
_JSON: Final = "application/json"

T = TypeVar("T")
JsonObject = dict[str, Any]


# --- errors -----------------------------------------------------------------------------------


class MockServerClientError(Exception):
    """Base of what the clients raise about the mock server: `AdminError` (the admin API refused
    a call) and `VerificationError` (a verify failed)."""


class AdminError(MockServerClientError):
    """The admin API refused a call: `status`, and the server's `error` and `details`."""

    def __init__(
        self, method: str, path: str, status: int, error: str, details: Sequence[Any] = ()
    ) -> None:
        self.method, self.path, self.status = method, path, status
        self.error, self.details = error, list(details)
        lines = [f"{method} {path} -> {status}: {error}"]
        lines += [f"  {_detail_text(detail)}" for detail in self.details]
        super().__init__("\n".join(lines))


def _detail_text(detail: Any) -> str:
    if isinstance(detail, dict) and "message" in detail:
        # as the server prints a stub error: "path:line: field: message"
        parts = (detail.get("source"), detail.get("field"), detail["message"])
        return ": ".join(str(part) for part in parts if part)
    return detail if isinstance(detail, str) else value_text(detail)


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A stub (for an unmatched request) or a recorded request (for a failed verify) that came
    close, and the first field that differed."""

    field: str
    expected: str
    actual: Any
    stub_id: str | None = None
    source: str | None = None
    request_seq: int | None = None
    method: str | None = None
    path: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NearMiss:
        return cls(
            field=str(data.get("field", "")),
            expected=str(data.get("expected", "")),
            actual=data.get("actual"),
            stub_id=data.get("stub_id"),
            source=data.get("source"),
            request_seq=data.get("request_seq"),
            method=data.get("method"),
            path=data.get("path"),
        )

    def describe(self) -> str:
        """The near miss on one line, worded as the server words it:
        `stub create-charge (stubs/stripe.yaml:12): body.form.currency: expected equals 'usd',
        got "eur"`"""
        return describe_near_miss(
            self.field,
            self.expected,
            self.actual,
            stub_id=self.stub_id,
            source=self.source,
            request_seq=self.request_seq,
            method=self.method,
            path=self.path,
        )


class VerificationError(MockServerClientError, AssertionError):
    """A verify that failed: the server's message (what was expected, what was found), what came
    close, and what arrived. `response` is the server's 422 answer as it came."""

    def __init__(
        self,
        message: str,
        *,
        matcher: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        expected: str,
        count: int | None,
        near_misses: Sequence[NearMiss] = (),
        received: Sequence[JournalEntry] | None = None,
        response: Mapping[str, Any] | None = None,
    ) -> None:
        self.matcher, self.expected, self.count = matcher, expected, count
        self.summary = message
        self.near_misses = list(near_misses)
        self.received = None if received is None else list(received)
        self.response: JsonObject = dict(response or {})
        lines = [message]
        if self.near_misses:
            lines.append("Near misses (closest first):")
            lines += [f"  {miss.describe()}" for miss in self.near_misses]
        else:
            lines.append("Near misses: none (no recorded request came close)")
        if self.received:
            lines.append(f"Received (newest {len(self.received)}):")
            lines += [f"  {entry.describe()}" for entry in self.received]
        elif self.received is not None:
            lines.append("Received: no requests at all")
        super().__init__("\n".join(lines))

    def with_received(self, received: Sequence[JournalEntry]) -> VerificationError:
        """The same failure, also listing the requests that arrived."""
        return VerificationError(
            self.summary,
            matcher=self.matcher,
            expected=self.expected,
            count=self.count,
            near_misses=self.near_misses,
            received=received,
            response=self.response,
        )


# --- typed answers ----------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Recorded request headers; names are case-insensitive (`headers["Content-Type"]`)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {name.lower(): value for name, value in (items or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


@dataclass(frozen=True, slots=True)
class MultipartPart:
    """One part of a recorded multipart/form-data body."""

    name: str | None
    filename: str | None
    content_type: str | None
    content: bytes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MultipartPart:
        text = data.get("text")
        content = text.encode() if text is not None else base64.b64decode(data.get("base64", ""))
        return cls(data.get("name"), data.get("filename"), data.get("content_type"), content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One recorded request, as the admin API's journal shows it (contract section 4).

    `json` is the decoded JSON body (None when the body is not JSON); `form` and `query` map each
    name to every value sent; `headers` is case-insensitive. Fields this version does not know are
    kept in `raw`.
    """

    seq: int
    id: str
    time: datetime
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: str
    # Any: whatever JSON the application sent; tests index it without casts
    json: Any
    form: dict[str, list[str]]
    matched: bool
    stub_id: str | None
    status: int
    duration_ms: float
    service: str | None = None
    namespace: str | None = None
    body_encoding: str | None = None
    body_truncated: bool = False
    content_encoding: str | None = None
    """The Content-Encoding the request arrived with ("gzip"); `body` is then decoded, unless
    the entry's `error` says it could not be."""
    raw_body: bytes | None = None
    """The body as it arrived, when it was decoded from its `content_encoding`."""
    raw_path: str | None = None
    """The path as sent, still percent-encoded, without the query (`path` is decoded:
    "/files/a%2Fb/meta" beside "/files/a/b/meta")."""
    error: str | None = None
    """Why the answer failed or was cut ("cut: ..."), when it did."""
    preflight: bool = False
    """A CORS preflight the server answered itself (`--cors`)."""
    multipart: tuple[MultipartPart, ...] = ()
    """The parts of a multipart/form-data body, in order."""
    near_misses: tuple[NearMiss, ...] = ()
    proxied_to: str | None = None
    """A proxied request's upstream URL."""
    upstream_status: int | None = None
    """A proxied request's upstream status (None when the upstream did not answer)."""
    raw: JsonObject = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JournalEntry:
        raw_body = data.get("raw_body")
        return cls(
            seq=int(data["seq"]),
            id=str(data.get("id", "")),
            time=datetime.fromisoformat(str(data["time"])),
            method=str(data["method"]),
            path=str(data["path"]),
            query={name: list(values) for name, values in (data.get("query") or {}).items()},
            headers=Headers(data.get("headers") or {}),
            body=data.get("body") or "",
            json=data.get("json"),
            form={name: list(values) for name, values in (data.get("form") or {}).items()},
            matched=bool(data.get("matched")),
            stub_id=data.get("stub_id"),
            status=int(data.get("status") or 0),
            duration_ms=float(data.get("duration_ms") or 0.0),
            service=data.get("service"),
            namespace=data.get("namespace"),
            body_encoding=data.get("body_encoding"),
            body_truncated=bool(data.get("body_truncated", False)),
            content_encoding=data.get("content_encoding"),
            raw_body=None if raw_body is None else base64.b64decode(raw_body),
            raw_path=data.get("raw_path"),
            error=data.get("error"),
            preflight=bool(data.get("preflight", False)),
            multipart=tuple(MultipartPart.from_json(p) for p in data.get("multipart") or ()),
            near_misses=tuple(NearMiss.from_json(m) for m in data.get("near_misses") or ()),
            proxied_to=data.get("proxied_to"),
            upstream_status=data.get("upstream_status"),
            raw=dict(data),
        )

    @property
    def content(self) -> bytes:
        """The body as bytes, whether the journal kept it as text or as base64."""
        if self.body_encoding == "base64":
            return base64.b64decode(self.body)
        return self.body.encode()

    def describe(self) -> str:
        """`#4 POST /v1/charges -> 404 (no stub) body 'amount=2000&currency=eur'`"""
        answered = f"stub {self.stub_id}" if self.stub_id else "no stub"
        line = f"#{self.seq} {self.method} {self.path}"
        if self.query:
            line += "?" + urllib.parse.urlencode(self.query, doseq=True)
        line += f" -> {self.status} ({answered})"
        if self.body:
            shown = self.body if len(self.body) <= 200 else self.body[:200] + "..."
            line += f" body {shown!r}"
        return line


@dataclass(frozen=True, slots=True)
class Recording:
    """A recorded service's stub document (`GET /recordings`): `file` is its name (SERVICE.yaml),
    `yaml` its text, `files` its body files by their path relative to it."""

    service: str
    file: str
    yaml: str
    files: dict[str, bytes]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recording:
        return cls(
            service=str(data["service"]),
            file=str(data["file"]),
            yaml=str(data["yaml"]),
            files={
                str(name): base64.b64decode(content)
                for name, content in (data.get("files") or {}).items()
            },
        )

    def write_to(self, directory: str | os.PathLike[str], file: str | None = None) -> Path:
        """Write the document (as `file`, by default its own name) and its body files under
        `directory`; the path of the document."""
        target = Path(directory) / (file or self.file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.yaml, encoding="utf-8")
        for name, content in self.files.items():
            body = target.parent / name
            body.parent.mkdir(parents=True, exist_ok=True)
            body.write_bytes(content)
        return target


def _load_recordings(mode: str, yaml: str, files: Mapping[str, bytes] | None) -> _Call[int]:
    payload = {
        "mode": mode,
        "yaml": yaml,
        "files": {
            name: base64.b64encode(content).decode("ascii")
            for name, content in (files or {}).items()
        },
    }
    return _json_call("POST", "/recordings", payload, lambda data: int(data["loaded"]))


def _recordings(data: Any) -> list[Recording]:
    return [Recording.from_json(document) for document in data["documents"]]


# --- the admin calls, described once ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    method: str
    path: str
    read: Callable[[Any], T]
    body: bytes | None = None
    content_type: str | None = None
    query: Mapping[str, str] | None = None
    # the matcher (a sequence's matchers) of a verify: a 422 then means VerificationError
    verify: JsonObject | list[JsonObject] | None = None
    # seconds the server may hold the call (a verify's `within`), added to the timeout
    wait: float = 0.0

    def target(self, base: str) -> str:
        url = base + self.path
        return url + "?" + urllib.parse.urlencode(self.query) if self.query else url


def _json_call(method: str, path: str, payload: Any, read: Callable[[Any], T]) -> _Call[T]:
    return _Call(method, path, read, jsonlib.dumps(payload).encode(), _JSON)


def _quote(stub_id: str) -> str:
    return "/stubs/" + urllib.parse.quote(stub_id, safe="")


def _stub_body(stub: Mapping[str, Any] | Sequence[Any] | str | None, fields: JsonObject) -> Any:
    if isinstance(stub, str):
        if fields:
            raise TypeError("give the stub as YAML text or as fields, not both")
        return stub
    if stub is None:
        return fields
    if isinstance(stub, Mapping):
        return {**stub, **fields}
    if fields:
        raise TypeError("give a list of stubs or fields of one stub, not both")
    return list(stub)


def _add_stubs(stubs: Any) -> _Call[list[str]]:
    def read(data: Any) -> list[str]:
        return [str(stub_id) for stub_id in data["ids"]]

    if isinstance(stubs, str):
        return _Call("POST", "/stubs", read, stubs.encode(), _YAML)
    return _json_call("POST", "/stubs", stubs, read)


class RequestFields(TypedDict, total=False):
    """The request matcher's fields as keywords (contract section 2); `json=` stands for
    `body={"json": ...}` and `form=` for `body={"form": ...}`."""

    method: str | Sequence[str]
    path: str | Mapping[str, Any]
    query: Mapping[str, Any]
    headers: Mapping[str, Any]
    cookies: Mapping[str, Any]
    body: Mapping[str, Any]
    json: Any
    form: Mapping[str, Any]


def _matcher(request: Mapping[str, Any] | None, fields: RequestFields) -> JsonObject:
    """A dict and/or keywords -> a request matcher.

    `(None, {"method": "POST", "json": {"amount": 2000}})` ->
    `{"method": "POST", "body": {"json": {"amount": 2000}}}`
    """
    unknown = sorted(set(fields) - set(RequestFields.__annotations__))
    if unknown:
        raise TypeError(f"unknown request matcher field {unknown[0]!r}")
    matcher: JsonObject = dict(request or {})
    for name in ("path", "query", "headers", "cookies"):
        if fields.get(name) is not None:
            matcher[name] = fields.get(name)
    method = fields.get("method")
    if method is not None:
        matcher["method"] = method if isinstance(method, str) else list(method)
    body: JsonObject = {**matcher.get("body", {}), **fields.get("body", {})}
    if "json" in fields:  # present means given: `json=None` matches a JSON null body
        body["json"] = fields["json"]
    if fields.get("form") is not None:
        body["form"] = fields["form"]
    if body:
        matcher["body"] = body
    return matcher


def _condition(count: int | None, at_least: int | None, at_most: int | None) -> JsonObject:
    if count is not None and (at_least is not None or at_most is not None):
        raise TypeError("give count, or at_least and/or at_most, not both")
    if count is None and at_least is None and at_most is None:
        count = 1
    given = {"count": count, "at_least": at_least, "at_most": at_most}
    return {name: value for name, value in given.items() if value is not None}


def _verify(matcher: JsonObject, condition: JsonObject, within: float | None) -> _Call[int]:
    body: JsonObject = {"request": matcher, **condition}
    if within is not None:
        body["within_ms"] = round(within * 1000)
    call = _json_call("POST", "/verify", body, lambda data: int(data["count"]))
    return replace(call, verify=matcher, wait=within or 0.0)


def _verify_sequence(matchers: Sequence[Mapping[str, Any]]) -> _Call[list[int]]:
    steps = [dict(step) for step in matchers]
    call = _json_call(
        "POST",
        "/verify/sequence",
        {"requests": steps},
        lambda data: [int(seq) for seq in data.get("matched_seqs", [])],
    )
    return replace(call, verify=steps)


def _entries(key: str = "requests") -> Callable[[Any], list[JournalEntry]]:
    return lambda data: [JournalEntry.from_json(entry) for entry in data[key]]


def _filters(filters: Mapping[str, Any]) -> dict[str, str]:
    known = {"method", "path", "service", "stub_id", "matched", "since_seq", "limit", "before_seq"}
    unknown = sorted(set(filters) - known)
    if unknown:
        raise TypeError(f"unknown journal filter {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in filters.items()
        if value is not None
    }


def _stream_call(since_seq: int | None, timeout: float, filters: Mapping[str, Any]) -> _Call[Any]:
    """GET /requests/stream with its filters; heartbeats at half the read timeout, so a quiet
    feed never times out and a silent one means the server is gone."""
    query = _filters(filters)
    if since_seq is not None:
        query["since_seq"] = str(since_seq)
    query["heartbeat_ms"] = str(max(10, min(15_000, int(timeout * 500))))
    return _Call("GET", "/requests/stream", lambda data: data, query=query)


class _EventReader:
    """Server-sent events, fed one line at a time: `feed` returns an entry when a `message`
    event ends (the `ready` event and `: comments` give None)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> JournalEntry | None:
        line = line.rstrip("\r\n")
        if line:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name == "event":
                self._event = value
            return None
        event, data = self._event or "message", "\n".join(self._data)
        self._event, self._data = "", []
        if event != "message" or not data:
            return None
        return JournalEntry.from_json(jsonlib.loads(data))


def _failure(call: _Call[Any], admin_path: str, status: int, data: Any, text: str) -> Exception:
    """The exception for an answer >= 400: VerificationError for a failed verify, else
    AdminError."""
    matcher = call.verify
    if isinstance(data, dict) and matcher is not None and status == 422:
        message = str(data.get("message", "the verification failed"))
        if isinstance(matcher, list):  # a sequence
            message += "\n" + _sequence_steps(matcher, data)
        return VerificationError(
            message,
            matcher=matcher,
            expected=str(data.get("expected", "in order")),
            count=data.get("count"),
            near_misses=[NearMiss.from_json(m) for m in data.get("near_misses") or ()],
            response=data,
        )
    where = admin_path + urllib.parse.unquote(call.path)
    if isinstance(data, dict) and "error" in data:
        details = data.get("details")
        return AdminError(call.method, where, status, str(data["error"]), details or ())
    return AdminError(call.method, where, status, text.strip()[:500] or "(empty answer)")


def _sequence_steps(steps: Sequence[Mapping[str, Any]], data: Mapping[str, Any]) -> str:
    """Each step, with the seq of the request it matched or where the order broke."""
    seqs = list(data.get("matched_seqs") or [])
    failed = data.get("failed_step", len(seqs))
    lines = []
    for index, step in enumerate(steps):
        if index < len(seqs):
            outcome = f"matched request #{seqs[index]}"
        elif index == failed:
            outcome = "NOT FOUND"
        else:
            outcome = "not checked"
        lines.append(f"  {index}. {describe_matcher(step)}: {outcome}")
    return "\n".join(lines)


def _decode(raw: bytes) -> tuple[Any, str]:
    text = raw.decode("utf-8", errors="replace")
    try:
        return jsonlib.loads(text) if text else None, text
    except ValueError:
        return None, text


# the server's NAMESPACE_NAME (mockserver.incoming): the client imports nothing of the server
_NAMESPACE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _base_url(url: str, admin_prefix: str, namespace: str | None) -> tuple[str, str, str]:
    """(server root, the URL the application uses, the admin API's URL) for a namespace.

    "http://h:8080", ns "w1" -> ("http://h:8080", "http://h:8080/~w1", "http://h:8080/__admin/ns/w1")
    """
    root = url.rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise ValueError(f"the mock server URL must start with http:// or https://, got {url!r}")
    admin = root + "/" + admin_prefix.strip("/")
    if namespace is None:
        return root, root, admin
    if not _NAMESPACE_NAME.fullmatch(namespace):
        raise ValueError(f"a namespace is 1-64 of A-Z a-z 0-9 _ -, got {namespace!r}")
    return root, f"{root}/~{namespace}", f"{admin}/ns/{namespace}"


# --- the clients ------------------------------------------------------------------------------


class _BaseClient:
    """What the sync and the async client share: where the server is, and how to reach it.

    Args:
        url: where the mock server listens, e.g. "http://127.0.0.1:8080" (the URL the application
            under test is given); the admin API is under `admin_prefix` on it.
        admin_prefix: the server's `--admin-prefix`.
        timeout: seconds to wait for each admin call.
        token: the server's `--admin-token` (default: the MOCKSERVER_ADMIN_TOKEN variable).
        namespace: work in this namespace: `url` then carries its `/~name` prefix, and every
            call sees only its stubs, requests and state (parallel tests on one server).
    """

    def __init__(
        self,
        url: str,
        *,
        admin_prefix: str = DEFAULT_ADMIN_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        namespace: str | None = None,
        token: str | None = None,
    ) -> None:
        self.server_url, self.url, self.admin_url = _base_url(url, admin_prefix, namespace)
        self.namespace = namespace
        self.admin_prefix = admin_prefix
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._admin_path = urllib.parse.urlsplit(self.admin_url).path
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def in_namespace(self, namespace: str) -> Self:
        """A client of the same server working in `namespace` (created on first use)."""
        return type(self)(
            self.server_url,
            admin_prefix=self.admin_prefix,
            timeout=self.timeout,
            namespace=namespace,
            token=self.token,
        )


class MockServerClient(_BaseClient):
    """A client of a running mock server's admin API, over the standard library only (its
    arguments: `_BaseClient`)."""

    # a test's admin calls go straight to the mock: HTTP(S)_PROXY is meant for the outside world
    _opener: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _run(self, call: _Call[T]) -> T:
        request = urllib.request.Request(
            call.target(self.admin_url), data=call.body, method=call.method
        )
        if call.content_type:
            request.add_header("Content-Type", call.content_type)
        request.add_header("Accept", _JSON)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with self._opener.open(request, timeout=self.timeout + call.wait) as response:
                data, _ = _decode(response.read())
                return call.read(data)
        except urllib.error.HTTPError as error:
            with error:
                data, text = _decode(error.read())
            raise _failure(call, self._admin_path, error.code, data, text) from None

    # stubs

    def add_stub(self, stub: Mapping[str, Any] | str | None = None, /, **fields: Any) -> str:
        """Add one stub: a dict, YAML text, or its fields as keywords; returns its id (the
        first one's, should the text hold several: `add_stubs` returns them all).

        `add_stub(request={"method": "GET", "path": "/v1/x"}, response={"json": {"ok": True}})`
        """
        return self._run(_add_stubs(_stub_body(stub, fields)))[0]

    def add_stubs(self, stubs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str) -> list[str]:
        """Add a list of stubs, a stub document (`{service, base_path, stubs}`) or YAML text."""
        return self._run(_add_stubs(_stub_body(stubs, {})))

    def stub(self, stub_id: str) -> JsonObject:
        return self._run(_Call("GET", _quote(stub_id), dict))

    def stubs(self) -> list[JsonObject]:
        return self._run(_Call("GET", "/stubs", lambda data: list(data["stubs"])))

    def replace_stub(self, stub_id: str, stub: Mapping[str, Any] | str) -> JsonObject:
        call = _add_stubs(stub)
        return self._run(_Call("PUT", _quote(stub_id), dict, call.body, call.content_type))

    def remove_stub(self, stub_id: str) -> None:
        self._run(_Call("DELETE", _quote(stub_id), dict))

    def remove_stubs(self) -> None:
        """Remove every stub added through the admin API (file stubs stay)."""
        self._run(_Call("DELETE", "/stubs", dict))

    def reload(self) -> JsonObject:
        """Re-read the stub files; AdminError lists every `path:line` error on failure."""
        return self._run(_Call("POST", "/stubs/reload", dict))

    # the journal

    def requests(self, **filters: Any) -> list[JournalEntry]:
        """The journal, oldest first; filters: method, path, service, stub_id, matched,
        since_seq, limit, before_seq."""
        return self._run(_Call("GET", "/requests", _entries(), query=_filters(filters)))

    def find(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        **fields: Unpack[RequestFields],
    ) -> list[JournalEntry]:
        """Recorded requests matching a request matcher (a dict, keywords, or both)."""
        matcher = _matcher(request, fields)
        return self._run(_json_call("POST", "/requests/find", matcher, _entries()))

    def count(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        **fields: Unpack[RequestFields],
    ) -> int:
        """How many recorded requests match."""
        matcher = _matcher(request, fields)
        return self._run(_json_call("POST", "/requests/count", matcher, lambda d: int(d["count"])))

    def unmatched(self) -> list[JournalEntry]:
        """Requests no stub matched, each with its `near_misses`."""
        return self._run(_Call("GET", "/requests/unmatched", _entries()))

    def clear_requests(self) -> None:
        self._run(_Call("DELETE", "/requests", dict))

    def stream_requests(
        self, *, since_seq: int | None = None, **filters: Any
    ) -> Iterator[JournalEntry]:
        """Follow the journal live: each entry as it is recorded (with its `near_misses`),
        those after `since_seq` first; filters: method, path, service, stub_id, matched.

        The iterator ends when the server shuts down; leave it early with `break` (the
        connection closes with the generator). `TimeoutError` when the server stays silent
        past the client's `timeout` (it sends heartbeats at half of it).

        `for entry in client.stream_requests(matched=False): print(entry.describe())`
        """
        call = _stream_call(since_seq, self.timeout, filters)
        request = urllib.request.Request(call.target(self.admin_url), method="GET")
        request.add_header("Accept", "text/event-stream")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            response = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            with error:
                data, text = _decode(error.read())
            raise _failure(call, self._admin_path, error.code, data, text) from None
        with response:
            reader = _EventReader()
            for raw in response:
                entry = reader.feed(raw.decode("utf-8"))
                if entry is not None:
                    yield entry

    # assertions

    def verify(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        count: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        within: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> int:
        """Assert how many recorded requests match: exactly `count` (1 unless `at_least` and/or
        `at_most` is given). Returns the count; raises VerificationError otherwise.

        `within` (seconds, at most 30) lets the server wait for requests an asynchronous app
        sends a little later: it answers as soon as the count holds, or when time is up.

        `verify(method="POST", path="/v1/charges", form={"currency": "usd"}, within=2.0)`
        """
        matcher = _matcher(request, fields)
        try:
            return self._run(_verify(matcher, _condition(count, at_least, at_most), within))
        except VerificationError as error:
            raise error.with_received(self.requests(limit=_RECEIVED_SHOWN)) from None

    def verify_sequence(self, requests: Sequence[Mapping[str, Any]]) -> list[int]:
        """Assert that requests matching each matcher happened in this order (others may come
        in between); returns the seq of each."""
        try:
            return self._run(_verify_sequence(requests))
        except VerificationError as error:
            raise error.with_received(self.requests(limit=_RECEIVED_SHOWN)) from None

    # scenarios, lifecycle

    # recordings

    def recordings(self) -> list[Recording]:
        """Each recorded service's stub document in this namespace, with its body files."""
        return self._run(_Call("GET", "/recordings", _recordings))

    def clear_recordings(self) -> int:
        """Forget what this namespace recorded; how many recorded stubs went."""
        return self._run(_Call("DELETE", "/recordings", lambda data: int(data["cleared"])))

    def load_recordings(
        self, mode: str, yaml: str = "", files: Mapping[str, bytes] | None = None
    ) -> int:
        """Set this namespace's record mode (none, once, new_episodes, all) and load what was
        recorded before (stub documents, one per service, and their body files by path); how
        many stubs were loaded."""
        return self._run(_load_recordings(mode, yaml, files))

    def scenarios(self) -> dict[str, str]:
        return self._run(_Call("GET", "/scenarios", lambda data: dict(data["scenarios"])))

    def set_scenario(self, name: str, state: str) -> None:
        path = "/scenarios/" + urllib.parse.quote(name, safe="")
        self._run(_json_call("PUT", path, {"state": state}, dict))

    @property
    def clock(self) -> Clock:
        """The namespace's clock, which `now()` in templates reads: `freeze(at)`, `offset(ms)`,
        `advance(ms)`, `reset()`, `get()`."""
        return Clock(self._run)

    def reset(self) -> None:
        """Clear the journal, scenarios, sequences and counters; remove API-added stubs; put the
        clock back on real time."""
        self._run(_Call("POST", "/reset", dict))

    def remove_namespace(self) -> None:
        """Remove this client's namespace with everything in it (the server frees it)."""
        if self.namespace is None:
            raise ValueError("the default namespace cannot be removed; use reset()")
        root = MockServerClient(self.server_url, admin_prefix=self.admin_prefix, token=self.token)
        root._run(_Call("DELETE", f"/ns/{self.namespace}", dict))

    # callbacks (webhooks)

    def send_callback(
        self, url: str | None = None, *, event: str | None = None, **fields: Any
    ) -> str:
        """Send a callback to the application now; returns its id (delivery goes on in the
        server). `fields` as in a stub's `callbacks:` (json, body, headers, sign, retries,
        delay_ms, timeout_ms, method); `event` names one a stub document declares, which
        `fields` override.

        `send_callback("http://127.0.0.1:8000/hooks", event="stripe/payment_intent.succeeded")`
        """
        return self._run(_send_callback(url, event, fields))

    def callbacks(self) -> list[JsonObject]:
        """Every callback attempt made in this namespace, oldest first."""
        return self._run(_callbacks_call())

    def wait_for_callback(
        self, url_contains: str | None = None, event: str | None = None, timeout: float = 5.0
    ) -> JsonObject:
        """The first callback attempt that finished (delivered, or failed with no retry to
        follow) and fits: its URL contains `url_contains`, it sent `event`. Polls the admin
        API; AssertionError listing the attempts seen after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            attempts = self.callbacks()
            found = _finished(attempts, url_contains, event)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise _no_callback(attempts, url_contains, event, timeout)
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
            delay = min(delay * 2, 0.1)

    def health(self) -> JsonObject:
        return self._run(_Call("GET", "/health", dict))

    def wait_until_ready(self, timeout: float = 10.0) -> JsonObject:
        """Poll health until the server answers; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                return self.health()
            except (OSError, AdminError) as error:
                if time.monotonic() + delay > deadline:
                    raise TimeoutError(
                        f"mock server at {self.url} not ready after {timeout}s: {error}"
                    ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class AsyncMockServerClient(_BaseClient):
    """The async twin of `MockServerClient`, over aiohttp; use `async with` or `aclose()`."""

    _session: aiohttp.ClientSession | None = None  # made on the first call, in its loop

    async def __aenter__(self) -> AsyncMockServerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self, call: _Call[T]) -> T:
        import aiohttp  # here, not at the top: `import mockserver` must not import aiohttp

        if self._session is None:
            # a session belongs to the running loop, so it is made on first use
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        headers = {"Accept": _JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if call.content_type:
            headers["Content-Type"] = call.content_type
        async with self._session.request(
            call.method,
            call.target(self.admin_url),
            data=call.body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout + call.wait),
        ) as response:
            data, text = _decode(await response.read())
            if response.status >= 400:
                raise _failure(call, self._admin_path, response.status, data, text)
            return call.read(data)

    # stubs

    async def add_stub(self, stub: Mapping[str, Any] | str | None = None, /, **fields: Any) -> str:
        return (await self._run(_add_stubs(_stub_body(stub, fields))))[0]

    async def add_stubs(
        self, stubs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str
    ) -> list[str]:
        return await self._run(_add_stubs(_stub_body(stubs, {})))

    async def stub(self, stub_id: str) -> JsonObject:
        return await self._run(_Call("GET", _quote(stub_id), dict))

    async def stubs(self) -> list[JsonObject]:
        return await self._run(_Call("GET", "/stubs", lambda data: list(data["stubs"])))

    async def replace_stub(self, stub_id: str, stub: Mapping[str, Any] | str) -> JsonObject:
        call = _add_stubs(stub)
        return await self._run(_Call("PUT", _quote(stub_id), dict, call.body, call.content_type))

    async def remove_stub(self, stub_id: str) -> None:
        await self._run(_Call("DELETE", _quote(stub_id), dict))

    async def remove_stubs(self) -> None:
        await self._run(_Call("DELETE", "/stubs", dict))

    async def reload(self) -> JsonObject:
        return await self._run(_Call("POST", "/stubs/reload", dict))

    # the journal

    async def requests(self, **filters: Any) -> list[JournalEntry]:
        return await self._run(_Call("GET", "/requests", _entries(), query=_filters(filters)))

    async def find(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        **fields: Unpack[RequestFields],
    ) -> list[JournalEntry]:
        matcher = _matcher(request, fields)
        return await self._run(_json_call("POST", "/requests/find", matcher, _entries()))

    async def count(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        **fields: Unpack[RequestFields],
    ) -> int:
        matcher = _matcher(request, fields)
        return await self._run(
            _json_call("POST", "/requests/count", matcher, lambda d: int(d["count"]))
        )

    async def unmatched(self) -> list[JournalEntry]:
        return await self._run(_Call("GET", "/requests/unmatched", _entries()))

    async def clear_requests(self) -> None:
        await self._run(_Call("DELETE", "/requests", dict))

    async def stream_requests(
        self, *, since_seq: int | None = None, **filters: Any
    ) -> AsyncIterator[JournalEntry]:
        """The async twin of `MockServerClient.stream_requests`."""
        import aiohttp  # here, not at the top: `import mockserver` must not import aiohttp

        call = _stream_call(since_seq, self.timeout, filters)
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(call.target(self.admin_url), headers=headers) as response,
        ):
            if response.status >= 400:
                data, text = _decode(await response.read())
                raise _failure(call, self._admin_path, response.status, data, text)
            reader = _EventReader()
            async for raw in response.content:
                entry = reader.feed(raw.decode("utf-8"))
                if entry is not None:
                    yield entry

    # assertions

    async def verify(
        self,
        request: Mapping[str, Any] | None = None,
        /,
        *,
        count: int | None = None,
        at_least: int | None = None,
        at_most: int | None = None,
        within: float | None = None,
        **fields: Unpack[RequestFields],
    ) -> int:
        matcher = _matcher(request, fields)
        try:
            return await self._run(_verify(matcher, _condition(count, at_least, at_most), within))
        except VerificationError as error:
            raise error.with_received(await self.requests(limit=_RECEIVED_SHOWN)) from None

    async def verify_sequence(self, requests: Sequence[Mapping[str, Any]]) -> list[int]:
        try:
            return await self._run(_verify_sequence(requests))
        except VerificationError as error:
            raise error.with_received(await self.requests(limit=_RECEIVED_SHOWN)) from None

    # scenarios, lifecycle

    # recordings

    async def recordings(self) -> list[Recording]:
        """Each recorded service's stub document in this namespace, with its body files."""
        return await self._run(_Call("GET", "/recordings", _recordings))

    async def clear_recordings(self) -> int:
        """Forget what this namespace recorded; how many recorded stubs went."""
        return await self._run(_Call("DELETE", "/recordings", lambda data: int(data["cleared"])))

    async def load_recordings(
        self, mode: str, yaml: str = "", files: Mapping[str, bytes] | None = None
    ) -> int:
        """Set this namespace's record mode and load what was recorded before (see the sync
        client's `load_recordings`)."""
        return await self._run(_load_recordings(mode, yaml, files))

    async def scenarios(self) -> dict[str, str]:
        return await self._run(_Call("GET", "/scenarios", lambda data: dict(data["scenarios"])))

    async def set_scenario(self, name: str, state: str) -> None:
        path = "/scenarios/" + urllib.parse.quote(name, safe="")
        await self._run(_json_call("PUT", path, {"state": state}, dict))

    @property
    def clock(self) -> AsyncClock:
        return AsyncClock(self._run)

    async def reset(self) -> None:
        await self._run(_Call("POST", "/reset", dict))

    async def remove_namespace(self) -> None:
        if self.namespace is None:
            raise ValueError("the default namespace cannot be removed; use reset()")
        async with AsyncMockServerClient(
            self.server_url, admin_prefix=self.admin_prefix, token=self.token
        ) as root:
            await root._run(_Call("DELETE", f"/ns/{self.namespace}", dict))

    async def send_callback(
        self, url: str | None = None, *, event: str | None = None, **fields: Any
    ) -> str:
        return await self._run(_send_callback(url, event, fields))

    async def callbacks(self) -> list[JsonObject]:
        return await self._run(_callbacks_call())

    async def wait_for_callback(
        self,
        url_contains: str | None = None,
        event: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- the sync twin's signature
    ) -> JsonObject:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            attempts = await self.callbacks()
            found = _finished(attempts, url_contains, event)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                raise _no_callback(attempts, url_contains, event, timeout)
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
            delay = min(delay * 2, 0.1)

    async def health(self) -> JsonObject:
        return await self._run(_Call("GET", "/health", dict))

    async def wait_until_ready(self, timeout: float = 10.0) -> JsonObject:  # noqa: ASYNC109 -- the sync twin's signature
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                return await self.health()
            except (OSError, AdminError) as error:  # aiohttp's connection errors are OSErrors
                if time.monotonic() + delay > deadline:
                    raise TimeoutError(
                        f"mock server at {self.url} not ready after {timeout}s: {error}"
                    ) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)


# --- callbacks ----------------------------------------------------------------------------------


def _send_callback(url: str | None, event: str | None, fields: Mapping[str, Any]) -> _Call[str]:
    body: dict[str, Any] = dict(fields)
    if url is not None:
        body["url"] = url
    if event is not None:
        body["event"] = event
    return _json_call("POST", "/callbacks", body, lambda data: str(data["id"]))


def _callbacks_call() -> _Call[list[JsonObject]]:
    return _Call("GET", "/callbacks", lambda data: list(data["callbacks"]))


def _finished(
    attempts: Sequence[JsonObject], url_contains: str | None, event: str | None
) -> JsonObject | None:
    """The first attempt that ended its callback (delivered, or failed with no retry to
    follow) and fits the filters."""
    for attempt in attempts:
        if attempt.get("outcome") == "retrying":
            continue
        if url_contains is not None and url_contains not in str(attempt.get("url")):
            continue
        if event is not None and attempt.get("event") != event:
            continue
        return attempt
    return None


def _no_callback(
    attempts: Sequence[JsonObject], url_contains: str | None, event: str | None, timeout: float
) -> AssertionError:
    wanted = ", ".join(
        f"{name}={value!r}"
        for name, value in (("url_contains", url_contains), ("event", event))
        if value is not None
    )
    lines = [f"no callback{' with ' + wanted if wanted else ''} finished within {timeout}s"]
    lines.append("attempts seen:" if attempts else "attempts seen: none")
    for attempt in attempts:
        result = attempt.get("status", attempt.get("error"))
        lines.append(
            f"  {attempt.get('id')} #{attempt.get('attempt')} {attempt.get('method')} "
            f"{attempt.get('url')} event={attempt.get('event')} -> {result} "
            f"({attempt.get('outcome')})"
        )
    return AssertionError("\n".join(lines))


# --- the clock --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockState:
    """A namespace's clock as the server reports it (contract section 14): `mode` is "real",
    "frozen" or "offset"; `now` is the clock's time when the server answered."""

    mode: str
    now: datetime
    frozen: datetime | None
    offset_ms: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClockState:
        frozen = data.get("frozen")
        return cls(
            mode=str(data["mode"]),
            now=datetime.fromisoformat(str(data["now"])),
            frozen=None if frozen is None else datetime.fromisoformat(str(frozen)),
            offset_ms=int(data.get("offset_ms") or 0),
        )


def _clock_call(method: str, path: str = "/clock", payload: Any = None) -> _Call[ClockState]:
    if payload is None:
        return _Call(method, path, ClockState.from_json)
    return _json_call(method, path, payload, ClockState.from_json)


def _freeze_call(at: datetime | str) -> _Call[ClockState]:
    if isinstance(at, datetime):
        if at.utcoffset() is None:
            raise ValueError(
                f"freeze(at): {at!r} has no time zone; give one, e.g. tzinfo=datetime.UTC"
            )
        at = at.isoformat()
    return _clock_call("PUT", payload={"frozen": at})


class Clock:
    """`client.clock`: the clock of the client's namespace, which `now()` in templates reads
    (the journal's `time` and the `Date` header stay real). Each call returns the clock as the
    server then reports it. A namespace's clock starts as the default namespace's; a reset puts
    it back on real time.

    `client.clock.freeze("2026-01-01T00:00:00Z")`, then `client.clock.advance(60_000)`.
    """

    def __init__(self, run: Callable[[_Call[ClockState]], ClockState]) -> None:
        self._run = run

    def get(self) -> ClockState:
        return self._run(_clock_call("GET"))

    def freeze(self, at: datetime | str) -> ClockState:
        """Stop the clock at `at`: an aware datetime, or RFC 3339 text with a zone."""
        return self._run(_freeze_call(at))

    def offset(self, ms: int) -> ClockState:
        """Run the clock at real time plus `ms` milliseconds (may be negative)."""
        return self._run(_clock_call("PUT", payload={"offset_ms": ms}))

    def advance(self, ms: int) -> ClockState:
        """Move a frozen clock by `ms` milliseconds, or add them to the offset of a running one."""
        return self._run(_clock_call("POST", "/clock/advance", {"ms": ms}))

    def reset(self) -> ClockState:
        """Back to real time."""
        return self._run(_clock_call("DELETE"))


class AsyncClock:
    """The async twin of `Clock`: `await client.clock.freeze(at)`."""

    def __init__(self, run: Callable[[_Call[ClockState]], Awaitable[ClockState]]) -> None:
        self._run = run

    async def get(self) -> ClockState:
        return await self._run(_clock_call("GET"))

    async def freeze(self, at: datetime | str) -> ClockState:
        return await self._run(_freeze_call(at))

    async def offset(self, ms: int) -> ClockState:
        return await self._run(_clock_call("PUT", payload={"offset_ms": ms}))

    async def advance(self, ms: int) -> ClockState:
        return await self._run(_clock_call("POST", "/clock/advance", {"ms": ms}))

    async def reset(self) -> ClockState:
        return await self._run(_clock_call("DELETE"))

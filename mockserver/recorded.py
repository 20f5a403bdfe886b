"""Recorded: one upstream exchange -> a stub spec as a person would write it, and a service's
recorded stubs -> its stub document (PRODUCT.md §11).

The request becomes a matcher of its method, path, query, a JSON-subset or form body, and
`{present: true}` for each credential header it carried (no other header); the answer becomes
its status, the headers worth keeping (no `Date`, `Server`, hop-by-hop, length or other per-call
headers, except `Content-Length` on an answer to `HEAD`), and `json`, `body`, `body_file` (under
`__files/`, for binary) or `sse` events with their `interval_ms` rounded to 10 ms. Secrets pass
through `Redaction` first: a redacted value is matched as `{present: true}` or left out of a
JSON subset, so the stub still matches what was recorded. Identical requests with different
answers make a `responses` sequence. The same exchanges in the same order give the same bytes:
ids come from method and path, keys keep a fixed order, headers are sorted. Pure: no I/O.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import JsonValue

from mockserver.incoming import HOP_BY_HOP, NotJson
from mockserver.redaction import Redaction
from mockserver.spec import RequestSpec, ResponseSpec, StubSpec

BODY_FILES: Final = "__files"

VOLATILE_HEADERS: Final = (
    frozenset(
        {
            # per call, never the same twice
            "date",
            # the upstream's software and version: the mock names its own
            "server",
            "x-amz-date",
            "idempotency-key",
            "user-agent",
            # computed by the server from the answer it sends (decoded: no encoding of its own)
            "content-length",
            "content-encoding",
        }
    )
    | HOP_BY_HOP
)
"""Answer headers a recording leaves out (`Content-Length` stays on answers to HEAD)."""

_SLUG: Final = re.compile(r"[^A-Za-z0-9_.]+")
_PRESENT: Final[dict[str, Any]] = {"present": True}


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """An upstream's whole answer as it ended: `arrivals` holds, for each part of the body as it
    arrived, its end offset in `body` and its time in seconds after the head."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    arrivals: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """What a recorded exchange's request gave: its matcher and what the stub id is made of."""

    spec: RequestSpec
    method: str
    path: str


def recorded_request(
    method: str,
    path: str,
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
    body: bytes,
    parsed_json: JsonValue | NotJson,
    redaction: Redaction,
) -> RecordedRequest:
    """The matcher for a recorded request; `path` is the path after the document's base_path.

    ("POST", "/v1/charges", {}, {"authorization": "Bearer sk_test_x", "content-type":
    "application/x-www-form-urlencoded"}, b"amount=2000", ...) -> method POST, path /v1/charges,
    headers {Authorization: {present: true}}, body {form: {amount: "2000"}}
    """
    # plain data, validated as a stub file's would be (shorthands included)
    fields: dict[str, Any] = {"method": method}
    if "{" in path or "}" in path:  # a literal path, not a template with parameters
        fields["path"] = {"equals": path or "/"}
    else:
        fields["path"] = path or "/"
    if query:
        fields["query"] = {
            name: _value_matcher(values, redaction.is_secret_query(name), redaction)
            for name, values in sorted(query.items())
        }
    credentials = {
        _header_name(name): _PRESENT for name in sorted(headers) if redaction.is_secret_header(name)
    }
    if credentials:
        fields["headers"] = credentials
    body_matcher = _body_matcher(headers, body, parsed_json, redaction)
    if body_matcher is not None:
        fields["body"] = body_matcher
    return RecordedRequest(RequestSpec.model_validate(fields), method, path)


def _header_name(lowered: str) -> str:
    """ "x-api-key" -> "X-Api-Key": as people write header names."""
    return "-".join(part[:1].upper() + part[1:] for part in lowered.split("-"))


def _value_matcher(values: Sequence[str], secret: bool, redaction: Redaction) -> Any:
    """`usd`, `[a, b]` (each sent), or {present: true} for a secret."""
    if secret or any(redaction.text(value) != value for value in values):
        return _PRESENT
    if len(values) == 1:
        return values[0]
    return list(values)


def _body_matcher(
    headers: Mapping[str, str],
    body: bytes,
    parsed_json: JsonValue | NotJson,
    redaction: Redaction,
) -> dict[str, Any] | None:
    if not body:
        return None
    content_type = headers.get("content-type", "").lower()
    if not isinstance(parsed_json, NotJson):
        kept = _subset_without_secrets(parsed_json, redaction.json_value(parsed_json))
        if kept is _DROPPED:
            return None
        return {"json": kept}
    if content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qs

        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return None
        return {
            "form": {
                name: _value_matcher(values, redaction.is_secret_query(name), redaction)
                for name, values in form.items()
            }
        }
    return None  # text or binary bodies: matched on method, path and query alone


_DROPPED: Final = object()


def _subset_without_secrets(original: Any, redacted: Any) -> Any:
    """The JSON subset that still matches what was sent: keys whose values were redacted are
    left out (a subset matches with fewer keys); a changed array or scalar cannot be matched in
    part, so it goes whole (`_DROPPED` at the top)."""
    if original == redacted:
        return original
    if isinstance(original, dict) and isinstance(redacted, dict):
        kept = {}
        for key, value in original.items():
            inner = _subset_without_secrets(value, redacted.get(key))
            if inner is not _DROPPED:
                kept[key] = inner
        return kept
    return _DROPPED


def recorded_response(
    answer: UpstreamAnswer, method: str, file_stem: str, redaction: Redaction
) -> tuple[ResponseSpec, dict[str, bytes]]:
    """The response spec of an upstream answer, and the body files it refers to (by their path
    relative to the stub file: {"__files/s3-get-b-k-3f2a9c01d4.bin": b"..."}, named by their
    content)."""
    fields: dict[str, Any] = {"status": answer.status}
    headers = _kept_headers(answer.headers, method, redaction)
    content_type = _content_type(answer.headers)
    body = _decoded(answer.body, answer.headers)
    files: dict[str, bytes] = {}
    if body is None:  # an encoding that does not decode: kept as the bytes that came
        body = answer.body
        encoding = _first(answer.headers, "content-encoding")
        if encoding is not None:
            headers["Content-Encoding"] = encoding
    media = content_type.split(";")[0].strip().lower()
    if body and method != "HEAD":  # a HEAD answer has no body; its length stays a header
        if media == "text/event-stream" and (events := sse_events(body, redaction)) is not None:
            fields["sse"] = {
                "events": events,
                "interval_ms": _interval_ms(body, answer.arrivals, len(events)),
            }
        elif _is_json(media) and (parsed := _json(body)) is not _DROPPED:
            fields["json"] = redaction.json_value(parsed)
        elif (text := _text(body, media)) is not None:
            fields["body"] = redaction.text(text)
        else:
            # named by content: the same body twice is one file, and equal answers compare equal
            digest = hashlib.sha256(body).hexdigest()[:10]
            name = f"{BODY_FILES}/{file_stem}-{digest}{_extension(media)}"
            files[name] = body
            fields["body_file"] = name
    if headers:
        fields["headers"] = headers
    return ResponseSpec.model_validate(fields), files


def _kept_headers(
    lines: Iterable[tuple[str, str]], method: str, redaction: Redaction
) -> dict[str, str | list[str]]:
    grouped: dict[str, tuple[str, list[str]]] = {}
    for name, value in lines:
        lowered = name.lower()
        if lowered in VOLATILE_HEADERS and not (method == "HEAD" and lowered == "content-length"):
            continue
        grouped.setdefault(lowered, (name, []))[1].append(redaction.header(name, value))
    return {
        name: values[0] if len(values) == 1 else values
        for _, (name, values) in sorted(grouped.items())
    }


def _first(lines: Iterable[tuple[str, str]], lowered: str) -> str | None:
    return next((value for name, value in lines if name.lower() == lowered), None)


def _content_type(lines: Iterable[tuple[str, str]]) -> str:
    return _first(lines, "content-type") or ""


def _decoded(body: bytes, lines: Iterable[tuple[str, str]]) -> bytes | None:
    """The body without its Content-Encoding (a recording asks for none, but an upstream may
    send one anyway); None when it does not decode."""
    encoding = (_first(lines, "content-encoding") or "identity").strip().lower()
    try:
        if encoding in ("identity", ""):
            return body
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return _DROPPED


_TEXT_TYPES: Final = (
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
)


def _text(body: bytes, media: str) -> str | None:
    """The body as text when its type is textual (or unknown) and it is UTF-8 without control
    characters a stub file could not hold as they are."""
    if media and not (media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml")):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(char) < 32 and char not in "\t\n\r" for char in text) or "\r" in text:
        return None  # exact bytes matter here (a YAML file normalises CR LF): keep it binary
    return text


def _extension(media: str) -> str:
    guessed = mimetypes.guess_extension(media) if media else None
    return guessed or ".bin"


def sse_events(body: bytes, redaction: Redaction) -> list[dict[str, Any]] | None:
    """The events of a text/event-stream body, or None when it is not one a stub can replay
    (not UTF-8, no events)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    events = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text):
        fields: dict[str, Any] = {}
        data: list[str] = []
        for line in re.split(r"\r\n|\n|\r", block):
            if not line or line.startswith(":"):
                continue  # a comment (a keep-alive ping)
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name in ("id", "event"):
                fields[name] = value
            elif name == "retry" and value.isdigit():
                fields["retry"] = int(value)
        if not data and not fields:
            continue
        joined = "\n".join(data)
        fields["data"] = _event_data(joined, redaction)
        events.append(fields)
    return events or None


def _event_data(text: str, redaction: Redaction) -> JsonValue:
    """An object or list as JSON (a stub sends it back on one line), anything else as text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return redaction.text(text)
    if isinstance(parsed, dict | list) and json.dumps(parsed, separators=(",", ":")) == text:
        redacted: JsonValue = redaction.json_value(parsed)
        return redacted
    return redaction.text(text)


def _interval_ms(body: bytes, arrivals: Sequence[tuple[int, float]], count: int) -> int:
    """The mean gap between events as they arrived, rounded to 10 ms (0 for one event, or when
    the whole stream came at once)."""
    if count < 2 or not arrivals:
        return 0
    ends = [match.end() for match in re.finditer(rb"\r\n\r\n|\n\n|\r\r", body)][:count]
    if len(ends) < 2:
        return 0
    times = [_arrival(arrivals, end) for end in ends]
    mean = (times[-1] - times[0]) / (len(times) - 1)
    return round(mean * 100) * 10


def _arrival(arrivals: Sequence[tuple[int, float]], offset: int) -> float:
    """When the byte at `offset` had arrived."""
    for end, seconds in arrivals:
        if end >= offset:
            return seconds
    return arrivals[-1][1]


def stub_id(service: str, method: str, path: str, taken: set[str]) -> str:
    """ "openai", "POST", "/v1/chat/completions" -> "openai-post-v1-chat-completions"; then
    "-2", "-3"... for more requests of the same method and path (not in `taken`)."""
    slug = _SLUG.sub("-", path).strip("-.")[:80] or "root"
    base = f"{service}-{method.lower()}-{slug}"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


@dataclass(frozen=True, slots=True)
class RecordedStub:
    """One stub of a recording: its spec so far and the body files its responses use (a value:
    recordings are state that replicas share, changed by replacing stubs)."""

    spec: StubSpec
    files: Mapping[str, bytes] = field(default_factory=dict)


def with_answer(
    stub: RecordedStub, response: ResponseSpec, files: Mapping[str, bytes]
) -> RecordedStub:
    """A stub whose request was recorded again, with its new answer: the same answer leaves it
    as it was, a different one makes (or extends) a `responses` sequence."""
    answers = stub.spec.answers
    if all(answer == response for answer in answers):
        return stub
    spec = stub.spec.model_copy(update={"response": None, "responses": [*answers, response]})
    return RecordedStub(spec, {**stub.files, **files})


def document_text(
    service: str, base_path: str, stubs: Sequence[StubSpec], comment: str | None = None
) -> str:
    """A service's recording as a stub file."""
    # imported here: a server that records nothing never loads the writer (start-up cost)
    from mockserver.writer import Document, write_documents

    return write_documents(
        [Document(tuple(stubs), service=service, base_path=base_path)], comment=comment
    )


__all__ = [
    "RecordedRequest",
    "RecordedStub",
    "UpstreamAnswer",
    "document_text",
    "recorded_request",
    "recorded_response",
    "stub_id",
    "with_answer",
]

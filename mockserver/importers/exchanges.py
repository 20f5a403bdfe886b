"""A recorded exchange (request and response, as a cassette or HAR file holds it) -> a drafted
stub, the same way for every format. Pure: no I/O.

What a recorded request becomes (PRODUCT.md §11): method, path, query, a JSON-subset or form
body, and `{present: true}` for each credential header it carried; no other header (Date,
User-Agent, Idempotency-Key... differ on every run). A response keeps its status, the headers
worth keeping, `json` for a JSON body, `body` for text, a body file for binary. Secrets go
through `Redaction`: a matcher on a secret value becomes `{present: true}`, a written value
`REDACTED`. Identical requests with different answers become one stub with a `responses`
sequence.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from mockserver.importers.output import Draft, DraftResponse, slug
from mockserver.importers.report import Problems
from mockserver.incoming import HOP_BY_HOP
from mockserver.recorded import sse_events
from mockserver.redaction import REDACTED, Redaction

PRESENT: Final = {"present": True}

# Response headers that describe this one transfer, the server software or a CDN's path, not
# the API's answer.
_VOLATILE_RESPONSE: Final = frozenset(
    {"date", "age", "server", "content-length", "content-encoding", "alt-svc", "nel", "report-to",
     "server-timing", "x-cache", "x-cache-hits", "x-served-by", "x-timer", "via", "cf-ray",
     "cf-cache-status", "expect-ct"}
)  # fmt: skip
_BINARY_EXTENSIONS: Final = {
    "application/gzip": ".gz",
    "application/octet-stream": ".bin",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/svg+xml": ".svg",
    "image/webp": ".webp",
    "audio/mpeg": ".mp3",
    "video/mp4": ".mp4",
}
_TEXT_TYPES: Final = re.compile(
    r"^(text/|application/(.*[+/])?(json|xml|javascript|x-www-form-urlencoded)\b)"
)
_JSON_TYPE: Final = re.compile(r"^application/(.*\+)?json\b|^text/json\b")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0e-\x1f]")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One recorded request and its answer; bodies as the bytes the client sent or received
    (a response may still carry its Content-Encoding: it is decoded here)."""

    source: str  # the input file
    entry: str  # where in it: "interactions[3]", "log.entries[0]"
    method: str
    url: str
    request_headers: Sequence[tuple[str, str]]
    request_body: bytes
    status: int
    response_headers: Sequence[tuple[str, str]]
    response_body: bytes


def drafts_from(
    exchanges: Iterable[Exchange],
    services: dict[str, str],
    redaction: Redaction,
    problems: Problems,
) -> list[Draft]:
    """One draft per distinct request, in the order first seen; `services` maps each URL's
    host (with its port) to its service name."""
    drafts: dict[str, Draft] = {}
    for exchange in exchanges:
        if not 200 <= exchange.status <= 599:
            problems.add(
                exchange.source,
                f"{exchange.entry}.response.status",
                f"{exchange.status} is not a final answer (200-599): exchange left out",
            )
            continue
        url = urlsplit(exchange.url)
        service = services[host_of(exchange.url)]
        request = request_matcher(exchange, redaction, problems)
        response = draft_response(
            exchange.status,
            exchange.response_headers,
            exchange.response_body,
            redaction,
            head=exchange.method.upper() == "HEAD",
        )
        key = json.dumps([service, request], sort_keys=True)
        origin = (exchange.source, exchange.entry)
        if key in drafts:
            drafts[key].responses.append(response)
            drafts[key].origins.append(origin)
            continue
        name = slug(f"{exchange.method} {unquote(url.path)}")
        drafts[key] = Draft(service, name, request, [response], [origin])
    for draft in drafts.values():
        if all(response.same_as(draft.responses[0]) for response in draft.responses):
            del draft.responses[1:]
    return list(drafts.values())


def host_of(url: str) -> str:
    """The host (with its port, as written) a URL goes to, lower-cased."""
    return urlsplit(url).netloc.lower().rpartition("@")[2]


# --- the request ------------------------------------------------------------------------------


def request_matcher(exchange: Exchange, redaction: Redaction, problems: Problems) -> dict[str, Any]:
    url = urlsplit(exchange.url)
    path = stub_path(url.path)
    matcher: dict[str, Any] = {"method": exchange.method.upper()}
    # `{name}` in a stub path captures a segment: a literal brace is matched with `equals`
    matcher["path"] = {"equals": path} if "{" in path or "}" in path else path
    query = _parameters(parse_qsl(url.query, keep_blank_values=True), redaction)
    if query:
        matcher["query"] = query
    credentials: dict[str, Any] = {}
    for name, _ in exchange.request_headers:
        if redaction.is_secret_header(name) and name.lower() not in map(str.lower, credentials):
            credentials[name] = PRESENT
    if credentials:
        matcher["headers"] = credentials
    body = _body_matcher(exchange, redaction, problems)
    if body:
        matcher["body"] = body
    return matcher


def stub_path(raw: str) -> str:
    """A path as sent -> as a stub writes it: each segment percent-decoded, but a `/` or `%`
    inside a segment kept encoded, so it stays one segment (PRODUCT.md §10).

    /menu/caf%C3%A9 -> /menu/café; /projects/group%2Fproject -> /projects/group%2Fproject
    """
    segments = (unquote(segment) for segment in (raw or "/").split("/"))
    return "/".join(segment.replace("%", "%25").replace("/", "%2F") for segment in segments)


def _parameters(pairs: Iterable[tuple[str, str]], redaction: Redaction) -> dict[str, Any]:
    """Query or form pairs -> matchers: a secret value is only `{present: true}`; a parameter
    sent several times lists its values."""
    values: dict[str, list[Any]] = {}
    for name, value in pairs:
        secret = redaction.is_secret_query(name) or redaction.text(value) != value
        values.setdefault(name, []).append(PRESENT if secret else value)
    return {name: found[0] if len(found) == 1 else found for name, found in values.items()}


def _body_matcher(
    exchange: Exchange, redaction: Redaction, problems: Problems
) -> dict[str, Any] | None:
    raw = exchange.request_body
    if not raw:
        return None
    content_type = header(exchange.request_headers, "content-type").lower()
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        problems.add(
            exchange.source,
            f"{exchange.entry}.request.body",
            f"binary body ({content_type or 'no Content-Type'}, {len(raw)} bytes) "
            "not matched: the stub answers any body",
        )
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {"form": _parameters(parse_qsl(text, keep_blank_values=True), redaction)}
    if content_type.startswith("multipart/"):
        problems.add(
            exchange.source,
            f"{exchange.entry}.request.body",
            "multipart body not matched: the stub answers any body",
        )
        return None
    parsed = _json_or_none(text) if _JSON_TYPE.match(content_type) or not content_type else None
    if isinstance(parsed, dict | list):
        return json_body_matcher(parsed, redaction.json_value(parsed))
    redacted = redaction.text(text)
    if redacted == text:
        return {"equals": text}
    # each secret becomes "some token" in an otherwise exact pattern
    pieces = [re.escape(piece) for piece in redacted.split(REDACTED)]
    return {"matches": r"[^\s&\"']+".join(pieces)}


def json_body_matcher(original: Any, redacted: Any) -> dict[str, Any]:
    """`json` (a subset) for what may be written, `json_path: {present: true}` for each member
    that holds a secret: {"key": "sk_test_..."} -> json: {}, json_path: {"$['key']": present}"""
    paths: dict[str, Any] = {}
    subset = _without_secrets(original, redacted, "$", paths)
    matcher: dict[str, Any] = {}
    if subset is not _REMOVED:
        matcher["json"] = subset
    if paths:
        matcher["json_path"] = paths
    return matcher


_REMOVED: Final = object()


def _without_secrets(original: Any, redacted: Any, path: str, paths: dict[str, Any]) -> Any:
    if original == redacted:
        return original
    if isinstance(original, dict) and isinstance(redacted, dict):
        kept: dict[str, Any] = {}
        for key, value in original.items():
            member = _without_secrets(value, redacted.get(key), f"{path}[{_quoted(key)}]", paths)
            if member is not _REMOVED:
                kept[key] = member
        return kept
    # a list compares element by element with its length: the whole list is only "present"
    paths[path] = PRESENT
    return _REMOVED


def _quoted(key: str) -> str:
    return "'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- the response -----------------------------------------------------------------------------


def draft_response(
    status: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    redaction: Redaction,
    *,
    head: bool = False,
) -> DraftResponse:
    """A recorded answer as response fields: status, the headers worth keeping, the body as
    `json`, `body` or (binary) a body file."""
    body, still_encoded = _decoded(body, header(headers, "content-encoding"))
    fields: dict[str, Any] = {"status": status}
    kept = response_headers(headers, keep_length=head, keep_encoding=still_encoded)
    if kept:
        fields["headers"] = redaction.header_map(kept)
    if not body:
        return DraftResponse(fields)
    content_type = header(headers, "content-type").lower()
    text = None if still_encoded else _text_or_none(body, content_type)
    if text is not None and content_type.partition(";")[0].strip() == "text/event-stream":
        events = sse_events(body, redaction)
        if events is not None:  # replayed as a stream; an export holds no time between events
            fields["sse"] = {"events": events}
            return DraftResponse(fields)
    if text is not None and _JSON_TYPE.match(content_type):
        parsed = _json_or_none(text)
        if parsed is not None or text.strip() == "null":
            fields["json"] = redaction.json_value(parsed)
            return DraftResponse(fields)
    if text is not None:
        fields["body"] = redaction.text(text)
        return DraftResponse(fields)
    media = content_type.partition(";")[0].strip()
    return DraftResponse(fields, body, _BINARY_EXTENSIONS.get(media, ".bin"))


def response_headers(
    headers: Iterable[tuple[str, str]], *, keep_length: bool = False, keep_encoding: bool = False
) -> dict[str, Any]:
    """Headers worth keeping, the first spelling of each name, a repeated one as a list."""
    kept: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith(":") or lower in HOP_BY_HOP:
            continue
        if lower in _VOLATILE_RESPONSE and not (
            (keep_length and lower == "content-length")
            or (keep_encoding and lower == "content-encoding")
        ):
            continue
        kept.setdefault(spelling.setdefault(lower, name), []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in kept.items()}


def header(headers: Iterable[tuple[str, str]], name: str) -> str:
    """The first value of a header (case-insensitive), or ""."""
    return next((value for key, value in headers if key.lower() == name), "")


def _decoded(body: bytes, encoding: str) -> tuple[bytes, bool]:
    """The body without its Content-Encoding, and whether it is still encoded. Recorders
    differ: some keep the bytes as sent, some the decoded ones under the same header."""
    coding = encoding.strip().lower()
    if not body or coding in ("", "identity"):
        return body, False
    try:
        if coding in ("gzip", "x-gzip"):
            return gzip.decompress(body), False
        if coding == "deflate":
            try:
                return zlib.decompress(body), False
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS), False
    except (OSError, EOFError, zlib.error):
        return body, False  # not compressed after all: recorded decoded
    # br, zstd...: decoded when it reads as text, else kept with its header
    return body, _text_or_none(body, "") is None


def _text_or_none(body: bytes, content_type: str) -> str | None:
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    if _TEXT_TYPES.match(content_type) or not _CONTROL.search(text):
        return text
    return None


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None

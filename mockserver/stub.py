"""Stub: one loaded stub, ready to serve. Built by the loader, ordered by the store.

A `Stub` keeps its validated spec (for the admin API's listing), its compiled request matcher and
its responses with their bodies already read and serialised, so answering costs no file read and
no JSON encoding. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final, Literal

from mockserver.callbacks import CompiledCallback
from mockserver.matching import RequestMatcher
from mockserver.spec import ProxySpec, StubSpec
from mockserver.templating import Renderable

Origin = Literal["file", "api"]


def json_bytes(value: Any, *, compact: bool = True) -> bytes:
    """UTF-8 JSON. A lone surrogate (JSON allows `"\\ud800"`, UTF-8 does not) goes back out as
    the same escape instead of failing the whole answer."""
    separators = (",", ":") if compact else (", ", ": ")
    text = json.dumps(value, ensure_ascii=False, separators=separators, default=str)
    return text.encode("utf-8", "backslashreplace")


API_SOURCE: Final = "api"


@dataclass(frozen=True, slots=True)
class ResponseTemplates:
    """The compiled templates of a `template: true` response, rendered per request.

    `headers` holds the stub's own headers (rendered over the prepared ones); `body` renders to
    JSON when `body_is_json`, else to text.
    """

    headers: tuple[tuple[str, Renderable], ...]
    body: Renderable | None
    body_is_json: bool


@dataclass(frozen=True, slots=True)
class PreparedResponse:
    """A response ready to send; `headers` already include the Content-Type.

    `stream` holds pre-encoded SSE frames or chunk parts, sent `interval_ms` apart; `delay_ms`
    is a (min, max) range; `fault` replaces the answer with a broken connection. `headers` never
    hold the framing headers the HTTP layer computes (Content-Length, Transfer-Encoding,
    Connection: `close` says what a stub's `Connection: close` meant). `head` is the
    status line and headers as sent, up to the per-second Date (see `serialised_head`).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    delay_ms: tuple[int, int] | None = None
    fault: str | None = None
    stream: tuple[bytes, ...] | None = None
    interval_ms: int = 0
    templates: ResponseTemplates | None = None
    fixed: bool = False
    """The same bytes every time, sent at once (`ResponseSpec.is_fixed`): only such responses
    are answered by the request path's fast answers. False unless the builder says so."""
    close: bool = False
    """The stub said `Connection: close`: the connection is closed after this answer."""
    proxy: ProxySpec | None = None
    """Forward to an upstream instead (the other fields stay unused)."""
    head_length: str | None = None
    """A bodiless response's own Content-Length, sent only in answer to HEAD (what a recorded
    HEAD answer said of the body it did not send)."""
    # derived, never passed: a `dataclasses.replace` recomputes it from the fields it changes
    head: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.templates is None and self.stream is None and not self.close and self.proxy is None:
            object.__setattr__(self, "head", serialised_head(self.status, self.headers, self.body))


# Headers the HTTP layer owns: a response that sets one of them is not pre-serialised.
_HTTP_LAYER_HEADERS: Final = frozenset(
    ("content-length", "transfer-encoding", "connection", "date", "server", "content-encoding")
)
_REASONS: Final = {status.value: status.phrase for status in HTTPStatus}


def serialised_head(status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> bytes | None:
    """HTTP/1.1 status line, the stub's headers and Content-Length, as aiohttp would write them,
    so that a fixed answer is sent as bytes prepared once. None where the HTTP layer must decide
    (a status without a body, a header it owns, text beyond ISO-8859-1)."""
    if status < 200 or status in (204, 304):
        return None
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}"]
    typed = False
    for name, value in headers:
        lowered = name.lower()
        if lowered in _HTTP_LAYER_HEADERS:
            return None
        typed = typed or lowered == "content-type"
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    if body and not typed:
        lines.append("Content-Type: application/octet-stream")
    try:  # header text beyond ASCII goes as ISO-8859-1 (HTTP's rule), as the responder's does
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")
    except UnicodeEncodeError:
        return None


@dataclass(frozen=True, slots=True)
class Stub:
    """A stub as the server uses it.

    `order` is its position among stubs of the same origin: file order for file stubs, the
    sequence number of the admin call for API stubs (newer ones win, so they sort first).
    """

    id: str
    source: str
    origin: Origin
    order: int
    spec: StubSpec
    service: str | None
    base_path: str | None
    host: str | None
    matcher: RequestMatcher
    responses: tuple[PreparedResponse, ...]
    cors: bool = False
    """Its document said `cors: true`: preflights for it are answered, its answers carry CORS
    headers (see `cors`)."""
    callbacks: tuple[CompiledCallback, ...] = ()
    """Sent to the application after each answer (webhooks); empty for most stubs."""

    def response_for(self, hits: int) -> PreparedResponse:
        """The response a sequence gives at this hit count (the last one repeats); the first
        for a count of 0 (an `unmatched: true` stub shaping a miss)."""
        responses = self.responses
        return responses[min(max(hits, 1), len(responses)) - 1]

    @property
    def claim_free(self) -> bool:
        """Whether its answers need no claim in the state before them: nothing can refuse it
        (no `times`, no scenario, not an `unmatched` shaper) and nothing reads its count (one
        response, not a template, no callbacks). Its hit is counted with its journal entry
        (`NamespaceState.record_counted`)."""
        spec = self.spec
        responses = self.responses
        return (
            spec.times is None
            and spec.scenario is None
            and not spec.unmatched
            and len(responses) == 1
            and responses[0].templates is None
            and not self.callbacks
        )

    @property
    def priority(self) -> int:
        return self.spec.priority

    @property
    def sort_key(self) -> tuple[int, int, int]:
        """Lower priority first; at equal priority API stubs (newest first), then file order."""
        if self.origin == "api":
            return (self.priority, 0, -self.order)
        return (self.priority, 1, self.order)

    def describe(self) -> dict[str, Any]:
        """The stub as the admin API shows it (without hits, which live in the state)."""
        described: dict[str, Any] = {"id": self.id, "source": self.source}
        if self.service is not None:
            described["service"] = self.service
        if self.base_path is not None:
            described["base_path"] = self.base_path
        if self.host is not None:
            described["host"] = self.host
        if self.cors:
            described["cors"] = True
        described.update(
            self.spec.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude={"id"})
        )
        return described

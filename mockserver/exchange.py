"""Exchange: one mocked request as received and how the mock answered it.

The one value the journal takes (`Journal.record`) and gives back, numbered, as a
`JournalEntry`. A journal field is added here (and, to be kept, in the journal implementations'
storage and the entry's JSON below), never at the call sites that record.

The classes are slotted and mutable only by convention: a frozen dataclass's `__init__` costs
four times as much, and one `Exchange` is built for every mocked request. Pure: no I/O.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from mockserver import multipart
from mockserver.incoming import IncomingRequest, decoded_path
from mockserver.nearmiss import NearMiss

_BOOT: Final = uuid.uuid4().hex[:12]
"""Makes entry ids unique across server restarts while costing nothing per request."""


@dataclass(slots=True)
class Outcome:
    """How the mock answered: the stub that matched (if any), the status sent, and what went
    wrong on the way. `status` is None when no HTTP answer was sent on purpose (a fault)."""

    matched: bool
    status: int | None
    stub_id: str | None = None
    service: str | None = None
    near_misses: tuple[NearMiss, ...] = ()
    """The closest stubs of an unmatched request."""
    error: str | None = None
    fault: str | None = None
    proxied_to: str | None = None
    """The upstream URL a proxied request was forwarded to."""
    upstream_status: int | None = None
    """The status the upstream answered (None when it did not answer)."""


def is_preflight(method: str, matched: bool, stub_id: str | None, status: int | None) -> bool:
    """Whether an exchange is a CORS preflight the server answered itself (`cors`): an OPTIONS
    answered 204 as matched, with no stub. Read from fields every journal stores, so none
    needs a field of its own."""
    return matched and stub_id is None and status == 204 and method == "OPTIONS"


@dataclass(slots=True)
class Exchange:
    """A request as received (`request`), its outcome, when it arrived (real time, Unix seconds)
    and how long the mock took to decide its answer."""

    request: IncomingRequest
    outcome: Outcome
    time: float
    duration_ms: float


Rare = tuple[Any, ...]
"""The fields most exchanges leave unset, as plain values in one tuple (see `rare_fields`)."""

_NOT_RARE: Final[Rare] = ((), None, None, None, None, False, None, None, None, None, None)


def rare_fields(exchange: Exchange) -> Rare | None:
    """What a journal stores beside an exchange's common fields, None when all are unset: near
    misses (packed), error, fault, client certificate subject, body size, body truncated, content
    encoding, raw body, raw path (the path as sent, only when it differs from `path`), upstream
    URL and status. Plain values only, so a stored record leaves the garbage collector's view;
    every journal implementation stores it through this one function and `unpack_rare`."""
    request, outcome = exchange.request, exchange.outcome
    if not (
        outcome.near_misses
        or outcome.error
        or outcome.fault
        or request.client_cert
        or request.body_truncated
        or request.content_encoding
        or request.raw_path
        or outcome.proxied_to
    ):
        return None
    return (
        tuple(near_miss.packed() for near_miss in outcome.near_misses),
        outcome.error,
        outcome.fault,
        request.client_cert,
        request.body_size,
        request.body_truncated,
        request.content_encoding,
        request.raw_body,
        request.raw_path,
        outcome.proxied_to,
        outcome.upstream_status,
    )


@dataclass(frozen=True, slots=True)
class Unpacked:
    """`rare_fields` read back: the outcome's part and the request's part."""

    near_misses: tuple[NearMiss, ...]
    error: str | None
    fault: str | None
    request: dict[str, Any]
    """Keywords of `IncomingRequest.from_wire`."""
    proxied_to: str | None = None
    upstream_status: int | None = None


def unpack_rare(rare: Sequence[Any] | None) -> Unpacked:
    """The inverse of `rare_fields`; the raw body may come back as bytes or as base64 text (a
    store that keeps JSON). A record stored before a field was added reads it as unset."""
    if rare is None:
        rare = _NOT_RARE
    elif len(rare) < len(_NOT_RARE):
        rare = (*rare, *_NOT_RARE[len(rare) :])
    (packed, error, fault, cert, body_size, truncated, encoding, raw_body, raw_path, proxied_to,
     upstream_status) = rare  # fmt: skip
    if isinstance(raw_body, str):
        raw_body = base64.b64decode(raw_body)
    return Unpacked(
        tuple(NearMiss.unpacked(tuple(values)) for values in packed),
        error,
        fault,
        {
            "body_size": body_size,
            "body_truncated": truncated,
            "client_cert": cert,
            "content_encoding": encoding,
            "raw_body": raw_body,
            "raw_path": raw_path,
        },
        proxied_to,
        upstream_status,
    )


@dataclass(slots=True)
class JournalEntry:
    """An exchange as the journal holds it: numbered by `seq` within its namespace."""

    seq: int
    exchange: Exchange
    origin: str = _BOOT
    """What makes `id` unique beyond `seq`: this process's boot id for a journal in memory; for a
    journal replicas share, the id that journal got when it began, so every replica gives an
    entry the same id."""

    @property
    def request(self) -> IncomingRequest:
        return self.exchange.request

    @property
    def outcome(self) -> Outcome:
        return self.exchange.outcome

    @property
    def id(self) -> str:
        return f"{self.origin}-{self.seq}"

    def to_json(self, *, near_misses: bool = False) -> dict[str, Any]:
        """The entry as the admin API shows it (PRODUCT.md §4); with its near misses when asked
        (the unmatched listing)."""
        exchange = self.exchange
        request, outcome = exchange.request, exchange.outcome
        text = request.text
        rendered: dict[str, Any] = {
            "seq": self.seq,
            "id": self.id,
            "namespace": request.namespace,
            "time": datetime.fromtimestamp(exchange.time, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "service": outcome.service,
            "method": request.method,
            "path": decoded_path(request.path),
            "raw_path": request.raw_path or request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": text if text is not None else base64.b64encode(request.body).decode(),
            "json": request.json_or_none(),
            "form": dict(request.form),
            "matched": outcome.matched,
            "stub_id": outcome.stub_id,
            "status": outcome.status,
            "duration_ms": round(exchange.duration_ms, 3),
        }
        if text is None:
            rendered["body_encoding"] = "base64"
        content_type = request.headers.get("content-type")
        if content_type is not None and multipart.is_multipart(content_type):
            parts = multipart.parts(content_type, request.body)
            if parts is not None:
                rendered["multipart"] = [part.to_json() for part in parts]
        if is_preflight(request.method, outcome.matched, outcome.stub_id, outcome.status):
            rendered["preflight"] = True
        if request.body_truncated:
            rendered["body_truncated"] = True
            rendered["body_size"] = request.body_size
        if outcome.error is not None:
            rendered["error"] = outcome.error
        if outcome.fault is not None:
            rendered["fault"] = outcome.fault
        if request.client_cert is not None:
            rendered["client_cert_subject"] = request.client_cert
        if request.content_encoding is not None:
            rendered["content_encoding"] = request.content_encoding
            if request.raw_body is not None:  # decoded: `body` is what the matchers saw
                rendered["raw_body"] = base64.b64encode(request.raw_body).decode()
        if outcome.proxied_to is not None:
            rendered["proxied_to"] = outcome.proxied_to
            rendered["upstream_status"] = outcome.upstream_status
        if near_misses:
            rendered["near_misses"] = [miss.to_json() for miss in outcome.near_misses]
        return rendered

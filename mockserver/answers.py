"""Answers: what the mock sends for one request, decided before anything is sent.

One class per kind of answer — a fixed answer (including a rendered template), a stream (SSE or
chunks), a fault, a ready-made reply (the explaining 404, the 413, a template's 500) — each of
which knows how to send itself. `plan.plan_answer` picks the kind; a new kind of response (a
proxied one, say) is one more class here and one line there. The status and fault an answer
reports are what the journal records before the first byte goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import aiohttp
from aiohttp import HttpVersion11, web
from multidict import CIMultiDict

from mockserver.exchange import Outcome
from mockserver.journal import Journal
from mockserver.proxy import (
    Forward,
    Upstream,
    UpstreamFailure,
    answer_headers,
    mid_stream_reason,
)
from mockserver.recorded import UpstreamAnswer
from mockserver.responder import FaultSent, break_connection, send_prepared, stream_response
from mockserver.stub import PreparedResponse


class Answer(ABC):
    """The answer to one request. `sent` is the stub response it sends, if any (what hooks that
    run after the answer see as the response)."""

    __slots__ = ("fault", "sent", "status")

    def __init__(
        self, status: int | None, sent: PreparedResponse | None = None, fault: str | None = None
    ) -> None:
        self.status = status
        self.sent = sent
        self.fault = fault

    @abstractmethod
    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        """Send the answer (after its delay); what the handler returns to aiohttp."""

    def header_names(self) -> list[str]:
        """The names of the headers it sends (none for a fault)."""
        return [] if self.sent is None else [name for name, _ in self.sent.headers]

    def with_headers(self, headers: Sequence[tuple[str, str]]) -> Answer:
        """The same answer with `headers` sent too (CORS adds its own); a fault sends none."""
        return self


def _adding(prepared: PreparedResponse, headers: Sequence[tuple[str, str]]) -> PreparedResponse:
    # the head serialised at load is serialised again with the headers added
    return dataclasses.replace(prepared, headers=(*prepared.headers, *headers))


async def _wait(delay_ms: tuple[int, int] | None) -> None:
    """The stub's delay; other requests go on meanwhile."""
    if delay_ms is not None:
        low, high = delay_ms
        await asyncio.sleep((low if low == high else random.uniform(low, high)) / 1000)


class Fixed(Answer):
    """A stub response with its bytes ready (as loaded, or just rendered), after its delay."""

    __slots__ = ("_delay_ms", "_prepared")

    def __init__(self, prepared: PreparedResponse, delay_ms: tuple[int, int] | None) -> None:
        super().__init__(prepared.status, prepared)
        self._prepared = prepared
        self._delay_ms = delay_ms

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        await _wait(self._delay_ms)
        return send_prepared(request, self._prepared, time.time())

    def with_headers(self, headers: Sequence[tuple[str, str]]) -> Answer:
        return Fixed(_adding(self._prepared, headers), self._delay_ms)


class Streamed(Answer):
    """SSE events or chunks, `interval_ms` apart, after the delay."""

    __slots__ = ("_parts", "_prepared")

    def __init__(self, prepared: PreparedResponse, parts: tuple[bytes, ...]) -> None:
        super().__init__(prepared.status, prepared)
        self._prepared = prepared
        self._parts = parts

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        await _wait(self._prepared.delay_ms)
        return await stream_response(request, self._prepared, self._parts)

    def with_headers(self, headers: Sequence[tuple[str, str]]) -> Answer:
        return Streamed(_adding(self._prepared, headers), self._parts)


class Faulted(Answer):
    """A broken connection instead of an answer (no status), after the delay."""

    __slots__ = ("_fault", "_prepared")

    def __init__(self, prepared: PreparedResponse, fault: str) -> None:
        super().__init__(None, prepared, fault)
        self._prepared = prepared
        self._fault = fault

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        await _wait(self._prepared.delay_ms)
        raise break_connection(request, self._fault)


class Replied(Answer):
    """A response built whole by the server itself: the explaining 404, an error."""

    __slots__ = ("response",)

    def __init__(self, response: web.Response, sent: PreparedResponse | None = None) -> None:
        super().__init__(response.status, sent)
        self.response = response

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        return self.response

    def header_names(self) -> list[str]:
        return list(self.response.headers)

    def with_headers(self, headers: Sequence[tuple[str, str]]) -> Answer:
        self.response.headers.extend(headers)  # built for this request alone
        return self


Ended = Callable[[UpstreamAnswer], Awaitable[None]]
"""Told of an upstream's answer once it has ended and been sent on whole."""


class Proxied(Answer):
    """The upstream's answer, streamed through as it arrives (PRODUCT.md §11).

    `connect` forwards the request and waits for the answer's head: what it learns (the status,
    or the 502/504 of a failure) is the outcome the journal records before the first byte goes
    to the client. `send` then passes the body on part by part; an upstream that stops
    mid-stream cuts the client's stream as well, and the journal entry (`journaled`) gets the
    error. `on_ended`, when set, receives the whole answer once it ended well (a recording).
    """

    __slots__ = (
        "_added", "_cut", "_delay_ms", "_forward", "_journal", "_reply", "_upstream", "on_ended",
    )  # fmt: skip

    def __init__(self, forward: Forward, delay_ms: tuple[int, int] | None = None) -> None:
        super().__init__(None)
        self._forward = forward
        self._delay_ms = delay_ms
        self._upstream: aiohttp.ClientResponse | None = None
        self._reply: web.Response | None = None
        self._journal: tuple[Journal, int, Outcome] | None = None
        self._cut: str | None = None
        self._added: list[tuple[str, str]] = []
        self.on_ended: Ended | None = None

    def header_names(self) -> list[str]:
        """The upstream's header names, once `connect` has its head (CORS reads them)."""
        if self._upstream is not None:
            return [name for name, _ in answer_headers(self._upstream)]
        return [] if self._reply is None else list(self._reply.headers)

    def with_headers(self, headers: Sequence[tuple[str, str]]) -> Answer:
        if self._reply is not None:  # the 502/504 built for this request alone
            self._reply.headers.extend(headers)
        self._added.extend(headers)
        return self

    @property
    def url(self) -> str:
        return self._forward.url

    async def connect(self, upstream: Upstream, outcome: Outcome) -> Outcome:
        """Forward the request (after the stub's delay); the outcome with the upstream's
        status, or with the failure's."""
        await _wait(self._delay_ms)
        url = self._forward.url
        try:
            response = await upstream.open(self._forward)
        except UpstreamFailure as failure:
            self._reply = failure.response()
            self.status = failure.status
            return replace(outcome, status=failure.status, error=failure.message, proxied_to=url)
        self._upstream = response
        self.status = response.status
        return replace(outcome, status=response.status, proxied_to=url, upstream_status=self.status)

    def journaled(self, journal: Journal, seq: int, outcome: Outcome) -> None:
        """Where the exchange was recorded, and as what: a stream cut later amends that entry."""
        self._journal = (journal, seq, outcome)

    async def send(self, request: web.BaseRequest) -> web.StreamResponse:
        upstream = self._upstream
        if upstream is None:
            assert self._reply is not None  # connect failed
            return self._reply
        try:
            return await self._relay(request, upstream)
        finally:
            upstream.release()

    async def _relay(
        self, request: web.BaseRequest, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        headers = CIMultiDict(answer_headers(upstream))
        headers.extend(self._added)
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        length = upstream.content_length
        bodiless = request.method == "HEAD" or upstream.status in (204, 304)
        if length is not None and (bodiless or not upstream.headers.get("Transfer-Encoding")):
            response.content_length = length  # known: sent as the upstream said it
        elif request.version < HttpVersion11:
            response.force_close()  # no chunked encoding in HTTP/1.0: the close ends the body
        elif not bodiless:
            response.enable_chunked_encoding()
        if bodiless and self.on_ended is not None:
            # the head is the whole answer: kept before the client has it
            await self.on_ended(UpstreamAnswer(upstream.status, _raw_lines(upstream), b"", ()))
            self.on_ended = None
        await response.prepare(request)
        keep = self.on_ended is not None
        parts: list[bytes] = []
        arrivals: list[tuple[int, float]] = []
        size = 0
        started = time.perf_counter()
        client_gone = False
        # a known length ends the answer with its last byte, not with an end of its own: those
        # bytes wait until the exchange is kept, so a client that has the whole answer finds
        # it in the recordings
        held: bytes | None = None
        holds = keep and length is not None and response.content_length is not None
        try:
            async for part in upstream.content.iter_any():
                if keep:
                    size += len(part)
                    parts.append(part)
                    arrivals.append((size, time.perf_counter() - started))
                    if holds and length is not None and size >= length:
                        held = part
                        continue
                if not client_gone:
                    try:
                        await response.write(part)
                    except (ConnectionError, RuntimeError):
                        # the client went away (an SDK that stops reading at `data: [DONE]`):
                        # a recording still reads the upstream's answer to its end
                        client_gone = True
                        if not keep:
                            return response
        except (aiohttp.ClientError, TimeoutError) as error:
            await self._broken(request, mid_stream_reason(self._forward.url, error))
        if self.on_ended is not None:
            # kept before the client sees the end (see `held`)
            lines = _raw_lines(upstream)
            answer = UpstreamAnswer(upstream.status, lines, b"".join(parts), tuple(arrivals))
            await self.on_ended(answer)
        if not client_gone:
            with contextlib.suppress(ConnectionError, RuntimeError):
                if held is not None:
                    await response.write(held)
                await response.write_eof()
        return response

    async def _broken(self, request: web.BaseRequest, reason: str) -> None:
        """The upstream stopped mid-stream: the client's stream is cut the same way (closed
        without its end), the journal says why, nothing is recorded."""
        self._cut = reason
        if self._journal is not None:
            journal, seq, outcome = self._journal
            await journal.amend(seq, replace(outcome, error=reason))
        transport = request.transport
        if transport is not None:
            transport.close()
        raise FaultSent(reason)


def _raw_lines(upstream: aiohttp.ClientResponse) -> tuple[tuple[str, str], ...]:
    """Every header line of the upstream's answer, as a recording keeps them (a HEAD answer's
    Content-Length included)."""
    return tuple(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in upstream.raw_headers
    )


__all__ = [
    "Answer",
    "FaultSent",
    "Faulted",
    "Fixed",
    "Proxied",
    "Replied",
    "Streamed",
    "UpstreamAnswer",
]

"""Answers: what the mock sends for one request, decided before anything is sent.

One class per kind of answer — a fixed answer (including a rendered template), a stream (SSE or
chunks), a fault, a ready-made reply (the explaining 404, the 413, a template's 500) — each of
which knows how to send itself. `plan.plan_answer` picks the kind; a new kind of response (a
proxied one, say) is one more class here and one line there. The status and fault an answer
reports are what the journal records before the first byte goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from aiohttp import web

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


__all__ = ["Answer", "FaultSent", "Faulted", "Fixed", "Replied", "Streamed"]

"""Delivery of callbacks: the mock calls the application back (PRODUCT.md section 12).

`CallbackSender` sends each callback on a task of its own, so neither answers nor other
callbacks wait for it: after `delay_ms`, one attempt, then retries after a connection error, a
timeout or a 5xx/429 answer, `backoff_ms` doubled each time. At most `--callback-limit` attempts
are in flight; the others wait for a slot. Each attempt is recorded in its namespace's state
(`record_attempt`), as the admin API lists it; so is a callback that could not be sent at all (a
template that failed, a target refused) and one cut at shutdown. Signatures are computed per
attempt, with a timestamp from the namespace's clock. Only the request path (after an answer)
and the admin API (on demand) start callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from pydantic import JsonValue

from mockserver.callbacks import (
    CompiledCallback,
    OutgoingCall,
    SentResponse,
    allowed_target,
    check_url,
    render_call,
    stub_context,
)
from mockserver.clock import ClockSetting, rfc3339
from mockserver.config import Settings
from mockserver.errors import AdminInputError, TemplateError
from mockserver.incoming import IncomingRequest
from mockserver.loader import LoadedStubs
from mockserver.state import NamespaceState
from mockserver.stub import PreparedResponse, Stub

log = logging.getLogger("mockserver.callbacks")

PENDING_LIMIT: Final = 10_000
"""Callbacks waiting or being delivered at once; past it, new ones are recorded as dropped."""
_RESPONSE_KEPT: Final = 4096
"""Bytes of the application's answer kept in an attempt (`response_body`)."""
CUT: Final = "cut: the server stopped before the callback was delivered"


def callback_id() -> str:
    return "cb_" + uuid.uuid4().hex[:24]


def refused_target(url: str, allow: Sequence[str]) -> str | None:
    """Why a callback added through the admin API may not go to `url`, or None if it may."""
    try:
        if allowed_target(url, allow):
            return None
        host, port = check_url(url)
    except ValueError as error:
        return str(error)
    return (
        f"callback host {host!r} (port {port}, in {url!r}) is not a loopback address nor "
        "listed with --callback-allow HOST[:PORT]"
    )


class CallbackSender:
    """Sends callbacks in the background, bounded, and records every attempt."""

    def __init__(
        self, settings: Settings, events: Mapping[str, CompiledCallback] | None = None
    ) -> None:
        self.env: Mapping[str, str] = dict(settings.env)
        self.allow = settings.callback_allow
        self.events: Mapping[str, CompiledCallback] = events or {}
        self._limit = settings.callback_limit
        self._slots = asyncio.Semaphore(settings.callback_limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def reload_events(self, loaded: LoadedStubs) -> None:
        """The events of stub files read again (a reload, --watch)."""
        self.events = loaded.events

    # --- starting ---------------------------------------------------------------------------

    def after_answer(
        self,
        stub: Stub,
        request: IncomingRequest,
        path_params: Mapping[str, str],
        hits: int,
        sent: PreparedResponse,
        state: NamespaceState,
        clock: ClockSetting,
    ) -> None:
        """Start the callbacks of `stub` after it answered `request` with `sent`. Called on the
        request path: renders the callbacks, starts their tasks, never awaits."""
        answer = SentResponse(sent.status, sent.headers, sent.body)
        context = stub_context(request, path_params, hits, answer, self.env, clock)
        for compiled in stub.callbacks:
            ident = callback_id()
            try:
                call = render_call(compiled, context, stub_id=stub.id)
            except TemplateError as error:
                self.record_unsent(state, ident, compiled, f"template: {error}", stub.id)
                continue
            if stub.origin == "api":
                refused = refused_target(call.url, self.allow)
                if refused is not None:
                    self.record_unsent(state, ident, compiled, refused, stub.id, url=call.url)
                    continue
            self.start(call, state, ident)

    def start(self, call: OutgoingCall, state: NamespaceState, ident: str) -> None:
        """Deliver `call` on a task of its own (attempts recorded in `state`)."""
        if len(self._tasks) >= PENDING_LIMIT:
            reason = f"dropped: {PENDING_LIMIT} callbacks were already pending"
            entry = _attempt_json(ident, call, 1, 0.0, error=reason)
            entry["request"] = None  # nothing was sent
            self._spawn(self._record(state, entry))
            return
        self._spawn(self._deliver(call, state, ident))

    def record_unsent(
        self,
        state: NamespaceState,
        ident: str,
        compiled: CompiledCallback,
        error: str,
        stub_id: str | None = None,
        *,
        url: str | None = None,
    ) -> None:
        """Record a callback that could not be sent at all (its only attempt, failed); `url`:
        where it would have gone, else its template."""
        entry: dict[str, JsonValue] = {
            "id": ident,
            "url": url if url is not None else compiled.spec.url or "",
            "method": compiled.spec.method,
            "attempt": 1,
            "error": error,
            "outcome": "failed",
            "duration_ms": 0.0,
            "time": _now(),
            "event": compiled.event,
            "stub_id": stub_id,
            "request": None,
        }
        self._spawn(self._record(state, entry))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- delivering -------------------------------------------------------------------------

    async def _deliver(self, call: OutgoingCall, state: NamespaceState, ident: str) -> None:
        attempt = 1
        try:
            if call.delay_ms:
                await asyncio.sleep(call.delay_ms / 1000)
            while True:
                async with self._slots:
                    retry = await self._attempt(call, state, ident, attempt)
                if not retry:
                    return
                await asyncio.sleep(call.backoff_ms * 2 ** (attempt - 1) / 1000)
                attempt += 1
        except asyncio.CancelledError:
            # the state may not outlive the process: the log keeps the cut too
            log.warning("callback %s to %s (attempt %d) %s", ident, call.url, attempt, CUT)
            await self._record(state, _attempt_json(ident, call, attempt, 0.0, error=CUT))
            raise

    async def _attempt(
        self, call: OutgoingCall, state: NamespaceState, ident: str, attempt: int
    ) -> bool:
        """One delivery; whether to retry it."""
        headers = list(call.headers)
        try:
            clock = await state.clock()
            timestamp = int(clock.now(time.time()).timestamp())
            headers.extend(call.signature_headers(timestamp))
        except TemplateError as failed:
            entry = _attempt_json(ident, call, attempt, 0.0, error=f"template: {failed}")
            await self._record(state, entry)
            return False
        last = attempt > call.retries
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        answer = b""
        try:
            async with self._client().request(
                call.method,
                call.url,
                headers=headers,
                data=call.body,
                timeout=aiohttp.ClientTimeout(total=call.timeout_ms / 1000),
                allow_redirects=False,
            ) as response:
                status = response.status
                answer = await response.content.read(_RESPONSE_KEPT)
        except TimeoutError:
            error = f"timeout: no answer within {call.timeout_ms} ms"
        except aiohttp.ClientError as failure:
            error = f"{type(failure).__name__}: {failure}"
        except (OSError, ValueError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        duration = (time.perf_counter() - started) * 1000
        retryable = error is not None or status is None or status >= 500 or status == 429
        retry = retryable and not last
        entry = _attempt_json(ident, call, attempt, duration, headers=headers, error=error)
        if status is not None:
            entry["status"] = status
            entry["response_body"] = answer.decode("utf-8", "replace")
        ok = status is not None and 200 <= status < 300
        entry["outcome"] = "delivered" if ok else "retrying" if retry else "failed"
        await self._record(state, entry)
        return retry

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                trust_env=False,
                auto_decompress=True,
            )
        return self._session

    async def _record(self, state: NamespaceState, entry: dict[str, JsonValue]) -> None:
        try:
            await state.record_attempt(entry)
        except Exception:  # a state store gone: the attempt is lost, the server goes on
            log.exception("could not record callback attempt %s", entry.get("id"))

    # --- stopping ---------------------------------------------------------------------------

    async def close(self, grace: float) -> None:
        """Let callbacks in flight finish for up to `grace` seconds, cut the rest (each cut is
        recorded), and close the connections."""
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def in_flight(self) -> int:
        return len(self._tasks)


def _now() -> str:
    return rfc3339(datetime.now(UTC))


def _attempt_json(
    ident: str,
    call: OutgoingCall,
    attempt: int,
    duration_ms: float,
    *,
    headers: list[tuple[str, str]] | None = None,
    error: str | None = None,
) -> dict[str, JsonValue]:
    sent = call.headers if headers is None else headers
    entry: dict[str, JsonValue] = {
        "id": ident,
        "url": call.url,
        "method": call.method,
        "attempt": attempt,
        "outcome": "failed",
        "duration_ms": round(duration_ms, 3),
        "time": _now(),
        "event": call.event,
        "stub_id": call.stub_id,
        "request": {
            "method": call.method,
            "url": call.url,
            "headers": {name: value for name, value in sent},
            "body": call.body.decode("utf-8", "replace"),
        },
    }
    if error is not None:
        entry["error"] = error
    return entry


def raise_if_refused(url: str, allow: Sequence[str], field: str = "url") -> None:
    """A 400 naming the host when an admin call's callback may not go to `url`."""
    refused = refused_target(url, allow)
    if refused is not None:
        raise AdminInputError(refused, [{"field": field, "message": refused}])

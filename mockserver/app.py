"""build_app(): connects the store, the state, the request path and the admin API into one app.

The mocked surface is one handler whose steps are named (see `MockHandler`): intake (the body and
the request, read once), select (the first stub that matches and may answer, counted in the
state), plan (the answer and the outcome), record (once, before the first byte goes out, so a
test that has the response can read the entry at once), send. A request cut short (client gone,
server stopping) is still recorded. Hooks run after the exchange is recorded and after the answer
is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

from aiohttp import web
from aiohttp.http_parser import RawRequestMessage

from mockserver import cors
from mockserver.admin import AdminApi, AdminContext
from mockserver.admin.context import LISTENING_KEY
from mockserver.answers import Answer, FaultSent, Proxied, Replied
from mockserver.clock import ClockSetting
from mockserver.config import Settings
from mockserver.delivery import CallbackSender
from mockserver.errors import NamespaceLimitError, StateUnavailableError
from mockserver.exchange import Exchange, Outcome
from mockserver.incoming import IncomingRequest, request_path, split_target
from mockserver.intake import NO_BODY, incoming_request, lost_request, read_body
from mockserver.journal import Journal
from mockserver.loader import LoadedStubs, load_paths
from mockserver.logs import ACCESS_LOGGER
from mockserver.memory_state import MemoryState
from mockserver.plan import Plan, plan_answer
from mockserver.proxy import Upstream
from mockserver.recording import Recorder, targets_of
from mockserver.refused import RefusedHead
from mockserver.responder import (
    body_timeout_response,
    json_response,
    send_prepared,
    too_large_response,
)
from mockserver.state import NamespaceState, State
from mockserver.store import Found, PlainAnswer, ScopedStore, StubStore
from mockserver.transport import MockServerRunner, parser_limits

STORE_KEY = web.AppKey("store", StubStore)
access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("mockserver")
SETTINGS_KEY = web.AppKey("settings", Settings)
ADMIN_KEY = web.AppKey("admin", AdminApi)

Recorded = Callable[[Exchange], None]
"""Told of each exchange once it is in the journal, before its answer is sent."""
Completed = Callable[[Exchange, Answer], None]
"""Told of each exchange after its answer was sent (or cut), with the answer."""


@functools.cache
def package_version() -> str:
    try:
        return version("mockserver")
    except PackageNotFoundError:
        return "0+unknown"


class MockHandler:
    """Answers every request outside the admin prefix."""

    def __init__(self, store: StubStore, settings: Settings) -> None:
        self._store = store
        self._max_body = settings.max_body
        self._client_timeout = settings.client_timeout
        self._mtls = settings.tls_client_ca is not None
        self._cors = settings.cors
        self._scopes = store.scopes
        self._admin_prefix = settings.admin_prefix
        self._admin_below = settings.admin_prefix + "/"
        self._on_recorded: list[Recorded] = []
        self._on_completed: list[Completed] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._answering: set[asyncio.Task[Any]] = set()
        self.stopping = False
        """Set as the server begins to shut down: a handler cut from then on was cut by it."""
        self.callbacks: CallbackSender | None = None
        """Sends the callbacks of stubs that declare some, after their answer."""
        self._fast = False
        self.upstream = Upstream()
        """The client session proxied answers forward through (closed at the app's cleanup)."""
        self.recorder: Recorder | None = None
        """The recorded services, when there are any (PRODUCT.md §11)."""
        self._choose_path()
        # ~15 us a request even through a queue: opt-in (--access-log), measured in the README
        if settings.access_log and access_log.isEnabledFor(logging.INFO):
            self.on_recorded(_log_access)

    def on_recorded(self, hook: Recorded) -> None:
        """Run `hook` after each exchange is recorded (it must not block: schedule work)."""
        self._on_recorded.append(hook)
        self._choose_path()

    def on_completed(self, hook: Completed) -> None:
        """Run `hook` after each answer is sent (it must not block: schedule work)."""
        self._on_completed.append(hook)
        self._choose_path()

    def _choose_path(self) -> None:
        # the fast answers skip what hooks and client certificates need
        # (and --cors: every answer to a request with an Origin carries it)
        self._fast = not (self._on_recorded or self._on_completed or self._mtls or self._cors)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        received = time.time()
        started = time.perf_counter()
        if self._fast and not request.body_exists:
            # The fast answer: a bodiless request answered from the table of plain stubs
            # (`StubSet.plain_answer`: fixed responses, no state beyond a hit count) in a
            # namespace whose state is local. No matching, no plan, no await. Written out here,
            # not in helpers: this is most of what a busy mock does, and each call costs.
            path, query = split_target(request.raw_path)  # as sent: segments decode one by one
            raw_path = None
            namespace = None
            if "%" in path or path.startswith("/~"):
                namespace, path, raw_path = request_path(path)
            scope = self._scopes.get(namespace)
            if scope is not None and self.recorder is not None and self.recorder.covers(path):
                scope = None  # a recorded service's mode may forward what a stub answers
            if scope is not None and (local := scope.local) is not None:
                method = request.method
                plain = scope.stubs.plain_answer(method, path)
                if plain is not None:
                    hits = local.hit_now(plain.stub.id)
                    responses = plain.responses
                    index = hits - 1 if hits < len(responses) else len(responses) - 1
                    incoming = IncomingRequest.from_wire(
                        method, path, query, request.raw_headers, namespace=namespace,
                        raw_path=raw_path,
                    )  # fmt: skip
                    local.journal.record_now(
                        Exchange(
                            incoming,
                            plain.outcomes[index],
                            received,
                            (time.perf_counter() - started) * 1000,
                        )
                    )
                    return send_prepared(request, responses[index], received)
            elif scope is not None:  # a shared state: one round trip (`_answer_shared`)
                method = request.method
                plain = scope.stubs.plain_answer(method, path)
                if plain is not None and plain.claim_free:
                    incoming = IncomingRequest.from_wire(
                        method, path, query, request.raw_headers, namespace=namespace,
                        raw_path=raw_path,
                    )  # fmt: skip
                    answered = await self._answer_shared(
                        request, scope, plain, incoming, received, started
                    )
                    if answered is not None:
                        return answered
        return await self._answer(request, received, started)

    async def _answer_shared(
        self,
        request: web.BaseRequest,
        scope: ScopedStore,
        plain: PlainAnswer,
        incoming: IncomingRequest,
        received: float,
        started: float,
    ) -> web.StreamResponse | None:
        """The fast answer on a shared state (Redis): a claim-free plain stub's hit counted and
        its exchange recorded in one step, in one round trip, provided the API stubs the scope
        was compiled from are still the state's and its namespace still exists (None when not:
        the named steps read them again and answer). No view read, no claim."""
        outcome = plain.outcomes[0]
        exchange = Exchange(incoming, outcome, received, (time.perf_counter() - started) * 1000)
        try:
            seq = await scope.state.record_counted(
                exchange, plain.stub.id, version=scope.api_version
            )
        except StateUnavailableError as down:
            # the journal is in the store that is out of reach: counted here, not journaled
            self._store.unjournaled += 1
            return json_response(down.status, down.payload())
        if seq is None:
            return None
        return send_prepared(request, plain.responses[0], received)

    async def _answer(
        self, request: web.BaseRequest, received: float, started: float
    ) -> web.StreamResponse:
        incoming: IncomingRequest | None = None
        exchange: Exchange | None = None
        seq = 0
        unreachable = False  # the state store is out of reach: nothing can be recorded
        calls_back: Found | None = None
        counted: str | None = None  # a claim-free stub: its hit counted as it is recorded
        cut = "client disconnected before the body arrived"
        # a handler cut at shutdown finishes its journal entry after aiohttp has given up on
        # it: `drain` waits for it, so the journal dump sees the entry as it ends
        task = asyncio.current_task()
        if task is not None:
            self._answering.add(task)
        try:
            body = await read_body(request, self._max_body, self._client_timeout)  # intake
            incoming = incoming_request(request, body, client_cert=self._mtls)
            scope = await self._store.scoped(incoming.namespace)
            origin = None
            if self._cors or scope.stubs.cors_stubs:  # CORS off: nothing more than this test
                origin = cors.concerned_origin(incoming, scope.stubs, self._cors)
            if body.truncated:
                plan = _refused(body.size, body.timed_out, self._max_body, self._client_timeout)
            elif body.undecodable is not None:
                plan = _undecodable(*body.undecodable)
            elif (
                origin is not None
                and cors.is_preflight(incoming)
                and not cors.answered_by_a_stub(incoming, scope.stubs)
            ):
                plan = Plan(*cors.preflight(incoming, origin))
                origin = None  # the preflight's answer has its own CORS headers
            else:
                recorder = self.recorder
                route = None if recorder is None else await recorder.route(incoming, scope.state)
                if recorder is not None and route is not None and route[1]:
                    plan = recorder.forward(route[0], incoming, scope)  # recorded anew: `all`
                else:
                    found = await scope.select(incoming)  # select, and claim in the state
                    if found.count_on_record:
                        assert found.stub is not None
                        counted = found.stub.id
                    clock = await scope.state.clock()
                    plan = plan_answer(found, incoming, scope.stubs, clock)
                    if recorder is not None and route is not None and not plan.outcome.matched:
                        plan = recorder.forward(route[0], incoming, scope)  # a new episode
                    elif found.stub is not None and found.stub.callbacks:  # empty for most stubs
                        calls_back = found
            proxied = plan.answer if type(plan.answer) is Proxied else None
            if proxied is not None:  # the upstream's head decides the outcome
                plan.outcome = await proxied.connect(self.upstream, plan.outcome)
            if origin is not None:
                plan.answer = cors.marked(plan.answer, origin)
            exchange = Exchange(
                incoming, plan.outcome, received, (time.perf_counter() - started) * 1000
            )
            if counted is None:
                seq = await scope.state.journal.record(exchange)  # record, once
            else:  # with the hit count, as one step: the stub was not claimed
                seq = await scope.state.record_counted(exchange, counted) or 0
            if proxied is not None:
                proxied.journaled(scope.state.journal, seq, plan.outcome)
            for recorded in self._on_recorded:
                recorded(exchange)
            cut = "cut: the server stopped before the response was sent"
            response = await plan.answer.send(request)  # send
            if _client_gone(request):  # during a delay or a stream: what was sent is not 200
                await _amend_cut(scope.state.journal, seq, exchange, request, _CLIENT_GONE)
            if self._on_completed or calls_back is not None:
                await response.prepare(request)  # written now, so hooks see it sent
                await response.write_eof()
                for completed in self._on_completed:
                    completed(exchange, plan.answer)
                if calls_back is not None:
                    self._call_back(calls_back, incoming, plan, scope.state, clock)
            return response
        except NamespaceLimitError as refused:
            # no namespace to record it in (the cut record below is refused too): the 503 says why
            return json_response(503, {"error": refused.message, "details": []})
        except StateUnavailableError as down:
            # the journal is in the store that is out of reach: counted here, not journaled
            self._store.unjournaled += 1
            unreachable = True
            return json_response(down.status, down.payload())
        except FaultSent:
            # the connection is gone on purpose: end the handler as aiohttp ends a cut one
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            # cancelled by a shutdown, or by a client that left (under handler_cancellation)
            who = _SERVER_STOPPED if self.stopping else _CLIENT_GONE
            if self.stopping:
                cut = f"cut: {who} before the response was sent"
            if exchange is not None:  # recorded as the answer it was to be: say it was cut
                await _amend_cut(scope.state.journal, seq, exchange, request, who)
            raise
        finally:
            try:
                if exchange is None and not unreachable:
                    await self._record_cut(request, incoming, received, started, cut)
            finally:
                if task is not None:
                    self._answering.discard(task)

    def _call_back(
        self,
        found: Found,
        incoming: IncomingRequest,
        plan: Plan,
        state: NamespaceState,
        clock: ClockSetting,
    ) -> None:
        """Start the callbacks of the stub that answered (a stub answer, not an error)."""
        sent = plan.answer.sent
        stub = found.stub
        if self.callbacks is None or stub is None or sent is None or found.path_params is None:
            return
        if not plan.outcome.matched or plan.outcome.error is not None:
            return
        self.callbacks.after_answer(
            stub, incoming, found.path_params, found.hits, sent, state, clock
        )

    async def _record_cut(
        self,
        request: web.BaseRequest,
        incoming: IncomingRequest | None,
        received: float,
        started: float,
        error: str,
    ) -> None:
        """Journal a request whose answer was never decided (client gone, server stopping)."""
        if incoming is None:  # the body never arrived in full
            incoming = incoming_request(request, NO_BODY, client_cert=self._mtls)
        outcome = Outcome(False, 499, error=error)
        exchange = Exchange(incoming, outcome, received, (time.perf_counter() - started) * 1000)
        with contextlib.suppress(NamespaceLimitError):
            await self._record_if_reachable(exchange)

    async def _record_if_reachable(self, exchange: Exchange) -> None:
        """Record an exchange; count it as unjournaled when the state store is out of reach."""
        try:
            scope = await self._store.scoped(exchange.request.namespace)
            await scope.state.journal.record(exchange)
        except StateUnavailableError:
            self._store.unjournaled += 1

    def record_lost(self, message: RawRequestMessage) -> None:
        """Journal a request that was read but never handled: its client went away first.

        Called by the connection as it closes, outside any handler: recorded at once when the
        namespace's state is local, else by a task the app's cleanup waits for."""
        path = message.url.path
        if path == self._admin_prefix or path.startswith(self._admin_below):
            return
        incoming = lost_request(message)
        outcome = Outcome(False, 499, error="client disconnected before the request was handled")
        self._record_outside(Exchange(incoming, outcome, time.time(), 0.0))

    async def record_refused(self, head: RefusedHead, status: int, error: str) -> None:
        """Journal a request the HTTP parser refused (400, 414, 431, 505) with what was read of
        it: method, target so far, the header lines that arrived whole."""
        path, query = split_target(head.target)
        if path == self._admin_prefix or path.startswith(self._admin_below):
            return
        namespace, path, raw_path = request_path(path)
        incoming = IncomingRequest.from_wire(
            head.method, path, query, head.raw_headers, namespace=namespace, raw_path=raw_path
        )
        await self._record_later(
            Exchange(incoming, Outcome(False, status, error=error), time.time(), 0.0)
        )

    def _record_outside(self, exchange: Exchange) -> None:
        scope = self._scopes.get(exchange.request.namespace)
        if scope is not None and scope.local is not None:
            scope.local.journal.record_now(exchange)
            return
        task = asyncio.get_running_loop().create_task(self._record_later(exchange))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _record_later(self, exchange: Exchange) -> None:
        with contextlib.suppress(NamespaceLimitError):
            await self._record_if_reachable(exchange)

    async def drain(self) -> None:
        """Wait for lost requests still being recorded and for cut answers still amending
        their entries (at shutdown, before the dump)."""
        while self._pending or self._answering:
            await asyncio.gather(*self._pending, *self._answering, return_exceptions=True)


_CLIENT_GONE: Final = "the client disconnected"
_SERVER_STOPPED: Final = "the server stopped"


def _client_gone(request: web.BaseRequest) -> bool:
    """Whether the connection went while the answer was being prepared (aiohttp does not
    cancel a handler whose client leaves: the answer would be written to nobody)."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def _amend_cut(
    journal: Journal, seq: int, exchange: Exchange, request: web.BaseRequest, who: str
) -> None:
    """Journal an answer that was recorded, then cut by `who`: with an `error` saying so, and
    499 unless its status line had gone out (a stream cut midway keeps the status sent)."""
    outcome = exchange.outcome
    started = request.writer.output_size > 0
    status = outcome.status if started else 499
    error = f"cut: {who} before the response {'ended' if started else 'was sent'}"
    cut = replace(outcome, status=status, error=error)
    try:
        await journal.amend(seq, cut)  # False: the bounds took the entry already
    except Exception:  # a shared journal out of reach: the answer is cut either way
        log.warning("could not mark journal entry %d as cut", seq, exc_info=True)


def _refused(size: int, timed_out: bool, max_body: int, timeout: float) -> Plan:
    """The plan for a body cut at the size limit (413) or the time limit (408)."""
    if timed_out:
        reply = body_timeout_response(size, timeout)
        return Plan(Replied(reply), Outcome(False, reply.status, error="body too slow: cut off"))
    reply = too_large_response(size, max_body)
    return Plan(Replied(reply), Outcome(False, reply.status))


def _undecodable(status: int, reason: str) -> Plan:
    """The plan for a compressed body that cannot be decoded (400), in an encoding the server
    does not decode (415), or that decodes past --max-body (413): journaled as it arrived."""
    hint = {
        400: "the body is not what its Content-Encoding header says",
        413: "raise it with --max-body",
        415: "send the body in one of those encodings, or uncompressed",
    }[status]
    reply = json_response(
        status, {"error": reason, "details": [{"field": "body", "message": hint}]}
    )
    return Plan(Replied(reply), Outcome(False, status, error=reason))


def _log_access(exchange: Exchange) -> None:
    request, outcome = exchange.request, exchange.outcome
    status, stub_id = outcome.status, outcome.stub_id
    access_log.info(
        "%s %s %s %s %.2fms",
        request.method,
        request.path,
        "-" if status is None else status,
        stub_id or "-",
        exchange.duration_ms,
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "stub_id": stub_id,
            "ms": round(exchange.duration_ms, 3),
            "namespace": request.namespace,
        },
    )


MOCKED_KEY = web.AppKey("mocked", MockHandler)
CALLBACKS_KEY = web.AppKey("callbacks", CallbackSender)


def build_app(settings: Settings, loaded: LoadedStubs | None = None) -> web.Application:
    """The whole server as an aiohttp application; loads the stub files unless given them.

    Serve it with `mock_runner`, whose connections hand mocked requests to the `MockHandler`."""
    if loaded is None:
        loaded = load_paths(settings.stubs)
    state, close_state = _state(settings)
    store = StubStore(loaded.stubs, state)
    recorder = _recorder(settings, loaded)
    context = AdminContext(settings, store, package_version, recorder)  # read on first use
    callbacks = CallbackSender(settings, loaded.events)
    admin = AdminApi(context, callbacks)
    app = web.Application(client_max_size=settings.max_body)
    app[STORE_KEY] = store
    app[SETTINGS_KEY] = settings
    app[ADMIN_KEY] = admin
    app[LISTENING_KEY] = []
    admin.register(app)
    mocked = MockHandler(store, settings)
    app[MOCKED_KEY] = mocked
    mocked.recorder = recorder if recorder.targets else None  # no target: nothing to forward

    async def drain(_app: web.Application) -> None:
        await mocked.drain()
        await mocked.upstream.close()

    async def stopping(_app: web.Application) -> None:
        mocked.stopping = True  # before aiohttp cancels the handlers still running

    app.on_shutdown.append(stopping)

    app.on_cleanup.append(drain)
    mocked.callbacks = callbacks
    app[CALLBACKS_KEY] = callbacks

    async def stop_callbacks(_app: web.Application) -> None:
        # after the requests: what they started gets the grace period too, then is cut
        await callbacks.close(settings.shutdown_grace)

    app.on_cleanup.append(stop_callbacks)
    if close_state is not None:

        async def close(_app: web.Application) -> None:
            await close_state()

        app.on_cleanup.append(close)
    return app


def _recorder(settings: Settings, loaded: LoadedStubs) -> Recorder:
    """The recorded services of `--record` and of `record:` documents (maybe none: recordings
    can still be loaded to replay); recordings are written under --record-dir (the default
    namespace's) as each exchange ends."""
    targets = targets_of(settings.record, settings.record_mode, loaded.recorded)
    recorder = Recorder(targets, loaded.stubs, settings.redaction(), settings.record_dir)
    if settings.record_dir is not None:
        recorder.write_to(settings.record_dir)
    return recorder


def _state(settings: Settings) -> tuple[State, Callable[[], Awaitable[None]] | None]:
    """The state `--state` names, and how to close it (None: nothing to close)."""
    if settings.state == "memory":
        state = MemoryState(
            settings.journal_limit, settings.journal_max_bytes, settings.max_namespaces
        )
        return state, None
    # the optional extra (mockserver[redis]): imported only when asked for
    from mockserver.redis_state import RedisState

    shared = RedisState(
        settings.state,
        journal_limit=settings.journal_limit,
        journal_max_bytes=settings.journal_max_bytes,
        limit=settings.max_namespaces,
        stub_dirs=settings.stubs,
        prefix=settings.state_prefix,
    )
    return shared, shared.close


def mock_runner(app: web.Application, settings: Settings, **options: Any) -> MockServerRunner:
    """The runner that serves an app of `build_app`: admin paths through its router, every
    other request straight to its `MockHandler`, unparseable ones answered as JSON."""
    mocked = app[MOCKED_KEY]
    options = {**parser_limits(settings), **options}
    return MockServerRunner(
        app,
        mocked=mocked.handle,
        lost=mocked.record_lost,
        refused=mocked.record_refused,
        admin_prefix=settings.admin_prefix,
        **options,
    )

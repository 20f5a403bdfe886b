"""build_app(): connects store, state, journal, responder and admin API into one aiohttp app.

The mocked surface is one catch-all handler: read the request once, find the stub, record the
entry, answer. The entry is recorded before the response's first byte, so a test that has the
response can read the entry at once; a request cut short (client gone, server stopping) is
recorded in `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from importlib.metadata import PackageNotFoundError, version

from aiohttp import HttpVersion11, web
from aiohttp.http_parser import RawRequestMessage

from mockserver.admin import AdminApi, AdminContext
from mockserver.config import Settings
from mockserver.errors import NamespaceLimitError, TemplateError
from mockserver.incoming import IncomingRequest, header_block, raw_query, split_namespace
from mockserver.journal import Journal
from mockserver.loader import LoadedStubs, load_paths
from mockserver.logs import ACCESS_LOGGER
from mockserver.nearmiss import NearMiss, stub_near_misses
from mockserver.responder import (
    NO_BODY,
    FaultSent,
    ReadBody,
    body_timeout_response,
    break_connection,
    client_certificate_subject,
    delay,
    expect_continue,
    json_response,
    read_body,
    render_answer,
    render_response,
    send_prepared,
    stream_response,
    stub_response,
    template_error_response,
    too_large_response,
    unmatched_explanation,
    unmatched_response,
)
from mockserver.state import MemoryState, Namespaces
from mockserver.store import StubStore
from mockserver.stub import Stub
from mockserver.templating import template_context

STORE_KEY = web.AppKey("store", StubStore)
access_log = logging.getLogger(ACCESS_LOGGER)
SETTINGS_KEY = web.AppKey("settings", Settings)
ADMIN_KEY = web.AppKey("admin", AdminApi)


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
        # ~15 us a request even through a queue: opt-in (--access-log), measured in the README
        wanted = settings.access_log and access_log.isEnabledFor(logging.INFO)
        self._access_log = access_log if wanted else None
        self._max_body = settings.max_body
        self._client_timeout = settings.client_timeout
        self._mtls = settings.tls_client_ca is not None
        # the plain path skips what only the access log and client certificates need
        self._plain_path = self._access_log is None and not self._mtls
        self._scopes = store.scopes
        self._admin_prefix = settings.admin_prefix
        self._admin_below = settings.admin_prefix + "/"

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        received = time.time()
        started = time.perf_counter()
        if self._plain_path and not request.body_exists:
            # A bodiless request whose answer depends on method and path alone (`plain_answer`):
            # no request object, no matching, one journal append. Written out here, not in
            # helpers: this is most of what a busy mock does, and each call costs.
            path = request.path
            namespace = None
            if path.startswith("/~"):
                namespace, path = split_namespace(path)
            scope = self._scopes.get(namespace)
            if scope is not None:
                method = request.method
                stub = scope.stubs.plain_answer(method, path)
                if stub is not None:
                    state = scope.state
                    hits = state.hit(stub.id) or 1
                    responses = stub.responses
                    prepared = responses[hits - 1] if hits < len(responses) else responses[-1]
                    state.journal.append(
                        received, (time.perf_counter() - started) * 1000, True, prepared.status,
                        stub.id, stub.service, method, path, raw_query(request.raw_path),
                        header_block(request.raw_headers), b"", namespace,
                    )  # fmt: skip
                    return send_prepared(request, prepared, received)
        return await self._answer(request, received, started)

    def record_lost(self, message: RawRequestMessage) -> None:
        """Journal a request that was read but never handled: its client went away first."""
        url = message.url
        path = url.path
        if path == self._admin_prefix or path.startswith(self._admin_below):
            return
        namespace, path = split_namespace(path)
        with contextlib.suppress(NamespaceLimitError):
            self._store.scoped(namespace).state.journal.append(
                time.time(), 0.0, False, 499, None, None, message.method, path,
                raw_query(message.path), header_block(message.raw_headers), b"", namespace,
                ((), "client disconnected before the request was handled", None, None, 0, False),
            )  # fmt: skip

    async def _answer(
        self, request: web.BaseRequest, received: float, started: float
    ) -> web.StreamResponse:
        incoming: IncomingRequest | None = None
        recorded = False
        error = "client disconnected before the body arrived"
        try:
            if request.body_exists:
                if request.version >= HttpVersion11 and "Expect" in request.headers:
                    await expect_continue(request)
                body = await read_body(request, self._max_body, self._client_timeout)
            else:
                body = NO_BODY
            incoming = self._incoming(request, body)
            scope = self._store.scoped(incoming.namespace)
            if body.truncated:
                if body.timed_out:
                    self._record(
                        incoming, received, started, False, 408, error="body too slow: cut off"
                    )
                    recorded = True
                    return body_timeout_response(body.size, self._client_timeout)
                self._record(incoming, received, started, False, 413)
                recorded = True
                return too_large_response(body.size, self._max_body)
            found = scope.select(incoming)
            stub = found.stub
            if stub is None or found.path_params is None:
                near = stub_near_misses(scope.stubs, incoming, found.skipped)
                answer = found.unmatched_answer
                unmatched: web.Response = (
                    unmatched_response(incoming, near)
                    if answer is None
                    else shaped_unmatched_response(answer, incoming, near, found.hits)
                )
                self._record(
                    incoming, received, started, False, unmatched.status, near_misses=tuple(near)
                )
                recorded = True
                return unmatched
            prepared = stub.responses[min(found.hits, len(stub.responses)) - 1]
            fixed = prepared
            if prepared.templates is not None:
                try:
                    fixed = render_answer(
                        prepared,
                        prepared.templates,
                        template_context(incoming, found.path_params, found.hits),
                    )
                except TemplateError as failure:
                    self._record(
                        incoming, received, started, True, 500, stub.id, stub.service,
                        error=f"template: {failure.message}",
                    )  # fmt: skip
                    recorded = True
                    return template_error_response(stub.id, failure)
            self._record(
                incoming, received, started, True,
                None if prepared.fault else prepared.status, stub.id, stub.service,
                fault=prepared.fault,
            )  # fmt: skip
            recorded = True
            if prepared.delay_ms is not None:
                error = "cut: the server stopped before the response was sent"
                await delay(prepared)
            if prepared.fault is not None:
                raise break_connection(request, prepared.fault)
            if prepared.stream is not None:
                return await stream_response(request, prepared, prepared.stream)
            return send_prepared(request, fixed, time.time())
        except NamespaceLimitError as refused:
            recorded = True  # no namespace to record it in: the 503 says why
            return json_response(503, {"error": refused.message, "details": []})
        except FaultSent:
            # the connection is gone on purpose: end the handler as aiohttp ends a cut one
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            error = "cut: the server stopped before the response was sent"
            raise
        finally:
            if not recorded:
                if incoming is None:  # the body never arrived in full
                    incoming = self._incoming(request, NO_BODY)
                with contextlib.suppress(NamespaceLimitError):
                    self._record(incoming, received, started, False, 499, error=error)

    def _incoming(self, request: web.BaseRequest, body: ReadBody) -> IncomingRequest:
        namespace, path = split_namespace(request.path)
        return IncomingRequest.from_wire(
            request.method,
            path,
            raw_query(request.raw_path),
            request.raw_headers,
            body.data,
            body_size=body.size,
            body_truncated=body.truncated,
            namespace=namespace,
            client_cert=client_certificate_subject(request) if self._mtls else None,
        )

    def _record(
        self,
        incoming: IncomingRequest,
        received: float,
        started: float,
        matched: bool,
        status: int | None,
        stub_id: str | None = None,
        service: str | None = None,
        *,
        near_misses: tuple[NearMiss, ...] = (),
        error: str | None = None,
        fault: str | None = None,
    ) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        self._store.scoped(incoming.namespace).state.journal.record(
            incoming,
            time=received,
            matched=matched,
            status=status,
            duration_ms=duration_ms,
            stub_id=stub_id,
            service=service,
            near_misses=near_misses,
            error=error,
            fault=fault,
        )
        if self._access_log is not None:
            self._access_log.info(
                "%s %s %s %s %.2fms",
                incoming.method,
                incoming.path,
                "-" if status is None else status,
                stub_id or "-",
                duration_ms,
                extra={
                    "method": incoming.method,
                    "path": incoming.path,
                    "status": status,
                    "stub_id": stub_id,
                    "ms": round(duration_ms, 3),
                    "namespace": incoming.namespace,
                },
            )


def shaped_unmatched_response(
    answer: Stub, request: IncomingRequest, near: list[NearMiss], hits: int
) -> web.Response:
    """The answer of an `unmatched: true` stub to a request no other stub matched: the shape the
    service's SDK expects of an error, with the explanation in `miss` for its templates."""
    prepared = answer.responses[0]
    if prepared.templates is None:
        return stub_response(prepared)
    context = template_context(request, {}, hits)
    context["miss"] = unmatched_explanation(request, near)
    try:
        return render_response(prepared, prepared.templates, context)
    except TemplateError as failure:
        return template_error_response(answer.id, failure)


MOCKED_KEY = web.AppKey("mocked", MockHandler)


def build_app(settings: Settings, loaded: LoadedStubs | None = None) -> web.Application:
    """The whole server as an aiohttp application; loads the stub files unless given them."""
    if loaded is None:
        loaded = load_paths(settings.stubs)
    namespaces = Namespaces(
        lambda: MemoryState(Journal(settings.journal_limit, settings.journal_max_bytes)),
        settings.max_namespaces,
    )
    store = StubStore(loaded.stubs, namespaces)
    context = AdminContext(settings, store, package_version)  # read on first use: ~1 ms
    admin = AdminApi(context)
    app = web.Application(client_max_size=settings.max_body)
    app[STORE_KEY] = store
    app[SETTINGS_KEY] = settings
    app[ADMIN_KEY] = admin
    admin.register(app)
    # [\s\S]: a path with an encoded newline is a mocked request too, journaled like any other
    mocked = MockHandler(store, settings)
    app[MOCKED_KEY] = mocked
    app.router.add_route("*", "/{tail:[\\s\\S]*}", mocked.handle)
    return app

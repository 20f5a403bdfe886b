"""build_app(): connects store, state, journal, responder and admin API into one aiohttp app.

The mocked surface is one catch-all handler: read the request once, find the stub, record the
entry, answer. The entry is recorded before the response's first byte, so a test that has the
response can read the entry at once; a request cut short (client gone, server stopping) is
recorded in `finally`.
"""

from __future__ import annotations

import asyncio
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web

from mockserver.admin import AdminApi, AdminContext
from mockserver.config import Settings
from mockserver.incoming import IncomingRequest, join_headers, parse_query
from mockserver.journal import Journal
from mockserver.loader import LoadedStubs, load_paths
from mockserver.nearmiss import stub_near_misses
from mockserver.responder import (
    read_body,
    stub_response,
    too_large_response,
    unmatched_response,
)
from mockserver.state import MemoryState, State
from mockserver.store import StubStore

STORE_KEY = web.AppKey("store", StubStore)
STATE_KEY = web.AppKey("state", MemoryState)
SETTINGS_KEY = web.AppKey("settings", Settings)
ADMIN_KEY = web.AppKey("admin", AdminApi)


def package_version() -> str:
    try:
        return version("mockserver")
    except PackageNotFoundError:
        return "0+unknown"


class MockHandler:
    """Answers every request outside the admin prefix."""

    def __init__(self, store: StubStore, state: State, settings: Settings) -> None:
        self._store = store
        self._state = state
        self._journal = state.journal
        self._max_body = settings.max_body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = time.time()
        started = time.perf_counter()
        incoming: IncomingRequest | None = None
        recorded = False
        error = "client disconnected"
        try:
            body = await read_body(request, self._max_body)
            incoming = IncomingRequest(
                request.method,
                request.path,
                parse_query(request.query_string),
                join_headers(request.headers.items()),
                body.data,
                body_size=body.size,
                body_truncated=body.truncated,
            )
            if body.truncated:
                response = too_large_response(body.size, self._max_body)
                self._record(incoming, received, started, False, 413)
                recorded = True
                return response
            found = self._store.find(incoming)
            stub = found.stub
            if stub is None:
                near = stub_near_misses(self._store.stubs, incoming)
                self._record(incoming, received, started, False, 404, near_misses=tuple(near))
                recorded = True
                return unmatched_response(incoming, near)
            self._state.hit(stub.id)
            prepared = stub.responses[0]
            self._record(incoming, received, started, True, prepared.status, stub.id, stub.service)
            recorded = True
            return stub_response(prepared)
        except asyncio.CancelledError:
            error = "cut: the server stopped before the response was sent"
            raise
        finally:
            if not recorded:
                if incoming is None:  # the body never arrived in full
                    incoming = IncomingRequest(
                        request.method,
                        request.path,
                        parse_query(request.query_string),
                        join_headers(request.headers.items()),
                    )
                self._record(incoming, received, started, False, 499, error=error)

    def _record(
        self,
        incoming: IncomingRequest,
        received: float,
        started: float,
        matched: bool,
        status: int,
        stub_id: str | None = None,
        service: str | None = None,
        *,
        near_misses: tuple[dict[str, Any], ...] = (),
        error: str | None = None,
    ) -> None:
        self._journal.record(
            incoming,
            time=received,
            matched=matched,
            status=status,
            duration_ms=(time.perf_counter() - started) * 1000,
            stub_id=stub_id,
            service=service,
            near_misses=near_misses,
            error=error,
        )


def build_app(settings: Settings, loaded: LoadedStubs | None = None) -> web.Application:
    """The whole server as an aiohttp application; loads the stub files unless given them."""
    if loaded is None:
        loaded = load_paths(settings.stubs)
    state = MemoryState(Journal(settings.journal_limit, settings.journal_max_bytes))
    store = StubStore(loaded.stubs, state)
    context = AdminContext(settings, store, state, package_version())
    admin = AdminApi(context)
    app = web.Application(client_max_size=settings.max_body)
    app[STORE_KEY] = store
    app[STATE_KEY] = state
    app[SETTINGS_KEY] = settings
    app[ADMIN_KEY] = admin
    admin.register(app)
    app.router.add_route("*", "/{tail:.*}", MockHandler(store, state, settings).handle)
    return app

"""The journal's live feed as server-sent events: `GET /requests/stream` (PRODUCT.md §13).

One `message` event per entry (its JSON with near misses; `id:` is its seq), after one `ready`
event that says where the feed starts (its `id:` is that seq, so a client that reconnects before
any entry arrived still resumes without a gap). The start is `since_seq`, or the `Last-Event-ID`
header an EventSource sends when it reconnects (it wins: it is newer), or the journal's newest
entry. Entries are read through `Journal.subscribe`, which replays what came after the start, so
nothing recorded between a page load and its feed is lost. Comments keep idle connections open;
every open feed ends, cleanly, when the server shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Final

from aiohttp import web

from mockserver.admin.context import AdminContext, AdminRoute, admin_handler
from mockserver.admin.requests import journal_query
from mockserver.errors import AdminInputError
from mockserver.exchange import JournalEntry

DEFAULT_HEARTBEAT_MS: Final = 15_000
"""Below the idle timeouts of common proxies (nginx: 60 s)."""
MIN_HEARTBEAT_MS: Final = 10
MAX_HEARTBEAT_MS: Final = 300_000
RETRY_MS: Final = 1_000
"""How soon an EventSource reconnects after the server went away (a restart, say)."""
_NOT_STREAM_FILTERS: Final = ("limit", "before_seq")

STREAM_PARAMETERS: Final[tuple[dict[str, Any], ...]] = (
    {"name": "method", "in": "query", "schema": {"type": "string"}},
    {"name": "path", "in": "query", "schema": {"type": "string"}},
    {"name": "service", "in": "query", "schema": {"type": "string"}},
    {"name": "stub_id", "in": "query", "schema": {"type": "string"}},
    {"name": "matched", "in": "query", "schema": {"type": "boolean"}},
    {
        "name": "since_seq",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0},
        "description": "Send the entries after this seq first, then follow (default: from now)",
    },
    {
        "name": "heartbeat_ms",
        "in": "query",
        "schema": {"type": "integer", "minimum": MIN_HEARTBEAT_MS, "maximum": MAX_HEARTBEAT_MS},
        "description": "How often an idle feed sends a comment line (default 15000)",
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "description": "Resume after this seq (what an EventSource sends when it reconnects); "
        "wins over since_seq",
    },
)


class StreamResource:
    """The feed route, and the open feeds' end at shutdown."""

    def __init__(self, context: AdminContext) -> None:
        self._context = context
        self._closing = asyncio.Event()

    def routes(self) -> list[AdminRoute]:
        return [
            AdminRoute(
                "GET",
                "/requests/stream",
                admin_handler(self.stream),
                "The journal live, as server-sent events (one entry per event, id = seq)",
                responses=(200, 400),
                parameters=STREAM_PARAMETERS,
            )
        ]

    async def close_all(self, _app: web.Application) -> None:
        """End every open feed (on_shutdown: before aiohttp waits for handlers to finish)."""
        self._closing.set()

    async def stream(self, request: web.Request) -> web.StreamResponse:
        for name in _NOT_STREAM_FILTERS:
            if name in request.query:
                raise AdminInputError(
                    f"{name} does not apply to the live feed: it sends every entry after "
                    "since_seq (page with GET requests instead)",
                    [{"field": name, "message": "not a stream filter"}],
                )
        query = journal_query(request.query)
        heartbeat = _heartbeat_ms(request.query.get("heartbeat_ms")) / 1000
        resume = _last_event_id(request.headers.get("Last-Event-ID"))
        after = resume if resume is not None else query.since_seq
        journal = (await self._context.scope(request)).state.journal
        last_seq = (await journal.stats()).last_seq
        if after is None:
            after = last_seq
        elif after > last_seq:
            after = 0  # a seq this journal never reached: the server restarted, replay it all
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        ready = json.dumps({"after_seq": after, "last_seq": last_seq})
        await response.write(
            f"retry: {RETRY_MS}\nevent: ready\nid: {after}\ndata: {ready}\n\n".encode()
        )
        async with journal.subscribe(after_seq=after) as feed:
            closing = asyncio.ensure_future(self._closing.wait())
            following: asyncio.Future[JournalEntry] = asyncio.ensure_future(anext(feed))
            try:
                while not self._closing.is_set():
                    done, _ = await asyncio.wait(
                        (following, closing), timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
                    )
                    if following not in done:
                        if closing not in done:
                            await response.write(b": keep-alive\n\n")
                        continue
                    entry = following.result()
                    following = asyncio.ensure_future(anext(feed))
                    if query.accepts(entry):
                        await response.write(_event(entry))
            except (ConnectionError, StopAsyncIteration):
                return response  # the client went away (or the feed was closed under it)
            finally:
                following.cancel()
                closing.cancel()
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response


def _event(entry: JournalEntry) -> bytes:
    """`id: 17` and the entry's JSON on one `data:` line (JSON escapes every newline)."""
    return f"id: {entry.seq}\ndata: {json.dumps(entry.to_json(near_misses=True))}\n\n".encode()


def _heartbeat_ms(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_HEARTBEAT_MS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not MIN_HEARTBEAT_MS <= value <= MAX_HEARTBEAT_MS:
        raise AdminInputError(
            f"heartbeat_ms must be an integer from {MIN_HEARTBEAT_MS} to {MAX_HEARTBEAT_MS}, "
            f"got {raw!r}",
            [
                {
                    "field": "heartbeat_ms",
                    "message": f"expected {MIN_HEARTBEAT_MS}..{MAX_HEARTBEAT_MS}",
                }
            ],
        )
    return value


def _last_event_id(raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    if not (raw.strip().isascii() and raw.strip().isdigit()):
        raise AdminInputError(
            f"Last-Event-ID must be the seq of an entry, got {raw!r}",
            [{"field": "Last-Event-ID", "message": "expected a non-negative integer"}],
        )
    return int(raw.strip())

"""RedisJournal: a namespace's journal in Redis, shared by every replica that names the same one.

Layout (keys under the namespace's base, see `redis_state`):
- `journal`: a list of entries, oldest first. Entries leave only from the head (the bounds) or all
  at once (a clear), and the script that appends also numbers, so the seqs a list holds are
  consecutive: the entry with seq `s` is at index `s - first`, where `first` is the newest seq
  minus the length plus one. So `get`, `since` and `latest` are one `LRANGE` of what they need,
  the oldest go first with `LPOP`, and no index beside the list is kept. (A stream would number
  its own ids; a hash by seq would need a second structure to drop the oldest.)
- `journal-meta`: a hash with `seq` (the last seq given, kept by a clear), `bytes` (the size the
  byte bound counts), `dropped`, and `epoch`: set by the first append (from Redis's clock), it
  makes entry ids unique beyond `seq` and the same from every replica; a journal that begins
  again (its namespace removed, Redis restarted empty) gets another.
- `journal-feed`: the pub/sub channel each append announces its seq on.

One Lua script numbers an entry, appends it, applies the bounds and counts what they dropped,
so an entry is never half-written and two replicas never share a seq. An entry is one string: a
compact JSON array of its fields, a NUL byte, then the header block and the body as received
(`encoded` and `_decoded` are the only functions that know it).

A subscription listens on the feed and, after each announcement (and once on start), reads what
is new since the last entry it handed out: each entry once, in seq order, none invented. Pure of
aiohttp; the connection is `redis.asyncio`'s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from types import TracebackType
from typing import Any, Final, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from mockserver.exchange import Exchange, JournalEntry, Outcome, rare_fields, unpack_rare
from mockserver.incoming import IncomingRequest
from mockserver.journal import EVERYTHING, JournalPage, JournalQuery, JournalStats
from mockserver.redis_client import BatchingRedis, PreparedScript, translating
from mockserver.redis_mirror import JournalMirror, Summary

_ENTRY_OVERHEAD: Final = 100
"""Bytes an entry costs in Redis beyond its string (list node, allocator): with its length, what
--journal-max-bytes bounds."""

APPEND: Final = """
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
if redis.call('HEXISTS', KEYS[2], 'epoch') == 0 then
  local now = redis.call('TIME')
  redis.call('HSET', KEYS[2], 'epoch', string.format('%x%05x', tonumber(now[1]), tonumber(now[2])))
end
local held = redis.call('RPUSH', KEYS[1], ARGV[5])
local overhead = tonumber(ARGV[3])
local bytes = redis.call('HINCRBY', KEYS[2], 'bytes', #ARGV[5] + overhead)
local limit, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local dropped = 0
while held > limit or (bytes > max_bytes and held > 1) do
  local oldest = redis.call('LPOP', KEYS[1])
  bytes = bytes - (#oldest + overhead)
  held = held - 1
  dropped = dropped + 1
end
if dropped > 0 then
  redis.call('HINCRBY', KEYS[2], 'dropped', dropped)
  redis.call('HSET', KEYS[2], 'bytes', bytes)
end
redis.call('PUBLISH', ARGV[4], seq)
return seq
"""
"""The script that appends an entry. KEYS: the list, the meta hash; ARGV: the limit, the byte
bound, the overhead, the feed (the same every time: `RedisJournal.appending` gives them), then
the entry. Another script may begin with steps of its own (keys and arguments after these) and
end with it."""

_RANGE: Final = """
local meta = redis.call('HMGET', KEYS[2], 'seq', 'dropped', 'epoch', 'amends')
local last = tonumber(meta[1] or '0')
local dropped = tonumber(meta[2] or '0')
local held = redis.call('LLEN', KEYS[1])
local first = last - held + 1
local start = 0
local after = tonumber(ARGV[1])
if after >= first then start = after - first + 1 end
local stop = held - 1
local count = tonumber(ARGV[2])
if count >= 0 then
  if ARGV[3] == '1' then
    start = math.max(start, held - count)
  else
    stop = math.min(stop, start + count - 1)
  end
end
local entries = {}
if start <= stop then entries = redis.call('LRANGE', KEYS[1], start, stop) end
return {first + start, dropped, last, held, entries, meta[3] or '', tonumber(meta[4] or '0')}
"""

_CLEAR: Final = """
local held = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'bytes', 0, 'dropped', 0)
return held
"""

_AMEND: Final = """
local last = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local held = redis.call('LLEN', KEYS[1])
local first = last - held + 1
local seq = tonumber(ARGV[1])
if seq < first or seq > last then return 0 end
local index = seq - first
local old = redis.call('LINDEX', KEYS[1], index)
redis.call('LSET', KEYS[1], index, ARGV[2])
redis.call('HINCRBY', KEYS[2], 'bytes', #ARGV[2] - #old)
redis.call('HINCRBY', KEYS[2], 'amends', 1)
return 1
"""

_SUBSCRIBED_WITHIN_S: Final = 5.0
"""How long a subscription waits for Redis to confirm it (a reachable Redis takes a round trip)."""


def encoded(exchange: Exchange) -> bytes:
    """An exchange as the journal stores it (the inverse of `_decoded`)."""
    request, outcome = exchange.request, exchange.outcome
    query_string, block = request.wire()
    extra = rare_fields(exchange)
    fields = [
        exchange.time, exchange.duration_ms, outcome.matched, outcome.status, outcome.stub_id,
        outcome.service, request.method, request.path, query_string, request.namespace,
        len(block), extra,
    ]  # fmt: skip
    # ASCII JSON (escapes, lone surrogates included) holds no NUL byte: the first one ends it
    text = _FIELDS_JSON.encode(fields)
    return text.encode() + b"\0" + block + request.body


def _base64(value: object) -> str:
    """JSON for the one bytes value among the rare fields, the raw body (`unpack_rare` reads
    it back)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON: {type(value).__name__}")


_FIELDS_JSON: Final = json.JSONEncoder(separators=(",", ":"), default=_base64)
"""Made once: `json.dumps` with options makes an encoder each call."""


def _decoded(seq: int, stored: bytes, epoch: str) -> JournalEntry:
    end = stored.index(b"\0")
    fields: list[Any] = json.loads(stored[:end])
    (time, duration_ms, matched, status, stub_id, service, method, path, query_string,
     namespace, block_size, extra) = fields  # fmt: skip
    rest = stored[end + 1 :]
    rare = unpack_rare(extra)
    request = IncomingRequest.from_wire(
        method,
        path,
        query_string,
        rest[:block_size],
        rest[block_size:],
        namespace=namespace,
        **rare.request,
    )
    outcome = Outcome(
        matched, status, stub_id, service, rare.near_misses, rare.error, rare.fault,
        rare.proxied_to, rare.upstream_status,
    )  # fmt: skip
    return JournalEntry(seq, Exchange(request, outcome, time, duration_ms), epoch)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _summary(stored: bytes) -> Summary:
    """What a scan of the mirror compares, read from the fields alone (see `_decoded`)."""
    fields: list[Any] = json.loads(stored[: stored.index(b"\0")])
    return fields[6], fields[7], fields[2], fields[5], fields[4]


def _filters(query: JournalQuery) -> bool:
    """Whether the query filters entries by their content (not only by seq and limit)."""
    return any(
        value is not None
        for value in (
            query.matcher,
            query.method,
            query.path,
            query.service,
            query.stub_id,
            query.matched,
            query.before_seq,  # read as a filter: the page is the newest before it
        )
    )


class RedisJournal:
    """A bounded, numbered record of exchanges in Redis (see the module's docstring)."""

    def __init__(
        self,
        client: BatchingRedis,
        base: str,
        limit: int,
        max_bytes: int,
        *,
        feeds: Redis | None = None,
    ) -> None:
        self._client = client
        self._feeds = client if feeds is None else feeds
        self._list = base + "journal"
        self._meta = base + "journal-meta"
        self.channel = base + "journal-feed"
        self._limit = limit
        self._max_bytes = max_bytes
        self._record = PreparedScript(client, APPEND, *self.appending())
        self._range = client.register_script(_RANGE)
        self._clear = client.register_script(_CLEAR)
        self._amend = client.register_script(_AMEND)
        self._mirror: JournalMirror | None = None  # made by the first filtered query
        self._mirrored_amends = 0  # entries rewritten (cut answers) when the mirror was read
        self._mirror_lock = asyncio.Lock()

    @property
    def keys(self) -> tuple[str, str]:
        """The keys a reset clears or a removal deletes (the feed is a channel, not a key)."""
        return self._list, self._meta

    @property
    def client(self) -> BatchingRedis:
        return self._client

    @property
    def feeds(self) -> Redis:
        """Where subscriptions take their connections: each holds one while it follows."""
        return self._feeds

    async def record(self, exchange: Exchange) -> int:
        return int(await self._record(encoded(exchange)))

    def appending(self) -> tuple[list[str], list[Any]]:
        """The keys and the fixed arguments of `APPEND` (the entry, `encoded`, follows)."""
        return [self._list, self._meta], [
            self._limit,
            self._max_bytes,
            _ENTRY_OVERHEAD,
            self.channel,
        ]

    async def amend(self, seq: int, outcome: Outcome) -> bool:
        # read, change, write back where that seq is now: only the replica that recorded an
        # entry amends it, and the script finds the index from the seq (the bounds may have
        # moved the list's head meanwhile) or gives up when the entry is gone
        entry = await self.get(seq)
        if entry is None:
            return False
        entry.exchange.outcome = outcome
        stored = encoded(entry.exchange)
        return bool(await self._amend(keys=[self._list, self._meta], args=(seq, stored)))

    async def _read(
        self, after: int, count: int | None = None, *, newest: bool = False
    ) -> tuple[list[JournalEntry], int, int, int]:
        """Entries after seq `after`, at most `count` (the newest `count` when `newest`); with
        the dropped count, the last seq and how many entries are held."""
        first, dropped, last, held, stored, epoch, _ = await self._range(
            keys=[self._list, self._meta],
            args=(after, -1 if count is None else count, 1 if newest else 0),
        )
        origin = _text(epoch)
        entries = [_decoded(first + offset, item, origin) for offset, item in enumerate(stored)]
        return entries, int(dropped), int(last), int(held)

    async def _mirrored(self) -> tuple[JournalMirror, int]:
        """The mirror brought up to date (one read of what is new), and the dropped count."""
        mirror = self._mirror
        if mirror is None:
            mirror = self._mirror = JournalMirror(_summary, _decoded)
        async with self._mirror_lock:  # one update at a time: each appends what it read
            keys = [self._list, self._meta]
            start, dropped, last, held, stored, epoch, amends = await self._range(
                keys=keys, args=(mirror.last_seq, -1, 0)
            )
            if (
                _text(epoch) != mirror.source
                or int(last) < mirror.last_seq
                or int(amends) != self._mirrored_amends
            ):
                # another journal than the one copied (its namespace was removed and made
                # again, or Redis restarted empty: the seqs it gives again are other entries),
                # or entries copied were amended since (answers cut, rare): read it all again
                mirror.reset(_text(epoch))
                read = await self._range(keys=keys, args=(0, -1, 0))
                start, dropped, last, held, stored, epoch, amends = read
                self._mirrored_amends = int(amends)
            first = int(last) - int(held) + 1  # the oldest seq held
            mirror.update(first, int(last), enumerate(stored, start=int(start)))
        return mirror, int(dropped)

    async def find(self, query: JournalQuery = EVERYTHING) -> JournalPage:
        since = query.since_seq
        after = -1 if since is None else since
        if not _filters(query):  # seq and limit only: Redis reads just the page
            entries, dropped, last, held = await self._read(
                after, query.limit, newest=since is None
            )
            total = held if since is None else max(0, min(held, last - since))
            return JournalPage(entries, total, dropped)
        mirror, dropped = await self._mirrored()
        selected = mirror.select(query)
        return JournalPage(query.page(selected), len(selected), dropped)

    async def count(self, query: JournalQuery = EVERYTHING) -> int:
        if query == EVERYTHING:
            return int(await self._client.llen(self._list))
        if not _filters(query):
            return (await self.find(query)).total
        mirror, _ = await self._mirrored()
        return mirror.count(query)

    async def get(self, seq: int) -> JournalEntry | None:
        entries, *_ = await self._read(seq - 1, 1)
        return next((entry for entry in entries if entry.seq == seq), None)

    async def since(self, seq: int, limit: int | None = None) -> list[JournalEntry]:
        entries, *_ = await self._read(seq, limit)
        return entries

    async def latest(self, limit: int) -> list[JournalEntry]:
        entries, *_ = await self._read(-1, limit, newest=True)
        return entries

    async def unmatched(self) -> list[JournalEntry]:
        return (await self.find(JournalQuery(matched=False))).entries

    async def stats(self) -> JournalStats:
        with translating(self._client.store):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.llen(self._list)
                pipe.hmget(self._meta, "dropped", "seq")
                held, (dropped, last) = await pipe.execute()
        return JournalStats(int(held), int(dropped or 0), int(last or 0))

    async def last_seq(self) -> int:
        return int(await self._client.hget(self._meta, "seq") or 0)

    async def clear(self) -> int:
        return int(await self._clear(keys=[self._list, self._meta]))

    def subscribe(self, after_seq: int | None = None) -> RedisSubscription:
        return RedisSubscription(self, after_seq)


class RedisSubscription:
    """Follows a Redis journal through its feed channel: on each announcement it reads what is
    new since the last entry it handed out (see the module's docstring). Without `after_seq` it
    starts at the journal's last seq when entered (`async with`) or first read."""

    def __init__(self, journal: RedisJournal, after_seq: int | None) -> None:
        self._journal = journal
        self._last_seq = after_seq
        self._pending: list[JournalEntry] = []
        self._pubsub: PubSub | None = None
        self._closed = asyncio.Event()

    @property
    def last_seq(self) -> int:
        return self._last_seq or 0

    def __aiter__(self) -> RedisSubscription:
        return self

    async def _start(self) -> None:
        if self._pubsub is None:
            with translating(self._journal.client.store):
                await self._subscribe()
        if self._last_seq is None:
            self._last_seq = await self._journal.last_seq()

    async def _subscribe(self) -> None:
        pubsub = self._pubsub = self._journal.feeds.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self._journal.channel)  # before reading: nothing slips by
        # SUBSCRIBE is only sent; the read that follows goes over another connection and
        # could overtake it, missing an entry announced in between. Redis answers one
        # connection's commands in order: once the PING's pong is back, the subscription
        # is in force.
        await pubsub.ping()
        async with asyncio.timeout(_SUBSCRIBED_WITHIN_S):
            while True:
                message = await pubsub.get_message(timeout=_SUBSCRIBED_WITHIN_S)
                if message is not None and message["type"] == "pong":
                    break

    async def __anext__(self) -> JournalEntry:
        while not self._pending:
            if self._closed.is_set():
                await self.aclose()
                raise StopAsyncIteration
            await self._start()
            self._pending = await self._journal.since(self.last_seq)
            if not self._pending:
                await self._announced()
        entry = self._pending.pop(0)
        self._last_seq = entry.seq
        return entry

    async def _announced(self) -> None:
        """Wait for an announcement on the feed, or for `close`."""
        assert self._pubsub is not None
        message = asyncio.ensure_future(self._pubsub.get_message(timeout=None))
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait((message, closed), return_when=asyncio.FIRST_COMPLETED)
            if message.done() and (lost := message.exception()) is not None:
                with translating(self._journal.client.store):
                    raise lost  # Redis went away: the reader is told, not left waiting
        finally:
            for waiter in (message, closed):
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiter

    async def __aenter__(self) -> RedisSubscription:
        await self._start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.aclose()

    def close(self) -> None:
        self._closed.set()

    async def aclose(self) -> None:
        """Give the feed's connection back (`close` only stops the iteration)."""
        self._closed.set()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await cast(Any, pubsub).aclose()  # untyped in redis-py

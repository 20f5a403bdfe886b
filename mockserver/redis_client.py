"""The connection to Redis that the Redis state and journal share (`--state redis://...`).

Two things every call needs, kept out of the state's and journal's own code:

- **Batching.** `BatchingRedis.execute_command` queues the command; once per event-loop turn, all
  the commands queued in it (the claims, journal appends and reads of every request that arrived
  in that turn) go to Redis in one pipeline, over one connection, and each caller gets its own
  reply. A lone command is sent on its own. Order holds where it matters: a caller awaits each
  command before it sends the next, and one pipeline's commands run in the order queued. WATCH/
  MULTI transactions (`pipeline()`) and subscriptions keep their own connections.
- **Unavailability.** Connections give up after bounded times (`CONNECT_TIMEOUT_S`,
  `SOCKET_TIMEOUT_S`; a stale pooled connection is retried once, at once, so a restarted Redis is
  found again without a failed call), and every way of failing to reach Redis becomes a
  `StateUnavailableError` naming the store (its URL, password hidden): the request path and the
  admin API answer it 503 JSON. Nothing is remembered about the failure, so the next call tries
  again: the server recovers by itself when Redis returns.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import (
    ConnectionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
    TimeoutError,
)

from mockserver.errors import StateUnavailableError

CONNECT_TIMEOUT_S: Final = 2.0
"""Seconds a connection to Redis may take to open: an unreachable host fails a call quickly."""
SOCKET_TIMEOUT_S: Final = 5.0
"""Seconds a reply may take (ours are scripts of a few steps): a Redis that stopped answering
fails a call instead of hanging it."""
CONNECTIONS: Final = 64
"""Connections a process opens at most for calls; more concurrent pipelines wait for one."""

LOST: Final = (ConnectionError, TimeoutError, OSError, ReadOnlyError, OutOfMemoryError)
"""What failing to reach Redis, or a Redis that cannot take writes now, raises (a Redis still
loading its data after a restart answers LOADING: a `ConnectionError` too)."""


def shown_url(url: str) -> str:
    """The store's URL as errors and health show it: without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def unavailable(store: str, error: BaseException) -> StateUnavailableError:
    reason = str(error) or type(error).__name__
    return StateUnavailableError(store, reason)


@contextlib.contextmanager
def translating(store: str) -> Iterator[None]:
    """Turn a lost connection inside the block into `StateUnavailableError` (for the calls that
    do not go through `BatchingRedis.execute_command`: transactions, subscriptions)."""
    try:
        yield
    except LOST as error:
        raise unavailable(store, error) from error


Queued = tuple[bytes, str, dict[str, Any], "asyncio.Future[Any]"]
"""A command waiting for its turn's pipeline: packed, its name (which reply callback applies),
redis-py's options, and its caller's future."""


class BatchingRedis(Redis):
    """A Redis client whose commands are sent one pipeline per event-loop turn (see the module's
    docstring). `store` is the URL errors show."""

    def __init__(self, pool: BlockingConnectionPool, store: str) -> None:
        super().__init__(connection_pool=pool)
        self.auto_close_connection_pool = True  # closing the client closes the pool
        self.store = store
        self._queue: list[Queued] = []
        self._sending: set[asyncio.Task[None]] = set()
        # connections batches took from the pool, kept between batches: taking one from the
        # pool and giving it back cost more than the rest of a small batch
        self._idle: list[Any] = []

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return await self.queue(pack_command(args), args[0], options)

    def queue(
        self, packed: bytes, name: str, options: dict[str, Any] | None = None
    ) -> asyncio.Future[Any]:
        """Send a packed command with this turn's pipeline; its reply. (What `execute_command`
        does, without the coroutine: the request path's scripts come packed, `PreparedScript`.)"""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        queue = self._queue
        queue.append((packed, name, {} if options is None else options, reply))
        if len(queue) == 1:  # the first of this turn: send them all once it ends
            loop.call_soon(self._flush)
        return reply

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Queued]) -> None:
        try:
            replies = await self._exchange(batch)
        except LOST as error:
            failure = unavailable(self.store, error)
            for *_, reply in batch:
                if not reply.done():
                    reply.set_exception(failure)
            return
        except BaseException as error:  # cancelled at shutdown, or a fault of the client
            for *_, reply in batch:
                if not reply.done():
                    reply.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for (*_, reply), answer in zip(batch, replies, strict=True):
            if reply.done():  # its caller was cancelled
                continue
            if isinstance(answer, LOST):
                reply.set_exception(unavailable(self.store, answer))
            elif isinstance(answer, Exception):
                reply.set_exception(answer)
            else:
                reply.set_result(answer)

    async def _exchange(self, batch: list[Queued]) -> list[Any]:
        """Write the batch's commands at once on one connection and read each reply (an error
        reply is the caller's, in its place). A pooled connection that Redis closed (a restart)
        fails the first attempt before any reply; the second opens a new one. A timeout, or a
        connection lost after a reply, is not retried: the commands may have run, and a journal
        append must not run twice."""
        packed = b"".join([command for command, *_ in batch])
        pool = self.connection_pool
        for attempt in (1, 2):
            if self._idle:
                connection = self._idle.pop()
            else:
                connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            replies: list[Any] = []
            try:
                await connection.send_packed_command(packed)
                # one deadline for the batch's replies, not one per reply (each cost a timer)
                try:
                    async with asyncio.timeout(SOCKET_TIMEOUT_S):
                        for _, name, options, _ in batch:
                            try:
                                replies.append(await self._reply(connection, name, options))
                            except ResponseError as error:
                                replies.append(error)
                except builtins.TimeoutError as late:
                    raise TimeoutError(f"Timeout: no reply in {SOCKET_TIMEOUT_S:g} s") from late
            except ConnectionError:
                await self._discard(connection)
                # Redis closed it (a restart): the kept ones too
                for kept in self._idle[:]:
                    self._idle.remove(kept)
                    await self._discard(kept)
                if attempt == 2 or replies:  # a reply came: the others may have run too
                    raise
            except BaseException:
                await self._discard(connection)  # replies left unread: not for the next batch
                raise
            else:
                self._idle.append(connection)
                return replies
        raise AssertionError("unreachable")

    async def _reply(self, connection: Any, name: str, options: dict[str, Any]) -> Any:
        """One reply, as `Redis.parse_response` reads it, but without a timer of its own (the
        batch has one) and read from the connection's reader itself (`_parser`, in every
        redis-py since asyncio came: four layers less per reply, 6% of a plain answer)."""
        try:
            # straight from redis-py's reader: `read_response`'s layers cost more than the reply
            response = await connection._parser.read_response(
                disable_decoding=NEVER_DECODE in options
            )
        except OSError as error:  # as `read_response` says it: a connection lost
            raise ConnectionError(f"Error while reading from Redis: {error}") from error
        if isinstance(response, ResponseError):
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise response
        callback = self.response_callbacks.get(name)
        if callback is None:
            return response
        extra = {
            key: value
            for key, value in options.items()
            if key not in (NEVER_DECODE, EMPTY_RESPONSE, "keys")
        }
        return callback(response, **extra)

    async def _discard(self, connection: Any) -> None:
        await connection.disconnect()
        await self.connection_pool.release(connection)

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        while self._sending:  # what was queued is sent: a record is never left half-way
            await asyncio.gather(*self._sending, return_exceptions=True)
        while self._idle:
            await self.connection_pool.release(self._idle.pop())
        await super().aclose(close_connection_pool)


class PreparedScript:
    """A Lua script called with the same keys and leading arguments every time (a namespace's
    keys, the journal's bounds): those are packed once, so a call packs only the arguments
    that vary, and skips redis-py's script and command layers. Loaded again when Redis does
    not know it (NOSCRIPT: a restarted Redis), as redis-py's scripts are."""

    def __init__(
        self, client: BatchingRedis, script: str, keys: Sequence[str], fixed: Sequence[Any] = ()
    ) -> None:
        self._client = client
        self._script = script
        sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._count = 3 + len(keys) + len(fixed)
        self._head = pack_arguments(("EVALSHA", sha, len(keys), *keys, *fixed))

    async def __call__(self, *args: Any) -> Any:
        """The script's reply, `args` following the fixed arguments."""
        packed = b"*%d\r\n%s%s" % (self._count + len(args), self._head, pack_arguments(args))
        try:
            return await self._client.queue(packed, "EVALSHA")
        except NoScriptError:
            await self._client.script_load(self._script)
            return await self._client.queue(packed, "EVALSHA")


def pack_command(args: tuple[Any, ...]) -> bytes:
    """One command in the Redis protocol (what redis-py's packer makes, in a third of its time:
    the request path sends two or three commands a request)."""
    name = args[0]
    if isinstance(name, str) and " " in name:  # "SCRIPT LOAD": two words of the protocol
        args = (*name.split(), *args[1:])
    return b"*%d\r\n%s" % (len(args), pack_arguments(args))


def pack_arguments(args: Sequence[Any]) -> bytes:
    """Arguments of a command in the Redis protocol, without the count that heads it."""
    parts = []
    for arg in args:
        if isinstance(arg, bytes):
            value = arg
        elif isinstance(arg, str):
            value = arg.encode()
        elif isinstance(arg, int):  # bool included, as redis-py refuses it: never sent
            value = b"%d" % arg
        elif isinstance(arg, float):
            value = repr(arg).encode()
        else:
            value = bytes(memoryview(arg))
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


def _retry() -> Retry:
    # a pooled connection Redis closed (a restart) fails once and is opened again at once;
    # a timeout is not retried: the command may have run, and a journal append must not twice
    return Retry(NoBackoff(), 1, supported_errors=(ConnectionError,))


def connect(url: str) -> BatchingRedis:
    """The batching client of the Redis at `url`, with its bounded pool and timeouts."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=CONNECTIONS,
        timeout=None,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        retry=_retry(),
    )
    return BatchingRedis(pool, shown_url(url))


def connect_feeds(url: str) -> Redis:
    """The client subscriptions take their connections from (each holds one while it follows
    the feed, so they get a pool of their own). No socket timeout: a subscription waits for
    announcements as long as its reader wants; a Redis that goes away closes its connection."""
    return Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, retry=_retry())

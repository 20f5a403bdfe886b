"""RedisState: the state interface in Redis (`--state redis://HOST:PORT/DB`), so that replicas
naming the same Redis share it (PRODUCT.md §15).

Keys, all under a prefix (default `mockserver:`): `names` (the set of namespaces), `api-order`
(the API-stub counter, INCRBY), and per namespace under `d:` (the default one) or `n:<name>:`:
- `hits` and `scenarios`: hashes, changed by one Lua script per claim that checks the scenario's
  expected state and `times`, counts the hit and moves the scenario, as one step;
- `api`: a hash with `version` and `doc`, the JSON of the API stubs (each stub's spec with its
  id, source, order, service, base path and host) and of the file stubs the namespace hid;
  changed under WATCH/MULTI, retried when another replica changed it first. Versions come from
  one counter (`api-version`), so no two states of any namespace share one. Each process
  rebuilds `Stub`s from it with the loader's `build_stubs` and keeps them while the version
  holds;
- `clock`: the JSON of the `ClockSetting` (a namespace not yet created reads the default's);
- `callbacks`: a list of callback attempts (JSON), trimmed to the newest `ATTEMPTS_KEPT`;
- `recordings`: a hash with `version` and `doc`, the JSON of the namespace's recordings (each
  recorded stub's spec and its body files in base64), changed under WATCH/MULTI as `api` is and
  parsed again only when the version changed;
- the journal's keys (`redis_journal`).

A namespace is created by a script that checks the set against the limit and copies the
default's clock, as one step. Reset is one MULTI. `local()` is always None: the request path
takes its awaited steps. The connection (`redis_client`) sends the commands of one event-loop
turn in one pipeline and turns a Redis out of reach into `StateUnavailableError`. The `redis`
package is an optional extra (`mockserver[redis]`); only `--state redis://...` imports this
module.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from pydantic import JsonValue
from redis.asyncio import Redis
from redis.exceptions import WatchError

from mockserver.clock import REAL, ClockSetting
from mockserver.exchange import Exchange
from mockserver.loader import build_stubs
from mockserver.recorded import RecordedStub
from mockserver.redis_client import (
    BatchingRedis,
    PreparedScript,
    connect,
    connect_feeds,
    translating,
)
from mockserver.redis_journal import APPEND, RedisJournal, encoded
from mockserver.spec import DocumentHeader, StubSpec
from mockserver.state import (
    ATTEMPTS_KEPT,
    STARTED,
    ApiStubs,
    ApiStubsChange,
    Claim,
    NamespaceState,
    Recordings,
    ScenarioStep,
    ServiceRecording,
    namespace_limit_error,
    scenario_refusal,
    times_refusal,
)
from mockserver.stub import Stub

DEFAULT_PREFIX: Final = "mockserver:"

_CLAIM: Final = """
local name = ARGV[3]
if name ~= '' and ARGV[4] == '1' then
  local current = redis.call('HGET', KEYS[2], name) or ARGV[8]
  if current ~= ARGV[5] then return {0, current} end
end
local count = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') + 1
if ARGV[2] ~= '' and count > tonumber(ARGV[2]) then return {-1} end
redis.call('HSET', KEYS[1], ARGV[1], count)
if name ~= '' and ARGV[6] == '1' then redis.call('HSET', KEYS[2], name, ARGV[7]) end
return {count}
"""

_RECORD_COUNTED: Final = (
    """
if ARGV[7] ~= '' then
  if (redis.call('HGET', KEYS[4], 'version') or '0') ~= ARGV[7] then return -1 end
  if ARGV[8] ~= '' and redis.call('SISMEMBER', KEYS[5], ARGV[8]) == 0 then return -1 end
end
redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
"""
    + APPEND
)
"""A claim-free stub's hit counted and its exchange journaled, as one step (`record_counted`):
KEYS and ARGV of the journal's `APPEND`, then the hits, the API stubs and the namespaces (keys),
the stub id, the API-stub version the answer was chosen under ('' for none) and the namespace's
name ('' for the default one); -1 when the version moved or the namespace is gone."""

_CREATE: Final = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], redis.call('GET', KEYS[3]) or ARGV[3])
return 1
"""

_NEXT_VERSION: Final = """
local version = redis.call('INCR', KEYS[1])
if version == 1 then
  redis.call('SET', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
return version
"""
"""The next API-stub version. A Redis that starts empty (restarted without persistence) starts
the counter at the time in microseconds, past any version a replica may still hold compiled."""

_VIEW: Final = """
return {redis.call('HGET', KEYS[1], 'version'), redis.call('GET', KEYS[2]),
        redis.call('GET', KEYS[3])}
"""
"""What a request reads first: the API-stub version, the namespace's clock and the default's."""

_SEEN_CLOCK: ContextVar[tuple[RedisNamespace, ClockSetting] | None] = ContextVar(
    "seen_clock", default=None
)
"""The clock the current request (its task) read with the API-stub version, for its `clock()`
call to use instead of another round trip. Read during the request, so as exact as a read of its
own."""

_ATTEMPT: Final = """
if ARGV[3] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return 1
"""
"""Keep a callback attempt, unless its namespace was removed meanwhile (a callback still being
delivered): its key would outlive the namespace and show in one created again by that name."""

_REMOVE: Final = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
for index = 2, #KEYS do redis.call('DEL', KEYS[index]) end
return 1
"""

T = TypeVar("T")


def _clock_json(setting: ClockSetting) -> str:
    frozen = None if setting.frozen is None else setting.frozen.isoformat()
    return json.dumps([setting.mode, frozen, setting.offset_ms])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _clock(stored: bytes | str | None) -> ClockSetting:
    if stored is None:
        return REAL
    mode, frozen, offset_ms = json.loads(stored)
    return ClockSetting(mode, None if frozen is None else datetime.fromisoformat(frozen), offset_ms)


_REAL_JSON: Final = _clock_json(REAL)


def _stub_json(stub: Stub) -> dict[str, Any]:
    return {
        "id": stub.id,
        "source": stub.source,
        "order": stub.order,
        "service": stub.service,
        "base_path": stub.base_path,
        "host": stub.host,
        "spec": stub.spec.model_dump(mode="json", by_alias=True, exclude_unset=True),
    }


def _recorded_json(stub: RecordedStub) -> dict[str, Any]:
    return {
        "spec": stub.spec.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "files": {
            name: base64.b64encode(content).decode("ascii") for name, content in stub.files.items()
        },
    }


def _recorded(stored: Mapping[str, Any]) -> RecordedStub:
    files = {name: base64.b64decode(content) for name, content in stored["files"].items()}
    return RecordedStub(StubSpec.model_validate(stored["spec"]), files)


def _recordings_json(recordings: Recordings) -> str:
    services = {
        service: {
            "base_path": recording.base_path,
            "earlier": None
            if recording.earlier is None
            else [_recorded_json(stub) for stub in recording.earlier],
            "stubs": [_recorded_json(stub) for stub in recording.stubs],
            "installed": sorted(recording.installed),
        }
        for service, recording in recordings.services.items()
    }
    return json.dumps({"mode": recordings.mode, "services": services})


def _recordings(doc: bytes | str) -> Recordings:
    data = json.loads(doc)
    services = {
        service: ServiceRecording(
            service,
            stored["base_path"],
            None if stored["earlier"] is None else tuple(map(_recorded, stored["earlier"])),
            tuple(map(_recorded, stored["stubs"])),
            frozenset(stored["installed"]),
        )
        for service, stored in data["services"].items()
    }
    return Recordings(data["mode"], services)


class RedisNamespace:
    """One namespace's state in Redis."""

    def __init__(self, state: RedisState, name: str | None) -> None:
        self._state = state
        self._name = name
        client = state.client
        base = state.base(name)
        self._hits = base + "hits"
        self._scenarios = base + "scenarios"
        self._api_key = base + "api"
        self._clock_key = base + "clock"
        self._attempts_key = base + "callbacks"
        self._recordings_key = base + "recordings"
        self._recordings: tuple[int, Recordings] = (0, Recordings())
        self._default_clock = state.base(None) + "clock"
        self._journal = RedisJournal(
            client, base, state.journal_limit, state.journal_max_bytes, feeds=state.feeds
        )
        self._api = ApiStubs()
        self._claim = PreparedScript(client, _CLAIM, (self._hits, self._scenarios))
        journal_keys, bounds = self._journal.appending()
        counted_keys = (*journal_keys, self._hits, self._api_key, state.names_key)
        self._record_counted = PreparedScript(client, _RECORD_COUNTED, counted_keys, bounds)
        self._view = PreparedScript(
            client, _VIEW, (self._api_key, self._clock_key, self._default_clock)
        )
        self._attempt = client.register_script(_ATTEMPT)
        self._pending_view: asyncio.Future[Any] | None = None

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def journal(self) -> RedisJournal:
        return self._journal

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key of the namespace (its removal deletes them)."""
        return (
            self._hits,
            self._scenarios,
            self._api_key,
            self._clock_key,
            self._attempts_key,
            self._recordings_key,
            *self._journal.keys,
        )

    async def claim(
        self, stub_id: str, *, times: int | None = None, scenario: ScenarioStep | None = None
    ) -> Claim:
        step = scenario or ScenarioStep("", None, None)
        args = (
            stub_id,
            "" if times is None else times,
            step.name,
            "0" if step.expected is None else "1",
            step.expected or "",
            "0" if step.next is None else "1",
            step.next or "",
            STARTED,
        )
        result = await self._claim(*args)
        if result[0] == 0:
            assert scenario is not None
            return scenario_refusal(scenario, _text(result[1]))
        if result[0] == -1:
            assert times is not None
            return times_refusal(times)
        return int(result[0])

    async def record_counted(
        self, exchange: Exchange, stub_id: str, *, version: int | None = None
    ) -> int | None:
        entry = encoded(exchange)
        if version is None:
            seq = await self._record_counted(entry, stub_id, "", "")
        else:
            seq = await self._record_counted(entry, stub_id, version, self._name or "")
        return None if seq < 0 else int(seq)

    async def scenarios(self) -> Mapping[str, str]:
        stored = await self._state.client.hgetall(self._scenarios)
        return {_text(name): _text(value) for name, value in stored.items()}

    async def set_scenario(self, name: str, state: str) -> None:
        await self._state.client.hset(self._scenarios, name, state)

    async def hits(self) -> Mapping[str, int]:
        stored = await self._state.client.hgetall(self._hits)
        return {_text(stub_id): int(count) for stub_id, count in stored.items()}

    def _api_from(self, version: bytes | str | None, doc: bytes | str | None) -> ApiStubs:
        """The API stubs as stored; the ones built before while the version holds."""
        number = int(version or 0)
        if number == self._api.version:
            return self._api
        if doc is None:
            api = ApiStubs((), frozenset(), number)
        else:
            data = json.loads(doc)
            stubs = tuple(self._state.rebuilt(stored) for stored in data["stubs"])
            api = ApiStubs(stubs, frozenset(data["hidden"]), number)
        self._api = api
        return api

    def _viewed(self) -> asyncio.Future[Any]:
        """The version and clocks, read once for every request of this event-loop turn that asks
        (the read is not sent before the turn ends, so it sees what each of them would)."""
        pending = self._pending_view
        if pending is None:
            view = self._view()
            pending = self._pending_view = asyncio.ensure_future(view)
            asyncio.get_running_loop().call_soon(self._view_closed)
        return pending

    def _view_closed(self) -> None:
        self._pending_view = None

    async def api_stubs(self) -> ApiStubs:
        version, own, default = await asyncio.shield(self._viewed())
        # a namespace not yet created reads what it would start with: the default's clock
        setting = _clock(own if own is not None or self._name is None else default)
        _SEEN_CLOCK.set((self, setting))
        if int(version or 0) == self._api.version:
            return self._api
        version, doc = await self._state.client.hmget(self._api_key, "version", "doc")
        return self._api_from(version, doc)

    @staticmethod
    def _api_mapping(api: ApiStubs) -> dict[str, Any]:
        doc = {
            "stubs": [_stub_json(stub) for stub in api.stubs],
            "hidden": sorted(api.hidden_file_ids),
        }
        return {"version": api.version, "doc": json.dumps(doc)}

    async def update_api_stubs(self, change: Callable[[ApiStubs], ApiStubsChange]) -> ApiStubs:
        async def apply(pipe: Any) -> Callable[[], ApiStubs]:
            current = self._api_from(*await pipe.hmget(self._api_key, "version", "doc"))
            changed = change(current)  # may raise: nothing was written
            version = await self._state.next_api_version(pipe)
            api = ApiStubs(changed.stubs, changed.hidden_file_ids, version)
            pipe.multi()
            pipe.hset(self._api_key, mapping=self._api_mapping(api))
            if changed.forget:
                pipe.hdel(self._hits, *changed.forget)
            return lambda: api

        api = await self._state.watching((self._api_key,), apply)
        self._api = api
        return api

    async def clock(self) -> ClockSetting:
        seen = _SEEN_CLOCK.get()
        if seen is not None and seen[0] is self:  # read with the version by this request
            _SEEN_CLOCK.set(None)
            return seen[1]
        if self._name is None:
            return _clock(await self._state.client.get(self._clock_key))
        own, default = await self._state.client.mget(self._clock_key, self._default_clock)
        # a namespace not yet created reads what it would start with: the default's
        return _clock(own if own is not None else default)

    async def update_clock(self, change: Callable[[ClockSetting], ClockSetting]) -> ClockSetting:
        _SEEN_CLOCK.set(None)  # read before this change: not for a later clock() of this task

        async def apply(pipe: Any) -> Callable[[], ClockSetting]:
            own, default = await pipe.mget(self._clock_key, self._default_clock)
            setting = change(_clock(own if own is not None or self._name is None else default))
            pipe.multi()
            pipe.set(self._clock_key, _clock_json(setting))
            return lambda: setting

        return await self._state.watching((self._clock_key, self._default_clock), apply)

    async def record_attempt(self, attempt: Mapping[str, JsonValue]) -> None:
        await self._attempt(
            keys=[self._attempts_key, self._state.names_key],
            args=(json.dumps(attempt), ATTEMPTS_KEPT, self._name or ""),
        )

    async def attempts(self) -> list[dict[str, JsonValue]]:
        stored = await self._state.client.lrange(self._attempts_key, 0, -1)
        return [json.loads(item) for item in stored]

    def _recordings_from(self, version: bytes | str | None, doc: bytes | str | None) -> Recordings:
        """The recordings as stored; the ones parsed before while the version holds."""
        number = int(version or 0)
        if number != self._recordings[0]:
            self._recordings = (number, Recordings() if doc is None else _recordings(doc))
        return self._recordings[1]

    async def recordings(self) -> Recordings:
        stored = await self._state.client.hmget(self._recordings_key, "version", "doc")
        return self._recordings_from(*stored)

    async def update_recordings(self, change: Callable[[Recordings], Recordings]) -> Recordings:
        async def apply(pipe: Any) -> Callable[[], Recordings]:
            current = self._recordings_from(
                *await pipe.hmget(self._recordings_key, "version", "doc")
            )
            changed = change(current)  # may raise: nothing was written
            version = await self._state.next_api_version(pipe)
            pipe.multi()
            pipe.hset(
                self._recordings_key,
                mapping={"version": version, "doc": _recordings_json(changed)},
            )
            return lambda: changed

        changed = await self._state.watching((self._recordings_key,), apply)
        return changed

    async def reset(self) -> int:
        _SEEN_CLOCK.set(None)
        removed = 0

        async def apply(pipe: Any) -> Callable[[], int]:
            nonlocal removed
            current = self._api_from(*await pipe.hmget(self._api_key, "version", "doc"))
            removed = len(current.stubs)
            api = ApiStubs((), current.hidden_file_ids, await self._state.next_api_version(pipe))
            journal, meta = self._journal.keys
            pipe.multi()
            pipe.delete(journal, self._hits, self._scenarios, self._attempts_key)
            pipe.hset(meta, mapping={"bytes": 0, "dropped": 0})
            pipe.set(self._clock_key, _REAL_JSON)
            pipe.hset(self._api_key, mapping=self._api_mapping(api))
            return lambda: removed

        return await self._state.watching((self._api_key,), apply)


class RedisState:
    """Every namespace's state in one Redis (see the module's docstring)."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        journal_limit: int,
        journal_max_bytes: int,
        limit: int,
        stub_dirs: Sequence[Path] = (),
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.client: BatchingRedis = connect(url)
        # subscriptions (a verify waiting with within_ms, a live feed) hold a connection each
        # while they follow: from a pool of their own, so that however many wait, requests
        # still get the connections of the bounded pool
        self.feeds: Redis = connect_feeds(url)
        self.journal_limit = journal_limit
        self.journal_max_bytes = journal_max_bytes
        self._limit = limit
        self._stub_dirs = tuple(stub_dirs)
        self._prefix = prefix
        self._names = prefix + "names"
        self._api_order = prefix + "api-order"
        self._api_version = prefix + "api-version"
        self._create = self.client.register_script(_CREATE)
        self._remove = self.client.register_script(_REMOVE)
        self._default = RedisNamespace(self, None)
        self._namespaces: dict[str, RedisNamespace] = {}

    @property
    def names_key(self) -> str:
        """The key of the set of namespaces."""
        return self._names

    def base(self, name: str | None) -> str:
        """The prefix of a namespace's keys."""
        return self._prefix + ("d:" if name is None else f"n:{name}:")

    async def close(self) -> None:
        await self.client.aclose()
        await self.feeds.aclose()

    async def watching(
        self, keys: Sequence[str], apply: Callable[[Any], Awaitable[Callable[[], T]]]
    ) -> T:
        """Run `apply` on a pipeline watching `keys` (it reads, then calls `multi()` and queues
        its writes) and execute; again when another client changed a key meanwhile."""
        with translating(self.client.store):
            return await self._watching(keys, apply)

    async def _watching(
        self, keys: Sequence[str], apply: Callable[[Any], Awaitable[Callable[[], T]]]
    ) -> T:
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(*keys)
                    result = await apply(pipe)
                    await pipe.execute()
                    return result()
                except WatchError:
                    continue

    def rebuilt(self, stored: Mapping[str, Any]) -> Stub:
        """A stub from its stored JSON, prepared as the admin call that added it did."""
        header = DocumentHeader(
            service=stored["service"], base_path=stored["base_path"], host=stored["host"], stubs=[]
        )
        base_dir = self._stub_dirs[0].resolve() if self._stub_dirs else Path.cwd()
        (stub,) = build_stubs(
            [StubSpec.model_validate(stored["spec"])],
            "api",
            base_dir,
            stub_dirs=self._stub_dirs,
            header=header,
            name=stored["source"],
        )
        return replace(stub, id=stored["id"], order=stored["order"], source=stored["source"])

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def default(self) -> RedisNamespace:
        return self._default

    def local(self, namespace: NamespaceState) -> None:
        return None

    def _named(self, name: str) -> RedisNamespace:
        found = self._namespaces.get(name)
        if found is None:
            found = self._namespaces[name] = RedisNamespace(self, name)
        return found

    async def lookup(self, name: str | None) -> RedisNamespace | None:
        if name is None:
            return self._default
        if not await self.client.sismember(self._names, name):
            return None
        return self._named(name)

    async def create(self, name: str) -> RedisNamespace:
        created = await self._create(
            keys=[self._names, self.base(name) + "clock", self.base(None) + "clock"],
            args=(name, self._limit, _REAL_JSON),
        )
        if not created:
            raise namespace_limit_error(name, self._limit)
        return self._named(name)

    async def remove(self, name: str) -> bool:
        keys = self._named(name).keys
        removed = await self._remove(keys=[self._names, *keys], args=(name,))
        self._namespaces.pop(name, None)
        return bool(removed)

    async def names(self) -> list[str]:
        return sorted(_text(name) for name in await self.client.smembers(self._names))

    def detached(self, name: str | None) -> RedisNamespace:
        if name is None:
            return self._default
        # the same keys as the namespace once created: a reader sees what it records
        return self._namespaces.get(name) or RedisNamespace(self, name)

    async def next_api_version(self, pipe: Any) -> int:
        """A version no namespace has had: a namespace removed and created again never shows a
        replica the version of stubs it compiled before."""
        base = time.time_ns() // 1000
        return int(await pipe.eval(_NEXT_VERSION, 1, self._api_version, base))

    async def next_api_orders(self, count: int) -> int:
        last = await self.client.incrby(self._api_order, count)
        return int(last) - count + 1

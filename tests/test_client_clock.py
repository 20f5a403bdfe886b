"""`client.clock` of both Python clients against a real server (started with start_in_thread)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mockserver import AdminError, AsyncMockServerClient, MockServerClient
from mockserver.client import ClockState
from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread

NOW_STUB = """
- id: now
  request: {path: /now}
  response: {template: true, json: {now: "{{ now() }}"}}
"""
NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    stubs = tmp_path_factory.mktemp("stubs")
    (stubs / "now.yaml").write_text(NOW_STUB)
    running = start_in_thread(Settings(stubs=(stubs,), port=0))
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[MockServerClient]:
    client = MockServerClient(server.url)
    yield client
    client.reset()


def rendered_now(url: str) -> datetime:
    """What `now()` renders for a request the application sends to `url`."""
    with _DIRECT.open(f"{url}/now", timeout=10) as response:
        return datetime.fromisoformat(json.loads(response.read())["now"])


def test_freeze_advance_offset_and_reset(client: MockServerClient) -> None:
    assert client.clock.freeze("2026-01-01T00:00:00Z") == ClockState(
        mode="frozen", now=NEW_YEAR, frozen=NEW_YEAR, offset_ms=0
    )
    assert rendered_now(client.url) == NEW_YEAR
    moved = client.clock.advance(61_000)
    assert moved.frozen == moved.now == NEW_YEAR + timedelta(seconds=61)
    assert client.clock.get() == moved
    assert rendered_now(client.url) == NEW_YEAR + timedelta(seconds=61)

    before = datetime.now(UTC)
    ahead = client.clock.offset(3_600_000)
    after = datetime.now(UTC)
    assert (ahead.mode, ahead.frozen, ahead.offset_ms) == ("offset", None, 3_600_000)
    assert before + timedelta(hours=1) <= ahead.now <= after + timedelta(hours=1)
    assert client.clock.advance(-600_000).offset_ms == 3_000_000

    real = client.clock.reset()
    assert (real.mode, real.frozen, real.offset_ms) == ("real", None, 0)
    assert after <= real.now <= datetime.now(UTC)


def test_freeze_takes_an_aware_datetime_and_refuses_a_naive_one(client: MockServerClient) -> None:
    tokyo = datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    assert client.clock.freeze(tokyo).frozen == NEW_YEAR
    with pytest.raises(ValueError, match="has no time zone"):
        client.clock.freeze(datetime(2026, 1, 1))
    assert client.clock.get().frozen == NEW_YEAR  # nothing was sent


def test_the_servers_refusal_is_an_admin_error(client: MockServerClient) -> None:
    with pytest.raises(AdminError) as refused:
        client.clock.freeze("2026-01-01T00:00:00")
    assert refused.value.status == 400
    assert refused.value.details[0]["field"] == "frozen"
    assert "'2026-01-01T00:00:00' has no time zone" in str(refused.value)


def test_reset_puts_the_clock_back_on_real_time(client: MockServerClient) -> None:
    client.clock.freeze(NEW_YEAR)
    client.reset()
    assert client.clock.get().mode == "real"


def test_the_clock_is_the_namespaces(client: MockServerClient) -> None:
    worker = client.in_namespace("clock-w1")
    try:
        worker.clock.freeze(NEW_YEAR)
        assert rendered_now(worker.url) == NEW_YEAR
        assert client.clock.get().mode == "real"
        before = datetime.now(UTC).replace(microsecond=0)
        assert before <= rendered_now(client.url) <= datetime.now(UTC)
    finally:
        worker.remove_namespace()


async def test_the_async_client_mirrors_the_sync_one(server: RunningServer) -> None:
    async with AsyncMockServerClient(server.url, namespace="clock-async") as client:
        try:
            frozen = await client.clock.freeze("2026-01-01T09:00:00+09:00")
            assert (frozen.mode, frozen.frozen) == ("frozen", NEW_YEAR)
            assert (await client.clock.advance(1000)).now == NEW_YEAR + timedelta(seconds=1)
            assert await client.clock.get() == ClockState(
                "frozen", NEW_YEAR + timedelta(seconds=1), NEW_YEAR + timedelta(seconds=1), 0
            )
            assert (await client.clock.offset(-5)).offset_ms == -5
            assert (await client.clock.reset()).mode == "real"
            with pytest.raises(ValueError, match="has no time zone"):
                await client.clock.freeze(datetime(2026, 1, 1))
            with pytest.raises(AdminError, match="offset_ms"):
                await client.clock.offset(10**20)
        finally:
            await client.remove_namespace()

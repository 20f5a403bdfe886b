"""The clock over HTTP: set, read, advance and reset it, per namespace; what reads it and what
stays on real time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.serving import ServeStubs

STUBS = {
    "clock.yaml": """
        - id: now
          request: {path: /now}
          response:
            template: true
            json: {now: "{{ now() }}", in_an_hour: "{{ now('+1h') }}"}
        - id: fixed
          request: {path: /fixed}
          response: {json: {ok: true}}
        - id: no-stub
          unmatched: true
          request: {}
          response: {status: 404, template: true, json: {error: "none at {{ now() }}"}}
    """
}
NEW_YEAR = "2026-01-01T00:00:00Z"
Client = TestClient[Any, Any]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def real_now() -> datetime:
    return datetime.now(UTC)


async def clock(client: Client, namespace: str | None = None) -> dict[str, Any]:
    response = await client.get(admin(namespace, "/clock"))
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


def admin(namespace: str | None, path: str) -> str:
    return f"/__admin/ns/{namespace}{path}" if namespace else f"/__admin{path}"


async def set_clock(client: Client, body: Any, namespace: str | None = None) -> dict[str, Any]:
    response = await client.put(admin(namespace, "/clock"), json=body)
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def advance(client: Client, ms: int, namespace: str | None = None) -> dict[str, Any]:
    response = await client.post(admin(namespace, "/clock/advance"), json={"ms": ms})
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def rendered_now(client: Client, namespace: str | None = None) -> datetime:
    """What `now()` renders in a template of that namespace."""
    prefix = f"/~{namespace}" if namespace else ""
    response = await client.get(f"{prefix}/now")
    assert response.status == 200
    body = await response.json()
    assert utc(body["in_an_hour"]) - utc(body["now"]) == timedelta(hours=1)
    return utc(body["now"])


async def namespaces(client: Client) -> list[str]:
    listed = (await (await client.get("/__admin/namespaces")).json())["namespaces"]
    return [namespace["name"] for namespace in listed]


def within(moment: datetime, before: datetime, after: datetime) -> bool:
    """`moment` (to the second, as now() renders it) lies between two real readings."""
    return before.replace(microsecond=0) <= moment <= after


async def test_the_clock_is_real_until_set(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    before = real_now()
    shown = await clock(client)
    after = real_now()
    assert (shown["mode"], shown["frozen"], shown["offset_ms"]) == ("real", None, 0)
    assert before <= utc(shown["now"]) <= after
    assert within(await rendered_now(client), before, real_now())


async def test_a_frozen_clock_drives_now_in_templates(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    answer = await set_clock(client, {"frozen": "2026-01-01T01:00:00+01:00"})
    assert answer == {"mode": "frozen", "now": NEW_YEAR, "frozen": NEW_YEAR, "offset_ms": 0}
    assert await clock(client) == answer
    assert await rendered_now(client) == utc(NEW_YEAR)
    assert await rendered_now(client) == utc(NEW_YEAR)  # frozen: it does not move
    # the answer of an `unmatched: true` stub renders on the same clock
    shaped = await client.get("/no-such-path")
    assert (shaped.status, await shaped.json()) == (404, {"error": f"none at {NEW_YEAR}"})


async def test_an_offset_clock_runs_at_real_time_plus_the_offset(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    day = timedelta(days=1)
    before = real_now()
    answer = await set_clock(client, {"offset_ms": -86_400_000})
    assert (answer["mode"], answer["frozen"], answer["offset_ms"]) == ("offset", None, -86400000)
    shown = await rendered_now(client)
    after = real_now()
    assert within(shown + day, before, after)
    assert before - day <= utc(answer["now"]) <= after - day


async def test_advance_moves_a_frozen_clock_and_adds_to_an_offset(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await set_clock(client, {"frozen": NEW_YEAR})
    moved = await advance(client, 90_500)
    assert (moved["mode"], moved["frozen"]) == ("frozen", "2026-01-01T00:01:30.500000Z")
    assert moved["now"] == moved["frozen"]
    assert await rendered_now(client) == utc("2026-01-01T00:01:30Z")
    assert (await advance(client, -500))["frozen"] == "2026-01-01T00:01:30Z"

    await set_clock(client, {"offset_ms": 1000})
    assert (await advance(client, 3_599_000))["offset_ms"] == 3_600_000
    before = real_now()
    shown = await rendered_now(client)
    assert within(shown - timedelta(hours=1), before, real_now())


async def test_advancing_a_real_clock_makes_it_an_offset_clock(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    before = real_now()
    answer = await advance(client, 7 * 86_400_000)
    after = real_now()
    assert (answer["mode"], answer["offset_ms"]) == ("offset", 604800000)
    assert before + timedelta(weeks=1) <= utc(answer["now"]) <= after + timedelta(weeks=1)


async def test_delete_puts_the_clock_back_on_real_time(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await set_clock(client, {"frozen": NEW_YEAR})
    before = real_now()
    response = await client.delete("/__admin/clock")
    assert response.status == 200
    answer = await response.json()
    assert (answer["mode"], answer["frozen"], answer["offset_ms"]) == ("real", None, 0)
    assert before <= utc(answer["now"]) <= real_now()
    assert within(await rendered_now(client), before, real_now())


async def test_reset_puts_the_clock_back_on_real_time(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await set_clock(client, {"frozen": NEW_YEAR})
    await set_clock(client, {"offset_ms": 5000}, namespace="a")
    assert (await client.post("/__admin/ns/a/reset")).status == 200
    assert (await clock(client, "a"))["mode"] == "real"
    assert (await clock(client))["mode"] == "frozen"  # another namespace's reset: untouched
    assert (await client.post("/__admin/reset")).status == 200
    assert (await clock(client))["mode"] == "real"


async def test_each_namespace_has_its_own_clock(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await clock(client, "b")  # a read creates nothing...
    assert await namespaces(client) == []
    await set_clock(client, {"frozen": NEW_YEAR}, namespace="a")  # ...a write does
    assert await namespaces(client) == ["a"]
    assert await rendered_now(client, "a") == utc(NEW_YEAR)
    before = real_now()
    assert within(await rendered_now(client), before, real_now())
    assert within(await rendered_now(client, "b"), before, real_now())
    assert (await clock(client))["mode"] == (await clock(client, "b"))["mode"] == "real"


async def test_a_new_namespace_starts_with_the_default_namespaces_clock(
    serve: ServeStubs,
) -> None:
    client = await serve(STUBS)
    await set_clock(client, {"offset_ms": 60_000}, namespace="early")  # made before the change
    await set_clock(client, {"frozen": NEW_YEAR})
    # not created yet: it shows the clock it would start with, and creates nothing
    assert (await clock(client, "late"))["frozen"] == NEW_YEAR
    assert await rendered_now(client, "late") == utc(NEW_YEAR)  # a request creates it
    await advance(client, 1000)  # a copy, not a link: the default moves alone
    assert (await clock(client, "late"))["frozen"] == NEW_YEAR
    assert (await clock(client, "early"))["offset_ms"] == 60_000


async def test_the_journal_and_the_date_header_stay_real(serve: ServeStubs) -> None:
    client = await serve(STUBS)
    await set_clock(client, {"frozen": "2001-02-03T04:05:06Z"})
    first = real_now()
    for path in ("/now", "/fixed"):  # a rendered answer and one written from its bytes
        before = time.time()
        response = await client.get(path)
        after = time.time()
        assert response.status == 200
        date = parsedate_to_datetime(response.headers["Date"]).timestamp()
        assert int(before) <= date <= after  # the Date line is whole seconds
    last = real_now()
    entries = (await (await client.get("/__admin/requests")).json())["requests"]
    assert [entry["path"] for entry in entries] == ["/now", "/fixed"]
    for entry in entries:
        assert first <= utc(entry["time"]) <= last


@pytest.mark.parametrize(
    ("path", "body", "field", "shown"),
    [
        ("/clock", {"frozen": "2026-01-01T00:00:00"}, "frozen", "'2026-01-01T00:00:00'"),
        ("/clock", {"frozen": "next week"}, "frozen", "'next week'"),
        ("/clock", {"offset_ms": 1.5}, "offset_ms", "1.5"),
        ("/clock", {"offset_ms": 10**20}, "offset_ms", "100000000000000000000"),
        ("/clock", {"frozen": NEW_YEAR, "offset_ms": 0}, "offset_ms", "not both"),
        ("/clock", {}, "body", "offset_ms"),
        ("/clock", {"froze": NEW_YEAR}, "froze", "unknown field 'froze'"),
        ("/clock", [NEW_YEAR], "body", "got list"),
        ("/clock/advance", {"ms": "1s"}, "ms", "'1s'"),
        ("/clock/advance", {}, "ms", '{"ms": n}'),
        ("/clock/advance", {"ms": 10**30}, "ms", "puts the clock outside"),
    ],
    ids=[
        "naive",
        "words",
        "float",
        "huge-offset",
        "both",
        "neither",
        "unknown-field",
        "a-list",
        "text-ms",
        "no-ms",
        "huge-ms",
    ],
)
async def test_a_bad_body_is_a_400_naming_the_field_and_value(
    serve: ServeStubs, path: str, body: Any, field: str, shown: str
) -> None:
    client = await serve(STUBS)
    method = client.put if path == "/clock" else client.post
    response = await method(f"/__admin/ns/a{path}", json=body)
    assert response.status == 400
    answer = await response.json()
    assert shown in answer["error"]
    assert field in [detail["field"] for detail in answer["details"]]
    assert await namespaces(client) == []  # refused: nothing was written, not even "a"


async def test_the_clock_calls_are_described_with_their_schemas(serve: ServeStubs) -> None:
    client = await serve()
    document = await (await client.get("/__admin/openapi.json")).json()
    clock_ref = {"$ref": "#/components/schemas/Clock"}
    required = document["components"]["schemas"]["Clock"]["required"]
    assert required == ["mode", "now", "frozen", "offset_ms"]
    for prefix in ("/__admin", "/__admin/ns/{namespace}"):
        item = document["paths"][prefix + "/clock"]
        assert sorted(item) == ["delete", "get", "put"]
        for operation in item.values():
            assert operation["responses"]["200"]["content"]["application/json"]["schema"] == (
                clock_ref
            )
        put = item["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert sorted(put["properties"]) == ["frozen", "offset_ms"]
        advance = document["paths"][prefix + "/clock/advance"]["post"]
        assert advance["requestBody"]["content"]["application/json"]["schema"]["required"] == ["ms"]

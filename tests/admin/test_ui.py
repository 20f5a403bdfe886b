"""GET /__admin/ui and /__admin/ui/session over HTTP: the page, its policy, the token cookie."""

from __future__ import annotations

import re

import pytest

from mockserver.admin.ui import COOKIE, cookie_value
from tests.serving import ServeStubs

TOKEN = "s3cret"


async def test_the_page_is_one_self_contained_document(serve: ServeStubs) -> None:
    client = await serve()
    response = await client.get("/__admin/ui")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert '<link rel="icon" href="data:,">' in page  # no favicon request on the mocked surface
    assert re.search(r"<script[^>]+src=|<link[^>]+stylesheet|https?://", page) is None
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", policy)
    assert "unsafe-inline" not in policy
    assert '"prefix": "/__admin"' in page


async def test_the_page_follows_the_admin_prefix(serve: ServeStubs) -> None:
    client = await serve(admin_prefix="/_mock")
    page = await (await client.get("/_mock/ui")).text()
    assert '"prefix": "/_mock"' in page


async def test_the_page_is_served_without_the_token_but_not_the_data(serve: ServeStubs) -> None:
    client = await serve(admin_token=TOKEN)
    assert (await client.get("/__admin/ui")).status == 200
    assert (await client.get("/__admin/requests")).status == 401


async def test_a_right_token_sets_an_http_only_strict_cookie_scoped_to_the_admin_prefix(
    serve: ServeStubs,
) -> None:
    client = await serve(admin_token=TOKEN)
    response = await client.post("/__admin/ui/session", json={"token": TOKEN})
    assert response.status == 200
    assert await response.json() == {"token_required": True}
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{COOKIE}={cookie_value(TOKEN)};")
    assert TOKEN not in header.split(";")[0].split("=", 1)[1]
    for attribute in ("HttpOnly", "Path=/__admin", "SameSite=Strict"):
        assert attribute in header


async def test_a_wrong_token_is_401_and_sets_nothing(serve: ServeStubs) -> None:
    client = await serve(admin_token=TOKEN)
    response = await client.post("/__admin/ui/session", json={"token": "guess"})
    assert response.status == 401
    assert (await response.json())["details"][0]["field"] == "token"
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("body", ["", "null", '{"token": 5}', '{"token": "x", "more": 1}', "[]"])
async def test_a_bad_session_body_is_400(serve: ServeStubs, body: str) -> None:
    client = await serve(admin_token=TOKEN)
    response = await client.post(
        "/__admin/ui/session", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["details"]


async def test_without_a_token_the_session_call_says_none_is_needed(serve: ServeStubs) -> None:
    client = await serve()
    response = await client.post("/__admin/ui/session", json={"token": "anything"})
    assert await response.json() == {"token_required": False}
    assert "Set-Cookie" not in response.headers


async def test_the_cookie_opens_reads_and_writes_that_carry_the_page_header(
    serve: ServeStubs,
) -> None:
    client = await serve(admin_token=TOKEN)
    cookie = {"Cookie": f"{COOKIE}={cookie_value(TOKEN)}"}
    assert (await client.get("/__admin/requests", headers=cookie)).status == 200
    assert (
        await client.get("/__admin/requests/stream?heartbeat_ms=10", headers=cookie)
    ).status == 200
    # a write with the cookie alone could come from a form on another page: refused
    assert (await client.post("/__admin/reset", headers=cookie)).status == 401
    page_write = {**cookie, "X-Mockserver-UI": "1"}
    assert (await client.post("/__admin/reset", headers=page_write)).status == 200
    # a cookie that does not stand for the token opens nothing
    forged = {"Cookie": f"{COOKIE}={cookie_value('other')}"}
    assert (await client.get("/__admin/requests", headers=forged)).status == 401


async def test_signing_out_expires_the_cookie(serve: ServeStubs) -> None:
    client = await serve(admin_token=TOKEN)
    response = await client.delete("/__admin/ui/session")
    assert response.status == 200
    header = response.headers["Set-Cookie"]
    assert header.startswith(f'{COOKIE}="";') or header.startswith(f"{COOKIE}=;")
    assert "Max-Age=0" in header
    assert "Path=/__admin" in header

"""The live view (GET /__admin/ui) in a real Chromium: the journal live, an entry's near misses,
filters, namespaces, stubs, keyboard use, and the admin token kept in a cookie."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.config import Settings
from mockserver.server import RunningServer, start_in_thread
from tests.serving import write_stubs

STUBS = {
    "pay.yaml": """
        service: payments
        stubs:
          - id: create-charge
            request: {method: POST, path: /v1/charges, body: {form: {currency: usd}}}
            response: {status: 201, json: {id: ch_1}}
          - id: ping
            request: {method: GET, path: /ping}
            response: {body: pong}
          - id: never-called
            scenario: {name: checkout, state: started, set_state: paid}
            request: {method: DELETE, path: /v1/charges}
            response: {status: 204}
    """
}
TOKEN = "s3cret-admin-token"

Start = Callable[..., RunningServer]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[RunningServer] = []

    def run(**options: Any) -> RunningServer:
        stubs = write_stubs(tmp_path / "stubs", STUBS)
        running = start_in_thread(Settings(stubs=(stubs,), **{"port": 0, **options}))
        started.append(running)
        return running

    yield run
    for running in started:
        running.stop()


def send(server: RunningServer, path: str, data: bytes | None = None) -> int:
    """A request on the mocked surface, as the application under test would send it."""
    try:
        with urllib.request.urlopen(server.url + path, data=data) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def watched(page: Any) -> list[str]:
    """The URLs the page requests from now on."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def expect(locator: Any) -> Any:
    """Playwright's assertions, which wait (imported late: the browser fixture skips first)."""
    from playwright.sync_api import expect as wait_until

    return wait_until(locator)


def row(page: Any, seq: int) -> Any:
    return page.locator(f"#entries tbody tr[data-seq='{seq}']")


def test_requests_appear_live_and_the_page_touches_only_the_admin_api(
    start: Start, page: Any
) -> None:
    server = start()
    send(server, "/ping")  # before the page: in the first page of the journal
    urls = watched(page)
    page.goto(f"{server.url}/__admin/ui")
    row(page, 1).wait_for()
    page.get_by_text("live: following new requests").wait_for()
    send(server, "/ping")  # after: through the feed, no reload, no polling
    row(page, 2).wait_for()
    assert page.locator("#entries tbody tr").count() == 2
    assert page.locator("#entries tbody tr").first.get_attribute("data-seq") == "2"  # newest first
    assert urls, "the page made no request"
    assert all(url.startswith(f"{server.url}/__admin/") for url in urls), urls
    assert not any("favicon" in url for url in urls)
    assert len([url for url in urls if "/requests/stream" in url]) == 1


def test_an_unmatched_entry_opens_to_its_near_miss_side_by_side(start: Start, page: Any) -> None:
    server = start()
    page.goto(f"{server.url}/__admin/ui")
    page.get_by_text("live: following new requests").wait_for()
    send(server, "/v1/charges", b"currency=eur&amount=100")
    row(page, 1).click()
    misses = page.get_by_role("table", name="Near misses")
    stub, field, expected, actual = misses.locator("tbody tr").first.locator("td").all_inner_texts()
    assert stub.split("\n")[0] == "create-charge"
    assert stub.split("\n")[1].endswith("pay.yaml:3")  # its source, under its id
    assert (field, expected, actual) == ("body.form.currency", "equals 'usd'", '"eur"')
    detail = page.locator("#detail")
    assert "content-type" in detail.get_by_role("table", name="Headers").inner_text()
    assert "currency=eur&amount=100" in detail.locator("pre").inner_text()


def test_a_json_body_is_pretty_printed(start: Start, page: Any) -> None:
    server = start()
    page.goto(f"{server.url}/__admin/ui")
    page.get_by_text("live: following new requests").wait_for()
    request = urllib.request.Request(
        f"{server.url}/v1/refunds",
        data=b'{"charge":"ch_1","amount":5}',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request)
    row(page, 1).click()
    assert page.get_by_role("heading", name="Body (JSON)").is_visible()
    assert page.locator("#detail pre").inner_text() == '{\n  "charge": "ch_1",\n  "amount": 5\n}'


def test_filters_select_what_the_list_shows_and_follows(start: Start, page: Any) -> None:
    server = start()
    send(server, "/ping")
    send(server, "/v1/charges", b"currency=eur")
    page.goto(f"{server.url}/__admin/ui")
    row(page, 2).wait_for()
    page.get_by_label("Matched").select_option("false")
    expect(page.locator("#entries tbody tr")).to_have_count(1)
    assert row(page, 2).is_visible()
    send(server, "/ping")  # matched: not shown
    send(server, "/nowhere")  # unmatched: shown live
    row(page, 4).wait_for()
    assert page.locator("#entries tbody tr").count() == 2
    page.get_by_label("Matched").select_option("")
    page.get_by_label("Method").select_option("GET")
    row(page, 3).wait_for()
    shown = page.locator("#entries tbody tr").evaluate_all("rows => rows.map(r => r.dataset.seq)")
    assert shown == ["4", "3", "1"]


def test_namespaces_are_picked_from_the_list(start: Start, page: Any) -> None:
    server = start()
    send(server, "/ping")
    send(server, "/~team-a/ping")
    send(server, "/~team-a/nowhere")
    page.goto(f"{server.url}/__admin/ui")
    row(page, 1).wait_for()
    select = page.locator("#f-namespace")
    options = select.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert options == ["", "team-a"]  # the default namespace first
    select.select_option("team-a")
    row(page, 2).wait_for()
    assert page.locator("#entries tbody tr").count() == 2
    send(server, "/~team-a/ping")
    row(page, 3).wait_for()
    page.get_by_role("tab", name="Namespaces").click()
    table = page.get_by_role("table", name="Namespaces")
    assert "team-a" in table.inner_text()


def test_stubs_show_source_hits_and_never_hit(start: Start, page: Any) -> None:
    server = start()
    send(server, "/ping")
    send(server, "/ping")
    page.goto(f"{server.url}/__admin/ui")
    page.get_by_role("tab", name="Stubs").click()
    table = page.get_by_role("table", name="Stubs")
    ping = table.locator("tr", has_text="ping")
    assert ping.locator("td").nth(4).inner_text() == "2"
    never = table.locator("tr", has_text="never-called")
    assert never.locator("td").nth(4).inner_text() == "never hit"
    assert never.locator("td").nth(3).inner_text().endswith("pay.yaml:9")
    assert page.locator("#view-stubs h2").inner_text() == "Stubs (3, 2 never hit)"


def test_scenarios_and_the_clock_can_be_moved(start: Start, page: Any) -> None:
    server = start()
    page.goto(f"{server.url}/__admin/ui")
    page.get_by_role("tab", name="Scenarios").click()
    page.get_by_label("New state of checkout").fill("paid")
    page.get_by_role("button", name="Set the state of checkout").click()
    page.get_by_role("table", name="Scenarios").locator("td", has_text="paid").first.wait_for()
    with urllib.request.urlopen(f"{server.url}/__admin/scenarios") as response:
        assert b'"checkout": "paid"' in response.read()
    page.get_by_role("tab", name="Clock").click()
    page.get_by_label("Freeze at (RFC 3339)").fill("2030-01-01T00:00:00Z")
    page.get_by_role("button", name="Freeze", exact=True).click()
    page.locator("#view-clock dd", has_text="frozen").wait_for()
    with urllib.request.urlopen(f"{server.url}/__admin/clock") as response:
        assert b'"mode": "frozen"' in response.read()


def test_the_keyboard_reaches_and_opens_entries(start: Start, page: Any) -> None:
    server = start()
    send(server, "/ping")
    send(server, "/nowhere")
    page.goto(f"{server.url}/__admin/ui")
    row(page, 2).wait_for()
    # tabs: arrow keys move between them
    page.get_by_role("tab", name="Requests").focus()
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("tab", name="Stubs").get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowLeft")
    assert page.get_by_role("tab", name="Requests").get_attribute("aria-selected") == "true"
    # the list: Tab from the filters reaches the newest entry, then arrows, then Enter
    page.get_by_role("button", name="Apply filters").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused.startswith("Open request 2")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused.startswith("Open request 1")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="#1 GET /ping").wait_for()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select')]
            .filter(control => !control.labels.length && !control.getAttribute('aria-label'))
            .map(control => control.outerHTML)"""
    )
    assert unlabelled == []


def test_the_admin_token_is_asked_once_and_kept_in_an_http_only_cookie(
    start: Start, page: Any
) -> None:
    server = start(admin_token=TOKEN)
    send(server, "/ping")
    urls = watched(page)
    page.goto(f"{server.url}/__admin/ui")
    dialog = page.get_by_role("dialog", name="Admin token")
    dialog.wait_for()
    page.get_by_label("Token", exact=True).fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("wrong admin token").wait_for()
    page.get_by_label("Token", exact=True).fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    row(page, 1).wait_for()
    page.get_by_text("live: following new requests").wait_for()
    send(server, "/ping")  # the feed works through the cookie too
    row(page, 2).wait_for()
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == (
        "mockserver_admin",
        "/__admin",
        True,
        "Strict",
    )
    assert TOKEN not in cookie["value"]
    assert not any(TOKEN in url for url in urls)
    assert page.evaluate("document.cookie") == ""  # out of the script's reach
    page.reload()  # asked once: the cookie carries on
    row(page, 2).wait_for()
    assert not dialog.is_visible()
    page.get_by_role("button", name="Forget admin token").click()
    dialog.wait_for()
    assert page.context.cookies() == []


def test_older_requests_come_a_page_at_a_time(start: Start, page: Any) -> None:
    server = start()
    for _ in range(105):
        send(server, "/ping")
    page.goto(f"{server.url}/__admin/ui")
    row(page, 105).wait_for()
    expect(page.locator("#entries tbody tr")).to_have_count(100)  # the newest page only
    assert not row(page, 5).is_visible()
    page.get_by_role("button", name="Load older requests").click()
    row(page, 1).wait_for()
    expect(page.locator("#entries tbody tr")).to_have_count(105)
    assert page.get_by_role("button", name="Load older requests").is_hidden()


def test_a_request_during_the_page_load_shows_once(start: Start, page: Any) -> None:
    """The feed opens first and names its start; the first page is read from below it: a
    request that arrives between the two is shown (by the feed), and only once."""
    server = start()
    send(server, "/ping")

    def first_page(route: Any) -> None:
        send(server, "/nowhere")  # after the feed's start, before the page is read
        route.continue_()

    page.route("**/__admin/requests?*", first_page)
    page.goto(f"{server.url}/__admin/ui")
    row(page, 2).wait_for()
    row(page, 1).wait_for()
    send(server, "/ping")
    row(page, 3).wait_for()
    shown = page.locator("#entries tbody tr").evaluate_all("rows => rows.map(r => r.dataset.seq)")
    assert shown == ["3", "2", "1"]


@pytest.mark.parametrize("seen_live", [False, True])
def test_the_page_follows_a_server_restarted_on_its_port(
    start: Start, page: Any, seen_live: bool
) -> None:
    # the feed reconnects by itself (EventSource) to the new server, whose journal numbers from
    # 1 again: the page starts afresh rather than take its entries for ones it has
    first = start()
    send(first, "/ping")
    send(first, "/ping")
    page.goto(f"{first.url}/__admin/ui")
    page.get_by_text("live: following new requests").wait_for()
    if seen_live:  # the newest entry came through the feed, not the first page
        send(first, "/v1/charges", b"currency=usd")
        expect(row(page, 3)).to_contain_text("/v1/charges")
    else:
        row(page, 2).wait_for()
    port = first.port
    first.stop()
    second = start(port=port)
    send(second, "/after-the-restart")
    expect(row(page, 1)).to_contain_text("/after-the-restart")
    expect(page.locator("#entries tbody tr")).to_have_count(1)
    expect(page.get_by_text("live: following new requests")).to_be_visible()

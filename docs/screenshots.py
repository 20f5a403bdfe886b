"""Make the screenshots of docs/live-view.md: the live view and a report, in Chromium.

    python docs/screenshots.py            # writes docs/live-view.png and docs/report.png

Needs chromium (`apt-get install -y chromium`) and playwright (`pip install playwright`). A
server runs in this process on a free port with a small payments API; the script sends a few
requests as an application would (one of them unmatched), opens the live view, opens the
unmatched request and takes the picture; then writes a report of the same journal and does
the same with it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from mockserver import MockServerClient
from mockserver.config import Settings
from mockserver.report import ReportNamespace, write
from mockserver.server import start_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: tests.chromium
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

DOCS = Path(__file__).resolve().parent
STUBS = """
service: payments
base_path: /payments
stubs:
  - id: create-charge
    request:
      method: POST
      path: /v1/charges
      headers: {Authorization: {starts_with: "Bearer sk_test_"}}
      body: {json: {currency: usd}}
    response: {status: 201, json: {id: ch_1, paid: true}}
  - id: get-customer
    request: {method: GET, path: "/v1/customers/{id}"}
    response: {json: {id: cus_1, email: ada@example.com}}
  - id: refund
    scenario: {name: refunds, state: started, set_state: refunded}
    request: {method: POST, path: /v1/refunds}
    response: {status: 201, json: {id: re_1}}
"""


def send(url: str, method: str = "GET", body: object = None) -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        error.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        stubs = Path(scratch) / "stubs"
        stubs.mkdir()
        (stubs / "payments.yaml").write_text(textwrap.dedent(STUBS).lstrip())
        os.chdir(scratch)  # sources read stubs/payments.yaml:4, as in a project
        server = start_in_thread(Settings(stubs=(Path("stubs"),), port=0))
        try:
            base = server.url + "/payments"
            send(f"{base}/v1/customers/cus_1")
            send(f"{base}/v1/charges", "POST", {"amount": 2000, "currency": "usd"})
            send(f"{base}/v1/customers/cus_2")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"{server.url}/__admin/ui")
                page.get_by_text("live: following new requests").wait_for()
                send(
                    f"{base}/v1/charges",
                    "POST",
                    {"amount": 2000, "currency": "eur", "metadata": {"order": "42"}},
                )
                page.locator("#entries tbody tr[data-seq='4']").click()
                page.get_by_role("table", name="Near misses").wait_for()
                page.screenshot(path=DOCS / "live-view.png")

                client = MockServerClient(server.url)
                misses = {entry.seq: entry.raw["near_misses"] for entry in client.unmatched()}
                entries = [dict(entry.raw) for entry in client.requests()]
                for entry in entries:
                    if entry["seq"] in misses:
                        entry["near_misses"] = misses[entry["seq"]]
                report = Path(scratch) / "report.html"
                namespace = ReportNamespace(None, entries, client.stubs(), client.scenarios())
                write(report, [namespace], title="checkout tests, nightly")
                page.goto(report.as_uri())
                page.locator("#entries tbody tr[data-seq='4']").click()
                page.get_by_role("table", name="Near misses").wait_for()
                page.screenshot(path=DOCS / "report.png")
                browser.close()
        finally:
            server.stop()
    print(f"written: {DOCS / 'live-view.png'}, {DOCS / 'report.png'}")


if __name__ == "__main__":
    main()

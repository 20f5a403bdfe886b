"""The live view against a full journal: first render and live-update delay, in Chromium.

    python bench/ui.py [--entries 100000] [--updates 30]

A server runs in this process on a free port with one stub; the journal is filled with
`--entries` requests (sent over HTTP, as an application would, several connections at once).
Then Chromium opens /__admin/ui and the script prints:

- first render: from the start of navigation to the first page of entries on screen (the page,
  its script, the namespace list, the live feed's `ready` event and the newest 100 entries);
- live-update delay: from just before a request is sent to the moment its row is in the page
  (a MutationObserver stamps it with the page's clock, which is the machine's, as Python's is),
  over `--updates` requests one at a time: median, p95 and max.

Goals: first render <= 1 s, live update <= 100 ms. Wall-clock figures: on a loaded machine they
say more about the machine than about the page; say which when quoting them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from mockserver.config import Settings
from mockserver.server import start_in_thread

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: tests.chromium
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

STUB = "- id: ping\n  request: {method: GET, path: /ping}\n  response: {body: pong}\n"
OBSERVE = """() => {
    window.__seen = {};
    new MutationObserver((changes) => {
        const now = Date.now();
        for (const change of changes) {
            for (const node of change.addedNodes) {
                if (node.dataset && node.dataset.seq) window.__seen[node.dataset.seq] = now;
            }
        }
    }).observe(document.querySelector('#entries tbody'), {childList: true});
}"""


async def fill(url: str, count: int, connections: int = 32) -> float:
    """Send `count` requests over `connections` keep-alive connections; seconds taken."""
    started = time.perf_counter()
    remaining = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as http:

        async def worker() -> None:
            for _ in remaining:
                async with http.get(url) as response:
                    await response.read()

        await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


def send_one(url: str) -> None:
    """One request (plain urllib: Playwright's sync API holds this thread's event loop)."""
    urllib.request.urlopen(url, timeout=10).close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=30)
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("needs playwright: pip install playwright", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print("needs chromium: apt-get install -y chromium", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as scratch:
        stubs = Path(scratch)
        (stubs / "ping.yaml").write_text(STUB)
        server = start_in_thread(Settings(stubs=(stubs,), port=0, journal_limit=args.entries))
        try:
            seconds = asyncio.run(fill(f"{server.url}/ping", args.entries))
            print(f"journal: {args.entries} entries sent in {seconds:.1f} s")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(f"{server.url}/__admin/ui")
                page.locator(f"#entries tbody tr[data-seq='{args.entries}']").wait_for()
                page.locator("#entries tbody tr").nth(99).wait_for()
                first_render = time.perf_counter() - started
                page.get_by_text("live: following new requests").wait_for()
                page.evaluate(OBSERVE)
                delays = []
                for index in range(1, args.updates + 1):
                    seq = args.entries + index
                    sent = time.time() * 1000
                    send_one(f"{server.url}/ping")
                    page.locator(f"#entries tbody tr[data-seq='{seq}']").wait_for()
                    shown = page.evaluate(f"window.__seen['{seq}']")
                    delays.append(shown - sent)
                browser.close()
        finally:
            server.stop()
    delays.sort()
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    print(f"first render: {first_render * 1000:.0f} ms (goal <= 1000 ms)")
    print(
        f"live update: median {statistics.median(delays):.0f} ms, p95 {p95:.0f} ms, "
        f"max {delays[-1]:.0f} ms over {len(delays)} requests (goal <= 100 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

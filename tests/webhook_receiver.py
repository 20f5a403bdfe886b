"""A small application that receives webhooks as a real one would: it checks each signature
with the provider's own verifier, answers 400 when it fails, and records what it got.

`POST /stripe` checks `Stripe-Signature` with `stripe.Webhook.construct_event`, `POST /github`
`X-Hub-Signature-256` as GitHub documents it (`hmac.compare_digest` of "sha256=" + hexdigest),
`POST /slack` with `slack_sdk.signature.SignatureVerifier` (and answers a url_verification's
challenge, as Slack expects); any other path just records. `status` sets what a path answers
next (a list is used up in order), `hold` makes a path wait until released.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

STRIPE_SECRET = "whsec_test_123"
GITHUB_SECRET = "github-webhook-secret"
SLACK_SECRET = "slack-signing-secret"


@dataclass
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None = None
    """None where the path checks no signature."""
    event: Any = None
    """What the provider's SDK made of the body (a stripe.Event), when it verified."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    got: list[Received] = field(default_factory=list)
    status: dict[str, list[int]] = field(default_factory=dict)
    hold: dict[str, asyncio.Event] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    stripe_tolerance: int = 300

    def on(self, path: str) -> list[Received]:
        return [received for received in self.got if received.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        received = Received(request.path, request.method, dict(request.headers), body)
        self.got.append(received)
        self.arrived.set()
        held = self.hold.get(request.path)
        if held is not None:
            await held.wait()
        answer: dict[str, Any] = {"ok": True}
        if request.path == "/stripe":
            try:
                received.event = stripe.Webhook.construct_event(
                    body,
                    request.headers.get("Stripe-Signature"),
                    STRIPE_SECRET,
                    tolerance=self.stripe_tolerance,
                )
                received.verified = True
            except stripe.SignatureVerificationError:
                received.verified = False
        elif request.path == "/github":
            expected = (
                "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
            )
            given = request.headers.get("X-Hub-Signature-256", "")
            legacy = "sha1=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha1).hexdigest()
            received.verified = hmac.compare_digest(expected, given) and hmac.compare_digest(
                legacy, request.headers.get("X-Hub-Signature", "")
            )
        elif request.path == "/slack":
            received.verified = SignatureVerifier(SLACK_SECRET).is_valid(
                body,
                request.headers.get("X-Slack-Request-Timestamp"),
                request.headers.get("X-Slack-Signature"),
            )
            if received.verified and received.json.get("type") == "url_verification":
                answer = {"challenge": received.json["challenge"]}
        if received.verified is False:
            return web.json_response({"error": "bad signature"}, status=400)
        planned = self.status.get(request.path)
        status = planned.pop(0) if planned else 200
        return web.json_response(answer, status=status)


async def _started(got: Receiver) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", got.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    got.url = f"http://{host}:{port}"
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The receiving application, on a free loopback port, on the test's event loop."""
    got = Receiver()
    runner = await _started(got)
    yield got
    for held in got.hold.values():
        held.set()
    await runner.cleanup()


@pytest.fixture
def threaded_receiver() -> Iterator[Receiver]:
    """The receiving application on a thread of its own (for tests that call the mock through
    the blocking client, which would hold up a receiver on the test's own loop)."""
    got = Receiver()
    loop = asyncio.new_event_loop()
    # started and cleaned up on its own thread: this one may have a loop running already
    # (Playwright's sync API keeps one)
    thread = threading.Thread(target=loop.run_forever, name="webhook-receiver", daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(_started(got), loop).result(timeout=30)
    yield got
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()

"""The complete example of docs/webhooks.md: a test of an application's Stripe webhook handler,
with the mock sending the pack's `payment_intent.succeeded` event. Kept word for word in the
docs; a change here goes there too."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import stripe

from mockserver import MockServerClient

WEBHOOK_SECRET = "whsec_test_123"  # the pack's default; the app reads it from its settings
ORDERS: dict[str, str] = {"42": "pending"}


class StripeWebhooks(BaseHTTPRequestHandler):
    """The application's handler: verify, then mark the order paid."""

    def do_POST(self) -> None:
        payload = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            event = stripe.Webhook.construct_event(
                payload, self.headers.get("Stripe-Signature"), WEBHOOK_SECRET
            )
        except stripe.SignatureVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        if event.type == "payment_intent.succeeded":
            ORDERS[event.data.object.metadata["order_id"]] = "paid"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"received": True}).encode())

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def app_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StripeWebhooks)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_succeeded_payment_marks_the_order_paid(
    mockserver: MockServerClient, app_url: str
) -> None:
    mockserver.send_callback(
        f"{app_url}/webhooks/stripe",
        event="stripe/payment_intent.succeeded",
        json={"data": {"object": {"metadata": {"order_id": "42"}}}},
    )

    attempt = mockserver.wait_for_callback(event="stripe/payment_intent.succeeded")
    assert attempt["status"] == 200
    assert ORDERS["42"] == "paid"


def test_a_forged_signature_is_refused(mockserver: MockServerClient, app_url: str) -> None:
    ORDERS["43"] = "pending"
    mockserver.send_callback(
        f"{app_url}/webhooks/stripe",
        event="stripe/payment_intent.succeeded",
        json={"data": {"object": {"metadata": {"order_id": "43"}}}},
        sign={"secret": "whsec_forged"},
    )

    attempt = mockserver.wait_for_callback()
    assert attempt["status"] == 400
    assert ORDERS["43"] == "pending"


def test_the_docs_show_this_test_word_for_word() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "webhooks.md").read_text()
    shown = re.search(r"```python\n(.*?)```", docs, re.DOTALL)
    assert shown is not None
    source = Path(__file__).read_text().split("from __future__ import annotations\n", 1)[1]
    example = source.split("\n\ndef test_the_docs_show_this_test_word_for_word", 1)[0]
    example = example.replace("import re\n", "").replace("from pathlib import Path\n", "")
    assert shown[1].strip() == example.strip()

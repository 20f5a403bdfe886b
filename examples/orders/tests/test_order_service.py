"""The order service against the mock server: what it sent to each API, asserted through the
mock server's journal (MockServerClient: verify, find, requests, the admin API's filters).

Run from the repository root: `pytest examples/orders/tests` (in-process mock server with the
stub packs in stubs/), or `MOCKSERVER_URL=http://mock:8080 pytest examples/orders/tests` against
a sidecar. docker-compose.test.yml also runs the service as its own container: there
ORDERS_URL=http://app:8000 and MOCKSERVER_NAMESPACE=orders-app (see conftest.py). The tests that
start a service process of their own (`settings`) do so in either set-up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mockserver import MockServerClient

APP_DIR = Path(__file__).resolve().parents[1]  # conftest.py puts it on sys.path
for _sdk in ("stripe", "boto3", "github", "slack_sdk", "openai"):
    pytest.importorskip(_sdk, reason="pip install -r examples/orders/requirements.txt")

from orders import Settings  # noqa: E402 -- after the SDKs are known to be there
from orders.settings import SettingsError  # noqa: E402

PAID = {
    "order_id": "1001",
    "amount": 2000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "email": "jenny.rosen@example.com",
    "description": "2 x Coffee beans",
}
DECLINED = {**PAID, "order_id": "1002", "payment_method": "pm_card_chargeDeclined"}
SUMMARY = "Order paid in full; receipt stored."  # what stubs/openai.yaml streams


def post_order(app_url: str, order: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /orders; returns the status and the JSON answer, whatever the status."""
    request = urllib.request.Request(
        f"{app_url}/orders",
        data=json.dumps(order).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def test_a_paid_order_is_charged_stored_summarised_and_announced(
    app: str, mockserver: MockServerClient
) -> None:
    status, result = post_order(app, PAID)

    assert status == 201, result
    assert result["status"] == "paid"
    assert result["payment_intent"].startswith("pi_")
    assert result["receipt_key"] == "orders/1001/receipt.json"
    assert result["summary"] == SUMMARY

    # Stripe: the amount in cents, confirmed, with the order's own idempotency key
    mockserver.verify(
        method="POST",
        path="/stripe/v1/payment_intents",
        headers={"Idempotency-Key": "order-1001", "Authorization": "Bearer sk_test_orders"},
        form={
            "amount": "2000",
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_types[0]": "card",
            "confirm": "true",
            "receipt_email": "jenny.rosen@example.com",
            "description": "2 x Coffee beans",
            "metadata[order_id]": "1001",
        },
    )

    # S3: the receipt, as JSON, under the order's key
    (put,) = mockserver.find(method="PUT", path="/s3/receipts/orders/1001/receipt.json")
    assert put.headers["content-type"] == "application/json"
    assert json.loads(put.content) == {
        "order_id": "1001",
        "payment_intent": result["payment_intent"],
        "amount": 2000,
        "currency": "usd",
        "email": "jenny.rosen@example.com",
        "paid_at": 1764000000,
    }

    # OpenAI: a streamed completion of the configured model, with the order in the prompt
    (chat,) = mockserver.requests(service="openai")
    assert chat.path == "/openai/v1/chat/completions"
    assert chat.json["model"] == "gpt-4o-mini"
    assert chat.json["stream"] is True
    assert [message["role"] for message in chat.json["messages"]] == ["system", "user"]
    assert chat.json["messages"][1]["content"] == (
        f"Order 1001: 20.00 USD, paid by card ({result['payment_intent']}) by "
        "jenny.rosen@example.com. 2 x Coffee beans"
    )

    # Slack: one message to the configured channel, with the summary
    mockserver.verify(
        method="POST",
        path="/slack/api/chat.postMessage",
        json={
            "channel": "#orders",
            "text": f":white_check_mark: Order 1001 paid: 20.00 USD. {SUMMARY}",
        },
    )

    # GitHub: nothing, the payment went through
    assert mockserver.count(path={"starts_with": "/github/"}) == 0

    # in this order, each answered by the pack stub meant for it
    mockserver.verify_sequence(
        [
            {"method": "POST", "path": "/stripe/v1/payment_intents"},
            {"method": "PUT", "path": {"starts_with": "/s3/receipts/"}},
            {"method": "POST", "path": "/openai/v1/chat/completions"},
            {"method": "POST", "path": "/slack/api/chat.postMessage"},
        ]
    )
    assert [(entry.stub_id, entry.status) for entry in mockserver.requests()] == [
        ("stripe-create-payment-intent", 200),
        ("s3-put-object", 200),
        ("openai-chat-completion-stream", 200),
        ("slack-post-message", 200),
    ]


def test_a_declined_card_opens_an_issue_and_alerts_slack(
    app: str, mockserver: MockServerClient
) -> None:
    status, result = post_order(app, DECLINED)

    assert status == 402, result
    assert result["status"] == "declined"
    assert result["decline_code"] == "generic_decline"
    assert result["issue_url"] == "https://github.com/acme/orders/issues/1350"

    (charge,) = mockserver.requests(service="stripe")
    assert charge.form["payment_method"] == ["pm_card_chargeDeclined"]
    assert charge.headers["idempotency-key"] == "order-1002"

    (issue,) = mockserver.find(method="POST", path="/github/repos/acme/orders/issues")
    assert issue.headers["authorization"] == "token ghp_orders"
    assert issue.json["title"] == "Payment failed for order 1002"
    assert issue.json["labels"] == ["payments", "declined"]
    assert "`card_declined` / `generic_decline`" in issue.json["body"]
    assert "20.00 USD" in issue.json["body"]

    mockserver.verify(
        method="POST",
        path="/slack/api/chat.postMessage",
        json={
            "channel": "#orders",
            "text": ":x: Payment for order 1002 declined (generic_decline): "
            "https://github.com/acme/orders/issues/1350",
        },
    )
    # no receipt and no summary for an unpaid order
    assert mockserver.count(path={"starts_with": "/s3/"}) == 0
    assert mockserver.count(path={"starts_with": "/openai/"}) == 0
    assert [entry.stub_id for entry in mockserver.requests()] == [
        "stripe-payment-intent-declined",
        "github-create-issue",
        "slack-post-message",
    ]


def test_placing_an_order_again_reuses_its_idempotency_key(
    app: str, mockserver: MockServerClient
) -> None:
    order = {**PAID, "order_id": "1003"}
    assert post_order(app, order)[0] == 201
    assert post_order(app, order)[0] == 201

    # Stripe would charge once: both requests carry the same key
    mockserver.verify(
        method="POST",
        path="/stripe/v1/payment_intents",
        headers={"Idempotency-Key": "order-1003"},
        count=2,
    )


def test_an_order_is_paid_even_when_the_summary_fails(
    app: str, mockserver: MockServerClient
) -> None:
    # this test only (the fixture's namespace goes with it): OpenAI refuses the request
    mockserver.add_stub(
        id="openai-refuses",
        priority=1,
        request={"method": "POST", "path": "/openai/v1/chat/completions"},
        response={
            "status": 400,
            "json": {"error": {"message": "context too long", "type": "invalid_request_error"}},
        },
    )

    status, result = post_order(app, {**PAID, "order_id": "1004"})

    assert status == 201, result
    assert (result["status"], result["summary"]) == ("paid", None)
    mockserver.verify(path="/openai/v1/chat/completions")  # a 400 is not retried
    mockserver.verify(
        method="POST",
        path="/slack/api/chat.postMessage",
        json={"text": ":white_check_mark: Order 1004 paid: 20.00 USD."},
    )


def test_an_invalid_order_calls_no_api(app: str, mockserver: MockServerClient) -> None:
    status, result = post_order(app, {**PAID, "amount": "twenty"})

    assert (status, result) == (400, {"error": "amount must be a positive integer (in cents)"})
    assert mockserver.requests() == []


def test_settings_come_from_orders_environment_variables() -> None:
    settings = Settings.from_env(
        {
            "ORDERS_STRIPE_API_KEY": "sk_test_1",
            "ORDERS_GITHUB_TOKEN": "ghp_1",
            "ORDERS_SLACK_TOKEN": "xoxb-1",
            "ORDERS_OPENAI_API_KEY": "sk-1",
            "ORDERS_STRIPE_API_BASE": "http://mock:8080/stripe",
            "ORDERS_S3_ENDPOINT_URL": "http://mock:8080/s3",
            "ORDERS_SLACK_CHANNEL": "#ops",
            "UNRELATED": "x",
        }
    )

    assert settings.stripe_api_base == "http://mock:8080/stripe"
    assert settings.s3_endpoint_url == "http://mock:8080/s3"
    assert settings.slack_channel == "#ops"
    assert settings.github_api_url == "https://api.github.com"  # the real API by default
    assert settings.s3_bucket == "receipts"
    with pytest.raises(SettingsError, match="ORDERS_GITHUB_TOKEN, ORDERS_SLACK_TOKEN"):
        Settings.from_env({"ORDERS_STRIPE_API_KEY": "sk_test_1", "ORDERS_OPENAI_API_KEY": "x"})


def _environment(settings: Settings) -> dict[str, str]:
    """The service's ORDERS_* variables for these settings, over a minimal environment."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "SYSTEMROOT") if name in os.environ}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if value is not None:
            env[f"ORDERS_{field.name.upper()}"] = str(value)
    return env


def test_the_service_runs_as_a_process_configured_by_its_environment(
    settings: Settings, mockserver: MockServerClient
) -> None:
    # as in a container: `python -m orders serve`, every base URL from ORDERS_* variables
    process = subprocess.Popen(
        [sys.executable, "-m", "orders", "serve", "--port", "0"],
        cwd=APP_DIR,
        env=_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once it listens: no polling, no sleep
        assert first.startswith("orders: listening on "), first + process.stderr.read()
        app_url = first.removeprefix("orders: listening on ").strip()

        status, result = post_order(app_url, {**PAID, "order_id": "1005"})
    finally:
        process.terminate()
        process.communicate(timeout=10)

    assert status == 201, result
    mockserver.verify(
        method="POST", path="/stripe/v1/payment_intents", headers={"Idempotency-Key": "order-1005"}
    )
    mockserver.verify(method="PUT", path="/s3/receipts/orders/1005/receipt.json")
    mockserver.verify(method="POST", path="/slack/api/chat.postMessage")


def test_the_command_line_places_one_order(
    settings: Settings, mockserver: MockServerClient
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orders",
            "place",
            "1006",
            "4500",
            "eur",
            "pm_card_visa",
            "a@b.example",
        ],
        cwd=APP_DIR,
        env=_environment(settings),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "paid"
    mockserver.verify(method="POST", form={"amount": "4500", "currency": "eur"})

"""stubs/stripe.yaml through the official `stripe` SDK (StripeClient, as new code uses it)."""

from __future__ import annotations

import pytest
import stripe

from mockserver import MockServerClient
from tests.sdk.conftest import answered

TEST_KEY = "sk_test_51MockServerKey"


@pytest.fixture
def client(mockserver: MockServerClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        TEST_KEY, base_addresses={"api": f"{mockserver.url}/stripe"}, max_network_retries=0
    )


@pytest.mark.pack_stubs("stripe-create-customer", "stripe-retrieve-customer")
def test_create_and_retrieve_a_customer(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    created = client.v1.customers.create(
        params={"email": "jenny.rosen@example.com", "name": "Jenny Rosen", "description": "VIP"}
    )
    fetched = client.v1.customers.retrieve(created.id)

    assert isinstance(created, stripe.Customer)
    assert created.id.startswith("cus_")
    assert (created.email, created.name, created.description) == (
        "jenny.rosen@example.com",
        "Jenny Rosen",
        "VIP",
    )
    assert created.phone is None
    assert isinstance(fetched, stripe.Customer)
    assert fetched.id == created.id
    assert answered(mockserver) == ["stripe-create-customer", "stripe-retrieve-customer"]
    (sent,) = mockserver.find(method="POST", path="/stripe/v1/customers")
    assert sent.form["email"] == ["jenny.rosen@example.com"]
    assert sent.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "stripe-version" in sent.headers


@pytest.mark.pack_stubs("stripe-list-customers", "stripe-list-customers-page-2")
def test_list_pagination_follows_has_more(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    page = client.v1.customers.list(params={"limit": 2})
    everyone = list(page.auto_paging_iter())

    assert isinstance(page, stripe.ListObject)
    assert page.has_more is True
    assert all(isinstance(customer, stripe.Customer) for customer in everyone)
    assert [customer.id for customer in everyone] == ["cus_RsA1", "cus_RsA2", "cus_RsA3"]
    # list() fetched the first page; auto_paging_iter() asked for the one after its last id
    assert answered(mockserver) == ["stripe-list-customers", "stripe-list-customers-page-2"]
    last = mockserver.requests()[-1]
    assert last.query == {"limit": ["2"], "starting_after": ["cus_RsA2"]}


@pytest.mark.pack_stubs("stripe-create-payment-intent")
def test_a_confirmed_payment_intent_echoes_the_request_and_the_idempotency_key(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "metadata": {"order_id": "42"},
        },
        options={"idempotency_key": "order-42"},
    )

    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.id.startswith("pi_")
    assert (intent.amount, intent.amount_received, intent.currency) == (2000, 2000, "usd")
    assert (intent.status, intent.payment_method) == ("succeeded", "pm_card_visa")
    assert intent.latest_charge.startswith("ch_")
    assert intent.last_response.headers["idempotency-key"] == "order-42"
    assert answered(mockserver) == ["stripe-create-payment-intent"]
    mockserver.verify(
        method="POST",
        path="/stripe/v1/payment_intents",
        headers={"Idempotency-Key": "order-42"},
        form={"amount": "2000", "confirm": "true", "metadata[order_id]": "42"},
    )


@pytest.mark.pack_stubs("stripe-create-payment-intent")
def test_an_unconfirmed_payment_intent_waits_for_confirmation(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    intent = client.v1.payment_intents.create(params={"amount": 1500, "currency": "eur"})

    assert (intent.amount, intent.amount_received, intent.status) == (
        1500,
        0,
        "requires_confirmation",
    )
    assert intent.latest_charge is None
    # without an explicit key the SDK sends one of its own on every POST
    (sent,) = mockserver.requests()
    assert sent.headers["idempotency-key"]
    assert answered(mockserver) == ["stripe-create-payment-intent"]


@pytest.mark.pack_stubs("stripe-payment-intent-declined")
def test_a_declined_payment_method_raises_card_error(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.create(
            params={
                "amount": 2000,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclined",
                "confirm": True,
            }
        )

    error = raised.value
    assert (error.http_status, error.code) == (402, "card_declined")
    assert error.user_message == "Your card was declined."
    assert error.error.decline_code == "generic_decline"
    assert isinstance(error.error.payment_intent, stripe.PaymentIntent)
    assert error.error.payment_intent.status == "requires_payment_method"
    assert error.error.payment_intent.amount == 2000
    assert error.request_id.startswith("req_")
    assert answered(mockserver) == ["stripe-payment-intent-declined"]


@pytest.mark.pack_stubs("stripe-create-charge")
def test_a_charge_echoes_amount_and_currency(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    charge = client.v1.charges.create(
        params={"amount": 2000, "currency": "usd", "source": "tok_visa"}
    )

    assert isinstance(charge, stripe.Charge)
    assert (charge.amount, charge.currency, charge.paid, charge.status) == (
        2000,
        "usd",
        True,
        "succeeded",
    )
    assert charge.payment_method_details.card.last4 == "4242"
    assert answered(mockserver) == ["stripe-create-charge"]
    mockserver.verify(
        method="POST", path="/stripe/v1/charges", form={"amount": "2000", "source": "tok_visa"}
    )


@pytest.mark.pack_stubs("stripe-create-charge")
def test_the_module_level_api_reaches_the_same_stubs(
    mockserver: MockServerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # older code configures the SDK globally and calls stripe.Charge.create
    monkeypatch.setattr(stripe, "api_key", TEST_KEY)
    monkeypatch.setattr(stripe, "api_base", f"{mockserver.url}/stripe")
    monkeypatch.setattr(stripe, "max_network_retries", 0)

    charge = stripe.Charge.create(
        amount=3100, currency="gbp", source="tok_mastercard", idempotency_key="order-7"
    )

    assert isinstance(charge, stripe.Charge)
    assert (charge.amount, charge.currency) == (3100, "gbp")
    assert answered(mockserver) == ["stripe-create-charge"]
    (sent,) = mockserver.requests()
    assert sent.headers["idempotency-key"] == "order-7"


@pytest.mark.pack_stubs("stripe-charge-declined")
def test_a_declined_card_token_raises_card_error(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    with pytest.raises(stripe.CardError, match="Your card was declined") as raised:
        client.v1.charges.create(
            params={"amount": 2000, "currency": "usd", "source": "tok_chargeDeclined"}
        )

    assert raised.value.code == "card_declined"
    assert raised.value.error.charge.startswith("ch_")
    assert answered(mockserver) == ["stripe-charge-declined"]


@pytest.mark.pack_stubs("stripe-idempotency-key-reused")
def test_a_reused_idempotency_key_raises_idempotency_error(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    with pytest.raises(stripe.IdempotencyError, match="reused-order-42") as raised:
        client.v1.charges.create(
            params={"amount": 999, "currency": "usd", "source": "tok_visa"},
            options={"idempotency_key": "reused-order-42"},
        )

    assert raised.value.http_status == 400
    assert answered(mockserver) == ["stripe-idempotency-key-reused"]


@pytest.mark.pack_stubs("stripe-invalid-api-key")
def test_a_live_key_is_refused_with_authentication_error(mockserver: MockServerClient) -> None:
    live = stripe.StripeClient(
        "sk_live_oops", base_addresses={"api": f"{mockserver.url}/stripe"}, max_network_retries=0
    )

    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key"):
        live.v1.customers.retrieve("cus_RsA1")

    assert answered(mockserver) == ["stripe-invalid-api-key"]


@pytest.mark.pack_stubs("stripe-unmatched")
def test_an_unstubbed_call_raises_the_sdks_own_error_with_the_explanation(
    client: stripe.StripeClient, mockserver: MockServerClient
) -> None:
    # a charge from a card object, not a token: no stub matches; the closest is named
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.charges.create(params={"amount": 2000, "currency": "usd", "source": "card_123"})

    error = raised.value
    assert error.http_status == 404
    assert error.user_message is not None
    assert error.user_message.startswith(
        "no stub matched POST /stripe/v1/charges; closest: stub stripe-create-charge ("
    )
    assert "body.form.source: expected starts with 'tok_', got \"card_123\"" in error.user_message
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    # still an unmatched request for the test's assertions
    assert answered(mockserver) == [None]
    (unmatched,) = mockserver.unmatched()
    assert unmatched.near_misses[0].stub_id == "stripe-create-charge"

"""The packs' webhook events (stubs/*.yaml `events:`), sent by name through the Python client to
a receiving application that checks them with the providers' own verifiers and parsers
(tests/webhook_receiver.py): stripe's construct_event, GitHub's documented HMAC check and
PyGithub's objects, slack_sdk's SignatureVerifier."""

from __future__ import annotations

from typing import Any

import github
import pytest
import stripe
from slack_sdk import signature as slack_signature

from mockserver import MockServerClient
from tests.webhook_receiver import Receiver


def test_stripe_payment_intent_succeeded_is_a_stripe_event_with_overrides_merged(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    ident = mockserver.send_callback(
        threaded_receiver.url + "/stripe",
        event="stripe/payment_intent.succeeded",
        json={"data": {"object": {"amount": 5000, "metadata": {"order_id": "42"}}}},
    )
    attempt = mockserver.wait_for_callback(event="stripe/payment_intent.succeeded")
    assert (attempt["id"], attempt["status"], attempt["outcome"]) == (ident, 200, "delivered")
    (got,) = threaded_receiver.on("/stripe")
    event = got.event
    assert isinstance(event, stripe.Event)
    assert event.type == "payment_intent.succeeded"
    intent = event.data.object
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.id.startswith("pi_")
    assert (intent.amount, intent.currency, intent.status) == (5000, "usd", "succeeded")
    assert intent.metadata.to_dict() == {"order_id": "42"}
    assert isinstance(event.created, int)
    assert got.headers["Stripe-Signature"] == attempt["request"]["headers"]["Stripe-Signature"]


def test_stripe_checkout_session_completed_is_a_checkout_session(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.send_callback(
        threaded_receiver.url + "/stripe", event="stripe/checkout.session.completed"
    )
    assert mockserver.wait_for_callback(url_contains="/stripe")["status"] == 200
    event = threaded_receiver.on("/stripe")[0].event
    assert event.type == "checkout.session.completed"
    session = event.data.object
    assert isinstance(session, stripe.checkout.Session)
    assert (session.payment_status, session.status, session.amount_total) == (
        "paid",
        "complete",
        2000,
    )


def test_a_wrong_secret_fails_stripes_verifier_and_the_attempt_says_so(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.send_callback(
        threaded_receiver.url + "/stripe",
        event="stripe/payment_intent.succeeded",
        sign={"secret": "whsec_not_the_one"},
    )
    attempt = mockserver.wait_for_callback()
    assert (attempt["status"], attempt["outcome"]) == (400, "failed")
    assert threaded_receiver.on("/stripe")[0].verified is False


def test_github_push_passes_githubs_check_and_carries_the_documented_fields(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.send_callback(
        threaded_receiver.url + "/github", event="github/push", json={"ref": "refs/heads/release"}
    )
    assert mockserver.wait_for_callback(event="github/push")["status"] == 200
    (got,) = threaded_receiver.on("/github")
    assert got.verified is True
    assert got.headers["X-GitHub-Event"] == "push"
    assert len(got.headers["X-GitHub-Delivery"]) == 36
    payload = got.json
    assert payload["ref"] == "refs/heads/release"
    assert payload["after"] == payload["head_commit"]["id"] == payload["commits"][0]["id"]
    assert payload["pusher"]["name"] == "octocat"
    repository = github.Github().create_from_raw_data(
        github.Repository.Repository, payload["repository"]
    )
    assert (repository.full_name, repository.default_branch) == ("octocat/hello-world", "main")
    assert repository.owner.login == "octocat"


def test_github_pull_request_parses_as_a_pygithub_pull_request(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.send_callback(threaded_receiver.url + "/github", event="github/pull_request")
    mockserver.wait_for_callback(event="github/pull_request")
    (got,) = threaded_receiver.on("/github")
    assert (got.verified, got.headers["X-GitHub-Event"]) == (True, "pull_request")
    payload = got.json
    assert (payload["action"], payload["number"]) == ("opened", 43)
    pull = github.Github().create_from_raw_data(
        github.PullRequest.PullRequest, payload["pull_request"]
    )
    assert (pull.number, pull.state, pull.title) == (43, "open", "Amazing new feature")
    assert (pull.head.ref, pull.base.ref, pull.user.login) == ("new-topic", "main", "octocat")


def test_slack_url_verification_is_verified_and_answered_with_its_challenge(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.send_callback(threaded_receiver.url + "/slack", event="slack/url_verification")
    attempt = mockserver.wait_for_callback(event="slack/url_verification")
    (got,) = threaded_receiver.on("/slack")
    assert got.verified is True
    assert f'"challenge": "{got.json["challenge"]}"' in attempt["response_body"]


def test_slack_event_callback_passes_slack_sdks_verifier(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.send_callback(
        threaded_receiver.url + "/slack",
        event="slack/event_callback",
        json={"event": {"text": "hi"}},
    )
    assert mockserver.wait_for_callback(event="slack/event_callback")["status"] == 200
    (got,) = threaded_receiver.on("/slack")
    assert got.verified is True
    payload = got.json
    assert payload["type"] == "event_callback"
    assert (payload["event"]["type"], payload["event"]["text"]) == ("app_mention", "hi")
    assert int(got.headers["X-Slack-Request-Timestamp"]) == payload["event_time"]


def test_a_clock_frozen_far_from_real_time_makes_the_verifiers_reject_stale_signatures(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    mockserver.clock.freeze("2020-01-01T00:00:00Z")
    mockserver.send_callback(
        threaded_receiver.url + "/stripe", event="stripe/payment_intent.succeeded"
    )
    mockserver.send_callback(threaded_receiver.url + "/slack", event="slack/event_callback")
    assert mockserver.wait_for_callback(url_contains="/stripe")["status"] == 400
    assert mockserver.wait_for_callback(url_contains="/slack")["status"] == 400
    stripe_got, slack_got = threaded_receiver.on("/stripe")[0], threaded_receiver.on("/slack")[0]
    assert stripe_got.headers["Stripe-Signature"].startswith("t=1577836800,")
    assert (stripe_got.verified, slack_got.verified) == (False, False)
    # the verifiers' tolerance options accept them: stripe's `tolerance` (None: no check) and a
    # SignatureVerifier whose clock reads the frozen time
    event = stripe.Webhook.construct_event(
        stripe_got.body, stripe_got.headers["Stripe-Signature"], "whsec_test_123", tolerance=None
    )
    assert event.type == "payment_intent.succeeded"

    class Frozen(slack_signature.Clock):  # type: ignore[misc]  # slack_sdk is untyped here
        def now(self) -> float:
            return 1577836800.0

    verifier = slack_signature.SignatureVerifier("slack-signing-secret", clock=Frozen())
    assert verifier.is_valid(
        slack_got.body,
        slack_got.headers["X-Slack-Request-Timestamp"],
        slack_got.headers["X-Slack-Signature"],
    )


def test_wait_for_callback_lists_the_attempts_it_saw_when_none_fits(
    mockserver: MockServerClient, threaded_receiver: Receiver
) -> None:
    ident = mockserver.send_callback(threaded_receiver.url + "/other", json={"n": 1})
    mockserver.wait_for_callback(url_contains="/other")
    with pytest.raises(AssertionError) as failure:
        mockserver.wait_for_callback(url_contains="/never", timeout=0.2)
    message = str(failure.value)
    assert "no callback with url_contains='/never' finished within 0.2s" in message
    assert f"{ident} #1 POST {threaded_receiver.url}/other event=None -> 200 (delivered)" in message
    attempts: list[Any] = mockserver.callbacks()
    assert [attempt["id"] for attempt in attempts] == [ident]

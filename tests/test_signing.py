"""Signatures without a server: each scheme against the provider's own verifier or its
documented recipe, and a wrong secret failing the same check."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
import stripe
from slack_sdk.signature import Clock, SignatureVerifier

from mockserver.signing import HmacScheme, github_headers, slack_headers, stripe_headers

BODY = b'{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{}}}'
NOW = 1767225600


class Frozen(Clock):
    def now(self) -> float:
        return float(NOW)


@pytest.mark.parametrize(("secret", "accepted"), [("whsec_a", True), ("whsec_b", False)])
def test_stripe(secret: str, accepted: bool) -> None:
    ((name, value),) = stripe_headers("whsec_a", NOW, BODY)
    assert (name, value[: len(f"t={NOW},v1=")]) == ("Stripe-Signature", f"t={NOW},v1=")
    if accepted:
        event = stripe.Webhook.construct_event(BODY, value, secret, tolerance=None)
        assert event.type == "payment_intent.succeeded"
    else:
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(BODY, value, secret, tolerance=None)


@pytest.mark.parametrize(("secret", "accepted"), [("gh", True), ("other", False)])
def test_github(secret: str, accepted: bool) -> None:
    headers = dict(github_headers("gh", BODY))
    assert sorted(headers) == ["X-Hub-Signature", "X-Hub-Signature-256"]
    expected = "sha256=" + hmac.new(secret.encode(), BODY, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, headers["X-Hub-Signature-256"]) is accepted
    legacy = "sha1=" + hmac.new(secret.encode(), BODY, hashlib.sha1).hexdigest()
    assert hmac.compare_digest(legacy, headers["X-Hub-Signature"]) is accepted


@pytest.mark.parametrize(("secret", "accepted"), [("sl", True), ("other", False)])
def test_slack(secret: str, accepted: bool) -> None:
    headers = dict(slack_headers("sl", NOW, BODY))
    verifier = SignatureVerifier(secret, clock=Frozen())
    timestamp = headers["X-Slack-Request-Timestamp"]
    assert timestamp == str(NOW)
    assert verifier.is_valid(BODY, timestamp, headers["X-Slack-Signature"]) is accepted


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        (HmacScheme("X-Sig"), hmac.new(b"k", BODY, hashlib.sha256).hexdigest()),
        (
            HmacScheme("X-Sig", "sha512", "base64", "sha512="),
            "sha512=" + base64.b64encode(hmac.new(b"k", BODY, hashlib.sha512).digest()).decode(),
        ),
    ],
    ids=["sha256-hex", "sha512-base64-prefix"],
)
def test_hmac(scheme: HmacScheme, expected: str) -> None:
    assert scheme.headers("k", NOW, BODY) == [("X-Sig", expected)]


def test_hmac_names_the_timestamp_header_when_asked() -> None:
    lines = HmacScheme("X-Sig", timestamp_header="X-Time").headers("k", NOW, b"t.body")
    assert lines[1] == ("X-Time", str(NOW))

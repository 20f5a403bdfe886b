"""Webhook signatures as the providers compute them: Stripe, GitHub, Slack, and a generic HMAC.

Each scheme turns (secret, timestamp, body) into the headers the provider sends, so the
provider's own verifier accepts them: `stripe.Webhook.construct_event`, GitHub's documented
`X-Hub-Signature-256` check, `slack_sdk.signature.SignatureVerifier`. The timestamp is passed in
(the namespace's clock, PRODUCT.md section 14): nothing here reads the time. Pure: standard
library only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Final, Literal

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]

STRIPE_HEADER: Final = "Stripe-Signature"
GITHUB_HEADER: Final = "X-Hub-Signature-256"
GITHUB_LEGACY_HEADER: Final = "X-Hub-Signature"
SLACK_SIGNATURE_HEADER: Final = "X-Slack-Signature"
SLACK_TIMESTAMP_HEADER: Final = "X-Slack-Request-Timestamp"


def digest(secret: bytes, text: bytes, algorithm: Algorithm = "sha256") -> bytes:
    return hmac.new(secret, text, getattr(hashlib, algorithm)).digest()


def stripe_headers(secret: str, timestamp: int, body: bytes) -> list[tuple[str, str]]:
    """`Stripe-Signature: t=1700000000,v1=<hex HMAC-SHA256 of "1700000000." + body>`."""
    signed = str(timestamp).encode() + b"." + body
    return [(STRIPE_HEADER, f"t={timestamp},v1={digest(secret.encode(), signed).hex()}")]


def github_headers(secret: str, body: bytes) -> list[tuple[str, str]]:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, and the legacy
    `X-Hub-Signature: sha1=<hex HMAC-SHA1>` GitHub still sends beside it for older verifiers
    (GitHub sends no timestamp)."""
    key = secret.encode()
    return [
        (GITHUB_HEADER, "sha256=" + digest(key, body).hex()),
        (GITHUB_LEGACY_HEADER, "sha1=" + digest(key, body, "sha1").hex()),
    ]


def slack_headers(secret: str, timestamp: int, body: bytes) -> list[tuple[str, str]]:
    """`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:" + body>` and the timestamp."""
    signed = f"v0:{timestamp}:".encode() + body
    return [
        (SLACK_TIMESTAMP_HEADER, str(timestamp)),
        (SLACK_SIGNATURE_HEADER, "v0=" + digest(secret.encode(), signed).hex()),
    ]


@dataclass(frozen=True, slots=True)
class HmacScheme:
    """A generic HMAC signature: `header: prefix + encode(HMAC(secret, signed text))`, and the
    timestamp in `timestamp_header` when one is named."""

    header: str
    algorithm: Algorithm = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""
    timestamp_header: str | None = None

    def headers(self, secret: str, timestamp: int, signed: bytes) -> list[tuple[str, str]]:
        """b"1700000000.{...}" signed with sha256, hex, prefix "sha256=" -> the header lines."""
        mac = digest(secret.encode(), signed, self.algorithm)
        value = mac.hex() if self.encoding == "hex" else base64.b64encode(mac).decode("ascii")
        lines = [(self.header, self.prefix + value)]
        if self.timestamp_header is not None:
            lines.append((self.timestamp_header, str(timestamp)))
        return lines

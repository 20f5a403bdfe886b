"""Where the service finds each API, and its credentials: from ORDERS_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields


class SettingsError(Exception):
    """A required environment variable is missing."""


@dataclass(frozen=True, slots=True)
class Settings:
    """One field per environment variable: `stripe_api_base` is ORDERS_STRIPE_API_BASE."""

    stripe_api_key: str
    github_token: str
    slack_token: str
    openai_api_key: str
    stripe_api_base: str = "https://api.stripe.com"
    s3_endpoint_url: str | None = None  # None: AWS itself
    s3_bucket: str = "receipts"
    aws_region: str = "us-east-1"
    aws_access_key_id: str | None = None  # None: boto3's own chain (AWS_ACCESS_KEY_ID, ...)
    aws_secret_access_key: str | None = None
    github_api_url: str = "https://api.github.com"
    github_repo: str = "acme/orders"
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str = "#orders"
    openai_base_url: str = "https://api.openai.com/v1"
    openai_model: str = "gpt-4o-mini"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ORDERS_<FIELD> for every field; the four credentials are required."""
        env = os.environ if env is None else env
        given: dict[str, str] = {}
        missing = []
        for field in fields(cls):
            name = f"ORDERS_{field.name.upper()}"
            value = env.get(name)
            if value:
                given[field.name] = value
            elif field.default is MISSING:
                missing.append(name)
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(missing)}")
        return cls(**given)

    @classmethod
    def for_mock(cls, url: str, **overrides: str) -> Settings:
        """Every API under one mock server, as its stub packs expect: <url>/stripe, <url>/s3..."""
        url = url.rstrip("/")
        values: dict[str, str] = {
            "stripe_api_key": "sk_test_orders",
            "github_token": "ghp_orders",
            "slack_token": "xoxb-orders",
            "openai_api_key": "sk-orders",
            "stripe_api_base": f"{url}/stripe",
            "s3_endpoint_url": f"{url}/s3",
            "aws_access_key_id": "AKIAORDERS",
            "aws_secret_access_key": "orders-secret",
            "github_api_url": f"{url}/github",
            "slack_api_url": f"{url}/slack/api/",
            "openai_base_url": f"{url}/openai/v1",
        }
        return cls(**{**values, **overrides})

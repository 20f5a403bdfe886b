"""Placing an order: the calls to Stripe, S3, OpenAI, Slack and GitHub, through their SDKs."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import boto3
import github
import openai
import slack_sdk
import stripe
from botocore.config import Config

from orders.settings import Settings

log = logging.getLogger("orders")


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    amount: int  # in the currency's smallest unit: 2000 is 20.00 USD
    currency: str
    payment_method: str  # a Stripe PaymentMethod id, e.g. pm_card_visa
    email: str
    description: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Order:
        """The body of POST /orders; raises ValueError naming the first bad field."""
        try:
            order = cls(
                order_id=str(data["order_id"]),
                amount=data["amount"],
                currency=str(data["currency"]).lower(),
                payment_method=str(data["payment_method"]),
                email=str(data["email"]),
                description=str(data.get("description", "")),
            )
        except KeyError as error:
            raise ValueError(f"missing field {error.args[0]!r}") from None
        if not isinstance(order.amount, int) or isinstance(order.amount, bool) or order.amount < 1:
            raise ValueError("amount must be a positive integer (in cents)")
        if not order.order_id.isalnum():
            raise ValueError("order_id must be letters and digits")
        return order

    @property
    def price(self) -> str:
        """2000 usd -> "20.00 USD"."""
        return f"{self.amount / 100:.2f} {self.currency.upper()}"


@dataclass(frozen=True, slots=True)
class OrderResult:
    order_id: str
    status: str  # "paid" or "declined"
    payment_intent: str | None = None
    receipt_key: str | None = None
    summary: str | None = None
    decline_code: str | None = None
    issue_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class OrderService:
    """The application: one instance holds a client per API, built from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stripe = stripe.StripeClient(
            settings.stripe_api_key,
            base_addresses={"api": settings.stripe_api_base},
            max_network_retries=2,  # safe: every charge carries the order's idempotency key
        )
        s3_config = {"addressing_style": "path"} if settings.s3_endpoint_url else {}
        self.s3 = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.aws_region,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
            config=Config(s3=s3_config, retries={"mode": "standard"}),
        )
        self.github = github.Github(
            base_url=settings.github_api_url,
            auth=github.Auth.Token(settings.github_token),
            lazy=True,  # get_repo() makes no request: create_issue() is the only call
        )
        self.slack = slack_sdk.WebClient(
            token=settings.slack_token, base_url=settings.slack_api_url.rstrip("/") + "/"
        )
        self.openai = openai.OpenAI(
            api_key=settings.openai_api_key, base_url=settings.openai_base_url, max_retries=2
        )

    def place_order(self, order: Order) -> OrderResult:
        """Charge the card; on success store a receipt, summarise and notify; on a decline,
        open an issue and notify."""
        try:
            intent = self.stripe.v1.payment_intents.create(
                params={
                    "amount": order.amount,
                    "currency": order.currency,
                    "payment_method": order.payment_method,
                    "payment_method_types": ["card"],
                    "confirm": True,
                    "receipt_email": order.email,
                    "description": order.description or f"Order {order.order_id}",
                    "metadata": {"order_id": order.order_id},
                },
                # the same order always charges once, however often it is retried
                options={"idempotency_key": f"order-{order.order_id}"},
            )
        except stripe.CardError as error:
            return self._declined(order, error)

        receipt_key = self._store_receipt(order, intent)
        summary = self._summarise(order, intent.id)
        text = f":white_check_mark: Order {order.order_id} paid: {order.price}."
        self._notify(f"{text} {summary}" if summary else text)
        return OrderResult(
            order_id=order.order_id,
            status="paid",
            payment_intent=intent.id,
            receipt_key=receipt_key,
            summary=summary,
        )

    def _store_receipt(self, order: Order, intent: stripe.PaymentIntent) -> str:
        key = f"orders/{order.order_id}/receipt.json"
        receipt = {
            "order_id": order.order_id,
            "payment_intent": intent.id,
            "amount": intent.amount,
            "currency": intent.currency,
            "email": order.email,
            "paid_at": intent.created,
        }
        self.s3.put_object(
            Bucket=self.settings.s3_bucket,
            Key=key,
            Body=json.dumps(receipt, sort_keys=True).encode(),
            ContentType="application/json",
        )
        return key

    def _summarise(self, order: Order, payment_intent: str) -> str | None:
        """One sentence for the operations channel, streamed; None when OpenAI fails."""
        try:
            stream = self.openai.chat.completions.create(
                model=self.settings.openai_model,
                stream=True,
                messages=[
                    {
                        "role": "system",
                        "content": "You summarise paid orders for the operations channel "
                        "in one short sentence.",
                    },
                    {
                        "role": "user",
                        "content": f"Order {order.order_id}: {order.price}, paid by card "
                        f"({payment_intent}) by {order.email}. {order.description}".strip(),
                    },
                ],
            )
            return "".join(
                chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
            ).strip()
        except openai.OpenAIError as error:  # a summary is nice to have, the order is paid
            log.warning("no summary for order %s: %s", order.order_id, error)
            return None

    def _declined(self, order: Order, error: stripe.CardError) -> OrderResult:
        decline_code = error.error.decline_code if error.error else None
        reason = decline_code or error.code or "declined"
        repo = self.github.get_repo(self.settings.github_repo)
        issue = repo.create_issue(
            title=f"Payment failed for order {order.order_id}",
            body=(
                f"Charging {order.price} for order {order.order_id} ({order.email}) failed.\n\n"
                f"- Stripe error: `{error.code}` / `{reason}`\n"
                f"- Message: {error.user_message}\n"
                f"- Request: {error.request_id}\n"
            ),
            labels=["payments", "declined"],
        )
        self._notify(
            f":x: Payment for order {order.order_id} declined ({reason}): {issue.html_url}"
        )
        return OrderResult(
            order_id=order.order_id,
            status="declined",
            decline_code=reason,
            issue_url=issue.html_url,
        )

    def _notify(self, text: str) -> None:
        self.slack.chat_postMessage(channel=self.settings.slack_channel, text=text)
